"""Small shared helpers: entropy, standardisation, correlation p-values.

scipy is imported inside the functions that need it, so that loading a frame (and the CLI) stays
fast; numpy only at module load.
"""

from __future__ import annotations

import numpy as np

from common.errors import BadInput


def entropy(x: np.ndarray | list[float]) -> float:
    """``H(x) = -sum x_i log x_i`` over ``x_i > 0`` after normalising ``x`` to sum 1 (nats)."""
    x = np.asarray(x, dtype=float)
    total = x.sum()
    if not total > 0:
        return float("nan")
    p = x[x > 0] / total
    return float(-(p * np.log(p)).sum())


def standardise(u: np.ndarray, what: str = "measure") -> np.ndarray:
    """``(u - mean u) / std u`` with the population std (ddof 0); a constant -> BadInput."""
    u = np.asarray(u, dtype=float)
    sd = u.std()
    if not sd > 0:
        raise BadInput(f"{what} is constant over the {u.size} questions; it cannot be standardised",
                       fix="leave this measure out (--measures)")
    return (u - u.mean()) / sd


def corr_p(r: float, n: int) -> float:
    """Two-sided p of a Pearson r under H0 (exact: the beta form scipy's ``pearsonr`` uses)."""
    if n < 3 or not np.isfinite(r):
        return float("nan")
    from scipy import special

    ab = n / 2 - 1
    # P(|R| >= |r|) for R ~ 2 Beta(ab, ab) - 1
    return float(min(1.0, 2 * special.betainc(ab, ab, 0.5 * (1 - abs(r)))))


def t_p_many(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p of rank correlations by Student's t with n - 2 df (as ``spearmanr``);
    NaN where n < 3 or r is NaN."""
    from scipy import special

    r = np.asarray(r, float)
    dof = np.asarray(n, float) - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(dof / ((r + 1.0) * (1.0 - r)))
        p = 2 * special.stdtr(dof, -np.abs(t))
    return np.where((dof >= 1) & np.isfinite(r), p, np.nan)


def t_p(r: float, n: int) -> float:
    """Two-sided p of one rank correlation (see :func:`t_p_many`)."""
    return float(t_p_many(np.array([r]), np.array([n]))[0])


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either variable does not vary. Values that differ only by float
    rounding (1e-12 of their size) count as constant: centring them leaves rounding noise, whose
    "correlation" can be anything in [-1, 1]."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if _constant(x) or _constant(y):
        return float("nan")
    x = x - np.mean(x)
    y = y - np.mean(y)
    den = np.sqrt((x * x).sum() * (y * y).sum())
    if not den > 0:
        return float("nan")
    return float(np.clip((x * y).sum() / den, -1.0, 1.0))


def _constant(x: np.ndarray) -> bool:
    return x.size == 0 or bool(np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())))


def rank(x: np.ndarray) -> np.ndarray:
    """Average ranks, 1-based, ties sharing the mean rank (``scipy.stats.rankdata``'s default)."""
    x = np.asarray(x, float)
    n = x.size
    order = np.argsort(x)   # ties share their mean rank, so any sort will do: the fastest
    v = x[order]
    new = np.r_[True, v[1:] != v[:-1]] if n else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    out = np.empty(n)
    out[order] = ((starts + 1 + ends) / 2)[np.cumsum(new) - 1]
    return out
