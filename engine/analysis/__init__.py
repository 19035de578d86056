"""Every statistic of SCIENCE.md §3–5 over stored per-question results.

numpy / scipy / pandas only; never imports torch. Pure functions over tidy frames:

- :mod:`frames`      dataset questions + runs' results -> one tidy frame (``engine.lab.tables``
                      reads them and calls the table functions, as the registry says)
- :mod:`normalise`   raw / normalized / paper scales (SCIENCE.md §4)
- :mod:`alignment`   Pearson r (p, Fisher CI), Spearman, partial r | log n, per-stratum r
- :mod:`agreement`   tie-aware top-answer agreement, z-test, exact Poisson-binomial tail
- :mod:`kendall`     normalised Kendall tau distance per question
- :mod:`calibration` Spearman(correct, measure) overall and per subject
- :mod:`ece`         the paper's standardised ECE and the conventional ECE, reliability bins
- :mod:`jsd`         JSD shift with a vectorised permutation test
- :mod:`multiple`    Holm / Benjamini-Hochberg
- :mod:`tables`      what the table functions share (each lives in its statistics module)
- :mod:`render`      human, csv, json, markdown, latex
- :mod:`provenance`  tables written with a ``FILE.provenance.json`` sidecar
- :mod:`stats_util`  entropy, standardisation, ranks, correlation p-values
"""
