"""The headless core both front ends (the console and the CLI) call for work; nothing else does
work for them. No torch, no textual.

- :mod:`analyses`  the registry of analyses: data needs, settings, table function, columns,
                   extra outputs, help (light: read at start-up)
- :mod:`tables`    a dataset's runs loaded once, any set of tables computed from that load, each
                   table's provenance, files written with their sidecars
"""
