"""Seeded bootstrap confidence intervals of a table's statistic (``--bootstrap B``,
``--ci-method percentile|bca``; B = 0, the default, adds nothing).

A row's questions (those its statistic uses, n of them) are resampled with replacement B times:
resample b is row b of ``np.random.default_rng(seed).integers(0, n, (B, n))``, the draws of
``scipy.stats.bootstrap(..., paired=True, rng=np.random.default_rng(seed))``, and the statistic is
recomputed on each. The 95% interval is

- ``percentile``: the 2.5% and 97.5% quantiles of the B values (linear interpolation);
- ``bca`` (Efron's bias-corrected and accelerated, as scipy): ``z0 = Phi^-1(share of values below
  the estimate, ties counted half)``, acceleration ``a = sum U^3 / (6 (sum U^2)^1.5)`` with
  ``U_i = (n - 1)(mean_j t_(j) - t_(i))`` from the n leave-one-out estimates ``t_(i)``; the
  quantiles ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(0.025), Phi^-1(0.975)``.
  It costs n more evaluations of the statistic.

A resample on which the statistic is undefined (NaN: e.g. a constant measure) is left out; the
interval is NaN when fewer than half are defined, and a BCa interval also where it is degenerate
(every resample on one side of the estimate, or leave-one-out estimates all equal; scipy gives
NaN with a warning there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from scipy import special

from common.errors import BadInput
from engine.lab.analyses import SETTINGS

METHODS = SETTINGS["ci_method"].choices
ALPHA = 0.025
Statistic = Callable[[np.ndarray], float]     # the statistic of the rows with these indices


def resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, (resamples, n))


def leave_one_out(n: int) -> Iterator[np.ndarray]:
    """For each i, every index but i."""
    every = np.arange(n)
    for i in range(n):
        yield np.delete(every, i)


def bca_levels(estimate: float, values: np.ndarray, jackknife: np.ndarray) -> tuple[float, float]:
    """The BCa quantile levels of the two ends."""
    share = (np.sum(values < estimate) + np.sum(values <= estimate)) / (2 * values.size)
    z0 = special.ndtri(share)
    u = jackknife.mean() - jackknife
    z = special.ndtri(np.array([ALPHA, 1 - ALPHA]))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.sum(u ** 3) / (6 * np.sum(u ** 2) ** 1.5)
        levels = special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
    return float(levels[0]), float(levels[1])


def bootstrap_ci(statistic: Statistic, n: int, resamples: int, seed: int,
                 method: str = "percentile") -> tuple[float, float]:
    """The 95% bootstrap interval of ``statistic`` over n rows (see the module docstring); NaN
    for no resamples."""
    if method not in METHODS:
        raise BadInput(f"unknown CI method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    if not resamples or n < 2:
        return np.nan, np.nan
    values = np.array([statistic(i) for i in resample_indices(n, resamples, seed)])
    values = values[np.isfinite(values)]
    if values.size < resamples / 2:
        return np.nan, np.nan
    levels = (ALPHA, 1 - ALPHA)
    if method == "bca":
        jackknife = np.array([statistic(i) for i in leave_one_out(n)])
        estimate = statistic(np.arange(n))
        if not (np.isfinite(jackknife).all() and np.isfinite(estimate)):
            return np.nan, np.nan
        levels = bca_levels(estimate, values, jackknife)
        if not np.isfinite(levels).all():     # every resample on one side, or no acceleration
            return np.nan, np.nan
    low, high = np.quantile(values, levels)
    return float(low), float(high)


def with_intervals(table: pd.DataFrame, intervals: list[tuple[float, float]],
                   resamples: int) -> pd.DataFrame:
    """``table`` with ``boot_low``, ``boot_high`` (one interval per row) where bootstrapping."""
    if resamples:
        table["boot_low"] = [low for low, _ in intervals]
        table["boot_high"] = [high for _, high in intervals]
    return table
