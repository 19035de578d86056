"""Confidence intervals of a proportion k / n (vectorised; NaN where n = 0).

- Wilson score interval (no continuity correction; ``scipy.stats.binomtest(k, n)
  .proportion_ci(method="wilson")``): ``(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``.
- Clopper-Pearson ("exact") interval: ``Beta(a/2; k, n-k+1)`` and ``Beta(1-a/2; k+1, n-k)``
  quantiles, 0 at k = 0 and 1 at k = n.
"""

from __future__ import annotations

import numpy as np
from scipy import special

LEVEL = 0.95


def _z(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2))


def wilson(k: np.ndarray, n: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of k successes in n trials."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def clopper_pearson(k: np.ndarray, n: np.ndarray,
                    level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The Clopper-Pearson interval of k successes in n trials."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, special.betaincinv(k, n - k + 1, alpha / 2), 0.0)
        high = np.where(k < n, special.betaincinv(k + 1, n - k, 1 - alpha / 2), 1.0)
    empty = ~(n > 0)
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)
