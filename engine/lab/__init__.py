"""The headless lab: the only layer the front ends (the typer CLI and the Textual console) call
for work, so that both do it the same way.

Modules:

- ``follow``: follow a run through its events files and its status, with progress merged over
  every writer (``alignuq runs watch`` and the console's attach).
"""
