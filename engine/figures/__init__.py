"""Figures for papers, drawn with matplotlib (Agg) from the tables the CLI prints.

- :mod:`engine.figures.style`: sizes for a two-column paper, fonts, colour-blind-safe palettes.
- :mod:`engine.figures.draw`: one function per figure kind (``engine.lab.figures.FIGURES``).
- :mod:`engine.figures.write`: the file, written atomically, and its provenance sidecar.

numpy, pandas and matplotlib only; imported when a figure is drawn, never at start-up.
"""
