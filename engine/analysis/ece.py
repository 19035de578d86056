"""Expected calibration error (SCIENCE.md §5).

Standardised (the paper's): ``z = (u - mean u) / std u`` (population std);
``beta = max(|min z|, |max z|)``; ``bins`` equal-width bins on ``[-beta, beta]``, each half-open
``[lo, hi)`` except the last, which is closed; for a non-empty bin b,
``conf_b = 1 - F(mean of z in b)`` with ``F(t) = #{j : z_j <= t} / N`` the empirical CDF of z
(``cdf="normal"``: the standard normal CDF), ``acc_b`` = mean correctness in b,
``ECE = sum_b |b| / N * |conf_b - acc_b|``. The measure is read as an uncertainty.

Conventional: confidence = ``choice_top1`` (in [0, 1]), equal-width bins on [0, 1] (last closed),
``conf_b`` = mean confidence in b. Empty bins add nothing and are reported with count 0.

Every bin also carries the Clopper-Pearson 95% interval of its accuracy (``acc_low``,
``acc_high``; ``intervals.clopper_pearson``): with a few questions in a bin, a gap between
``conf`` and ``acc`` inside it is noise.

``ece-adaptive`` (``choice_top1`` only): equal-mass bins instead, the questions sorted by
confidence (stable) and cut into ``bins`` contiguous chunks whose sizes differ by at most one
(the first ``N % bins`` one larger, as ``np.array_split``; questions with tied confidences may
fall in two bins); a bin's ``lo``..``hi`` are the confidences where it starts and the next one
starts. The maximum calibration error ``MCE = max_b |conf_b - acc_b|`` over the non-empty bins,
for both binnings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from common.errors import BadInput
from engine.analysis.bootstrap import bootstrap_ci, with_intervals
from engine.analysis.figure import figure, pairs_or_note
from engine.analysis.frames import Analysis
from engine.analysis.intervals import clopper_pearson
from engine.analysis.normalise import check_scale
from engine.analysis.stats_util import standardise
from engine.analysis.successor_calibration import sweep_chunks
from engine.analysis.tables import (
    TableResult,
    correctness,
    measure_values,
    pick_measures,
    runs,
    sign_notes,
    stack,
    table_frame,
)
from engine.lab.analyses import SETTINGS, default

CDFS = SETTINGS["cdf"].choices
DEFAULT_BINS = default("bins")
CONVENTIONAL_MEASURE = "choice_top1"
BIN_COLUMNS = ["bin", "lo", "hi", "count", "conf", "acc", "acc_low", "acc_high"]


@dataclass
class EceResult:
    ece: float
    n: int
    bins: pd.DataFrame  # BIN_COLUMNS (every bin, empty ones with count 0)

    @property
    def mce(self) -> float:
        """The maximum calibration error over the non-empty bins."""
        filled = self.bins[self.bins["count"] > 0]
        return float((filled["conf"] - filled["acc"]).abs().max())


def bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index of the equal-width bin of each x: ``[e_b, e_b+1)``, the last bin closed."""
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)


