"""The headless lab: the one layer the front ends (the CLI and the console) call for work.

Modules:

* ``engine.lab.imports``: import a survey or benchmark file as a dataset (detect, parse,
  preview, build, write).
* ``engine.lab.run_import``: per-question results made elsewhere, written as a run.
* ``engine.lab.run_export``: a run's per-question results as a CSV or Parquet file.
"""
