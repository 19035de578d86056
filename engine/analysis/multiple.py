"""Multiple-comparison adjustment across a table's tests (e.g. the model x measure grid).

``holm``: Holm's step-down family-wise adjustment; ``bh``: Benjamini–Hochberg step-up false
discovery rate. NaN p-values are not part of the family and stay NaN.
"""

from __future__ import annotations

import numpy as np

from common.errors import BadInput
from engine.lab.analyses import SETTINGS

METHODS = SETTINGS["adjust"].choices


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    if method not in METHODS:
        raise BadInput(f"unknown adjustment {method!r}", fix=f"use one of {', '.join(METHODS)}")
    p = np.asarray(p, float)
    out = p.copy()
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if method == "none" or m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ps)
    else:
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ps[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out
