"""Alignment of a measure with human entropy (SCIENCE.md §4), or with any other human variable of
the dataset (the successor study's targets: a share correct, a response time), with the
choice-count checks.

The number of options n drives both human entropy (more options, more room to disagree) and most
model measures; a correlation between the two can be nothing but n. Hence, next to Pearson r:
the partial r controlling for log n, and r within each stratum of n (>= 30 questions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import special

from common.errors import BadInput
from datasets_io.dataset import HUMAN_PREFIX
from engine.analysis.bootstrap import bootstrap_ci, with_intervals
from engine.analysis.figure import figure, pairs_or_note
from engine.analysis.frames import Analysis
from engine.analysis.normalise import check_scale, scaled_human
from engine.analysis.stats_util import corr_p, pearson_r, rank, t_p
from engine.analysis.tables import (
    TableResult,
    measure_values,
    pick_measures,
    runs,
    sign_notes,
    table_frame,
    with_adjusted_p,
)
from engine.lab.analyses import default

MIN_STRATUM = 30


@dataclass(frozen=True)
class Correlation:
    n: int
    r: float
    p: float
    ci_low: float
    ci_high: float
    spearman_rho: float
    spearman_p: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _finite(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(a, float) for a in arrays)
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def fisher_ci(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """CI of r by Fisher's z: ``tanh(atanh r -/+ z_{(1+level)/2} / sqrt(n - 3))``."""
    if n < 4 or not np.isfinite(r):
        return float("nan"), float("nan")
    with np.errstate(divide="ignore"):
        z = np.arctanh(r)
    half = special.ndtri(0.5 + level / 2) / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def correlate(x: np.ndarray, y: np.ndarray, x_rank: np.ndarray | None = None) -> Correlation:
    """Pearson r (two-sided p, 95% Fisher CI) and Spearman rho (two-sided p) over finite pairs.

    ``x_rank``: ``rank(x)`` if already known (a run's human entropies, for each of its measures);
    used where every pair is finite."""
    x, y = _finite(x, y)
    n = int(x.size)
    r = pearson_r(x, y) if n >= 2 else float("nan")
    lo, hi = fisher_ci(r, n)
    if x_rank is None or x_rank.size != n:
        x_rank = rank(x)
    rho = pearson_r(x_rank, rank(y)) if n >= 2 else float("nan")
    return Correlation(n, r, corr_p(r, n), lo, hi, rho, t_p(rho, n))


def partial_r(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> float:
    """Correlation of x and y after regressing each on [1, control] (least squares residuals).

    A constant control (every question has the same n) leaves r unchanged."""
    x, y, c = _finite(x, y, control)
    if x.size < 3:
        return float("nan")
    design = np.column_stack([np.ones_like(c), c])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    return pearson_r(rx, ry)


def strata(x: np.ndarray, y: np.ndarray, n_choices: np.ndarray, min_size: int = MIN_STRATUM,
           whole: Correlation | None = None) -> list[tuple[int, Correlation]]:
    """``(n, correlation)`` within each choice count with at least ``min_size`` finite pairs.

    ``whole``: ``correlate(x, y)`` if already computed (reused when there is one stratum)."""
    x, y, k = _finite(x, y, n_choices)
    values = np.unique(k)
    if values.size == 1:  # one stratum: the overall correlation
        return [(int(values[0]), whole or correlate(x, y))] if k.size >= min_size else []
    return [(int(v), correlate(x[k == v], y[k == v])) for v in values if (k == v).sum() >= min_size]


TARGET_ENTROPY = "human_entropy"


def target_values(run: pd.DataFrame, target: str, scale: str) -> pd.Series:
    """The target of each row: human entropy on ``scale``, or the human variable as it is."""
    if target == TARGET_ENTROPY:
        return scaled_human(run, scale)
    return run[HUMAN_PREFIX + target].astype(float)


def check_target(a: Analysis, target: str) -> None:
    """A BadInput unless the dataset has values of ``target``, naming the targets it has."""
    ds = a.dataset
    has = ([TARGET_ENTROPY] if ds.questions["human_share"].notna().any() else []) + \
        ds.human_variables
    if target not in has:
        what = ("no human shares, so no human entropy" if target == TARGET_ENTROPY
                else f"no human variable {target!r}")
        raise BadInput(f"dataset {ds.name!r} has {what}",
                       fix=f"pass --target with one of: {', '.join(has) or 'none'}")


def alignment_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                    scale: str = default("scale"), adjust: str = default("adjust"),
                    target: str = default("target"),
                    pair: Sequence[str] | None = default("pair"), seed: int = default("seed"),
                    bootstrap: int = default("bootstrap"),
                    ci_method: str = default("ci_method")) -> TableResult:
    """Pearson r etc. of each model x measure with ``target`` (human entropy, or a human variable
    of the dataset); ``extra['strata']`` holds r within each choice count with >= 30 questions,
    ``extra['wide']`` the figure of r (``engine.analysis.figure``). Rows without a target value
    are left out. ``bootstrap`` resamples: r's interval as ``boot_low``, ``boot_high``."""
    check_scale(scale)
    check_target(a, target)
    picked = pick_measures(a, measures)
    rows, strata_rows, notes, intervals = [], [], sign_notes(picked), []
    for model, run in runs(a):
        values = target_values(run, target, scale)
        run = run[values.notna()]
        human = values[values.notna()].to_numpy(float)
        human_rank = rank(human) if np.isfinite(human).all() else None
        log_n = np.log(run["n_choices"].to_numpy(float))
        undefined = []
        for measure, x in measure_values(run, picked, scale, notes, model).items():
            c = correlate(human, x, human_rank)
            hx, xx = _finite(human, x)
            intervals.append(bootstrap_ci(lambda i, hx=hx, xx=xx: pearson_r(hx[i], xx[i]),
                                          hx.size, bootstrap, seed, ci_method))
            if not np.isfinite(c.r):
                undefined.append(measure)
            rows.append({"model": model, "measure": measure, "scale": scale, "target": target,
                         "n": c.n, "r": c.r,
                         "p": c.p, "ci_low": c.ci_low, "ci_high": c.ci_high,
                         "spearman_rho": c.spearman_rho, "spearman_p": c.spearman_p,
                         "partial_r": partial_r(human, x, log_n)})
            for k, s in strata(human, x, run["n_choices"].to_numpy(float), whole=c):
                strata_rows.append({"model": model, "measure": measure, "scale": scale,
                                    "target": target, "n_choices": k, "n": s.n, "r": s.r, "p": s.p,
                                    "ci_low": s.ci_low, "ci_high": s.ci_high})
        if undefined:
            notes.append(f"{model}: r is undefined (its cells are empty) for {len(undefined)} "
                         f"measure(s), e.g. {undefined[0]}: fewer than 2 questions, or values "
                         f"(or the targets, {target}) that do not vary")
    table = with_intervals(with_adjusted_p(table_frame(rows, "alignment"), adjust), intervals,
                           bootstrap)
    pairs = pairs_or_note(pair, list(dict.fromkeys(table["model"])), notes)
    return TableResult("alignment", table,
                       {"strata": table_frame(strata_rows, "alignment", "strata"),
                        "wide": figure(table, "r", "r", pairs)}, notes)
