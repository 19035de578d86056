"""The headless lab: the only layer the front ends (the typer CLI and the Textual console) call
for work, so that both do it the same way.

Modules:

- ``analyses``: the registry of analyses (data needs, settings, table function, columns, extra
  outputs, help); light, read at start-up.
- ``tables``: a dataset's runs loaded once, any set of tables computed from that load, each
  table's provenance and files.
"""