def _ece(index: np.ndarray, conf_of_bin, y: np.ndarray, edges: np.ndarray) -> EceResult:
    n_bins = edges.size - 1
    count = np.bincount(index, minlength=n_bins)
    acc_sum = np.bincount(index, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = acc_sum / count
    conf = conf_of_bin(count)
    filled = count > 0
    ece = float((count[filled] / y.size * np.abs(conf[filled] - acc[filled])).sum())
    acc_low, acc_high = clopper_pearson(acc_sum, count)
    table = pd.DataFrame({"bin": np.arange(n_bins), "lo": edges[:-1], "hi": edges[1:],
                          "count": count, "conf": np.where(filled, conf, np.nan),
                          "acc": np.where(filled, acc, np.nan), "acc_low": acc_low,
                          "acc_high": acc_high})
    return EceResult(ece, int(y.size), table)


def _clean(u: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if bins < 1:
        raise BadInput(f"--bins must be at least 1 (got {bins})")
    u = np.asarray(u, float)
    y = np.asarray(y, float)
    keep = np.isfinite(u) & np.isfinite(y)
    if not keep.any():
        raise BadInput("no questions with both a measure value and a correct answer")
    return u[keep], y[keep]


def standardized_ece(u: np.ndarray, correct: np.ndarray, bins: int = DEFAULT_BINS,
                     cdf: str = "empirical") -> EceResult:
    """The paper's standardised ECE of uncertainty ``u`` against correctness (0/1)."""
    if cdf not in CDFS:
        raise BadInput(f"unknown CDF {cdf!r}", fix="use empirical or normal")
    u, y = _clean(u, correct, bins)
    z = standardise(u)
    beta = max(abs(z.min()), abs(z.max()))
    edges = np.linspace(-beta, beta, bins + 1)
    index = bin_index(z, edges)
    z_sorted = np.sort(z)

    def conf_of_bin(count: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_z = np.bincount(index, weights=z, minlength=bins) / count
        if cdf == "normal":
            f = special.ndtr(mean_z)    # the standard normal CDF (scipy.stats.norm.cdf)
        else:
            f = np.searchsorted(z_sorted, mean_z, side="right") / z.size
        return 1.0 - f

    return _ece(index, conf_of_bin, y, edges)


def conventional_ece(confidence: np.ndarray, correct: np.ndarray,
                     bins: int = DEFAULT_BINS) -> EceResult:
    """ECE of a confidence in [0, 1] (e.g. ``choice_top1``) with equal-width bins on [0, 1]."""
    c, y = _clean(confidence, correct, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = bin_index(c, edges)

    def conf_of_bin(count: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(index, weights=c, minlength=bins) / count

    return _ece(index, conf_of_bin, y, edges)


def adaptive_ece(confidence: np.ndarray, correct: np.ndarray,
                 bins: int = DEFAULT_BINS) -> EceResult:
    """ECE of a confidence in [0, 1] with ``bins`` equal-mass bins (fewer if fewer questions)."""
    c, y = _clean(confidence, correct, bins)
    order = np.argsort(c, kind="stable")
    c, y = c[order], y[order]
    bins = min(bins, c.size)
    index = sweep_chunks(c.size, bins)
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    edges = np.r_[c[starts], c[-1]]

    def conf_of_bin(count: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=c, minlength=bins) / count

    return _ece(index, conf_of_bin, y, edges)


def ece_adaptive_table(a: Analysis, bins: int = DEFAULT_BINS) -> TableResult:
    """Equal-mass and equal-width ECE and MCE of ``choice_top1`` per run; ``extra['bins']``:
    every bin of both, with the Clopper-Pearson interval of its accuracy."""
    rows, bin_parts, notes = [], [], []
    for model, run in runs(a):
        run, y = correctness(run)
        if CONVENTIONAL_MEASURE not in run or run[CONVENTIONAL_MEASURE].isna().all():
            notes.append(f"{model}: no {CONVENTIONAL_MEASURE} values; skipped")
            continue
        conf = run[CONVENTIONAL_MEASURE].to_numpy(float)
        adaptive, width = adaptive_ece(conf, y, bins), conventional_ece(conf, y, bins)
        rows.append({"model": model, "measure": CONVENTIONAL_MEASURE, "bins": bins,
                     "n": adaptive.n, "ece_adaptive": adaptive.ece, "mce_adaptive": adaptive.mce,
                     "ece_width": width.ece, "mce_width": width.mce})
        for binning, res in (("equal-mass", adaptive), ("equal-width", width)):
            bin_parts.append(res.bins.assign(model=model, measure=CONVENTIONAL_MEASURE,
                                             binning=binning))
    return TableResult("ece-adaptive", table_frame(rows, "ece-adaptive"),
                       {"bins": stack(bin_parts, "ece-adaptive", "bins")}, notes)


def _defined(of: Callable[[np.ndarray, np.ndarray], EceResult], x: np.ndarray,
             y: np.ndarray) -> float:
    """The ECE, NaN where it is undefined (a resample with a constant measure)."""
    try:
        return of(x, y).ece
    except BadInput:
        return np.nan


def ece_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
              scale: str = default("scale"), bins: int = DEFAULT_BINS,
              cdf: str = default("cdf"),
              pair: Sequence[str] | None = default("pair"), seed: int = default("seed"),
              bootstrap: int = default("bootstrap"),
              ci_method: str = default("ci_method")) -> TableResult:
    """Standardised ECE per model x measure (default: the uncertainty measures) and the
    conventional ECE of ``choice_top1``; ``extra['bins']`` holds every reliability bin (the
    conventional baseline's bins under measure ``conventional:choice_top1``). ``bootstrap``
    resamples: the ECE's interval as ``boot_low``, ``boot_high``."""
    check_scale(scale)
    method = "standardized" if cdf == "empirical" else f"standardized-{cdf}"
    rows, bin_parts, notes, intervals = [], [], [], []

    def add(model: str, measure: str, meth: str, res: EceResult, label: str,
            of: Callable[[np.ndarray, np.ndarray], EceResult], x: np.ndarray,
            y: np.ndarray) -> None:
        rows.append({"model": model, "measure": measure, "method": meth, "bins": bins,
                     "n": res.n, "ece": res.ece})
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        intervals.append(bootstrap_ci(lambda i: _defined(of, x[i], y[i]), x.size, bootstrap,
                                      seed, ci_method))
        b = res.bins.copy()
        b.insert(0, "measure", label)
        b.insert(0, "model", model)
        bin_parts.append(b)

    picked = pick_measures(a, measures, uncertainty_only=True)
    notes += sign_notes(picked)
    for model, run in runs(a):
        run, y = correctness(run)
        for measure, values in measure_values(run, picked, scale, notes, model).items():
            try:
                res = standardized_ece(values, y, bins, cdf)
            except BadInput as err:
                notes.append(f"{model}: {measure} skipped ({err.what})")
                continue
            add(model, measure, method, res, measure,
                lambda u, yy: standardized_ece(u, yy, bins, cdf), values, y)
        if CONVENTIONAL_MEASURE in run and run[CONVENTIONAL_MEASURE].notna().any():
            conf = run[CONVENTIONAL_MEASURE].to_numpy(float)
            add(model, CONVENTIONAL_MEASURE, "conventional", conventional_ece(conf, y, bins),
                f"conventional:{CONVENTIONAL_MEASURE}",
                lambda c, yy: conventional_ece(c, yy, bins), conf, y)
    table = with_intervals(table_frame(rows, "ece"), intervals, bootstrap)
    pairs = pairs_or_note(pair, list(dict.fromkeys(table["model"])), notes)
    return TableResult("ece", table, {"bins": stack(bin_parts, "ece", "bins"),
                                      "wide": figure(table, "ece", "ece", pairs,
                                                     ("measure", "method"))}, notes)
