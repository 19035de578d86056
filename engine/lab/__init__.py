"""The headless lab: the only layer the front ends (the typer CLI and the Textual console) call
for work, so that both do it the same way.

Modules:

- ``imports``: import a survey or benchmark file as a dataset (detect, parse, preview, build,
  write).
- ``run_import``: per-question results made elsewhere, written as a run.
- ``run_export``: a run's per-question results as a CSV or Parquet file.
- ``follow``: follow a run through its events files and its status, with progress merged over
  every writer (``alignuq runs watch`` and the console's attach).
- ``analyses``: the registry of analyses (data needs, settings, table function, columns, extra
  outputs, help); light, read at start-up.
- ``tables``: a dataset's runs loaded once, any set of tables computed from that load, each
  table's provenance and files.
"""
