"""The headless lab: the one layer the front ends (the CLI and the console) call for work.

Modules:

* ``engine.lab.imports``: import a survey or benchmark file as a dataset (detect, parse, preview,
  build, write).
* ``engine.lab.run_files``: a run's results as a file and back (``export run``, ``runs import``).
"""
