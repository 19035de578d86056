"""Calibration and error-detection metrics beyond the paper: ``brier``, ``auroc``,
``risk-coverage``. Correctness ``y = [cloze == correct]``, error ``e = 1 - y``
(``tables.correctness``).

``brier``: the stored label probabilities ``q`` sum to ``choice_mass``, not 1 (SCIENCE.md §1);
they are renormalised over the options, ``r = q / sum q`` (the distribution ``choice_top1`` is
the largest of; a question whose ``q`` sums to 0 is left out).

- ``brier`` (multi-class, over the options): ``mean_i sum_j (r_ij - [j = correct_i])^2``, in
  [0, 2] (scikit-learn's ``brier_score_loss`` with ``scale_by_half=False``).
- ``brier_top`` (top-label, binary): ``mean_i (c_i - y_i)^2`` with ``c_i = max_j r_ij``
  (= ``choice_top1``), and its Murphy decomposition over ``bins`` equal-width bins of c on
  [0, 1] (as the conventional ECE's): ``reliability = sum_b n_b/N (mean c_b - mean y_b)^2``,
  ``resolution = sum_b n_b/N (mean y_b - mean y)^2``, ``uncertainty = mean y (1 - mean y)``.
  ``brier_top = reliability - resolution + uncertainty + within_bins`` exactly, where
  ``within_bins = 1/N sum_b sum_(i in b) [(c_i - mean c_b)^2 - 2 (c_i - mean c_b)(y_i - mean y_b)]``
  is what binning hides; it is 0 only when every bin holds one confidence value.

``auroc``: each measure read as an uncertainty (a certainty negated, ``-NAME``) is a score for
"the answer is wrong". AUROC is the Mann-Whitney probability that an error scores higher than a
correct answer (ties count 1/2; scikit-learn's ``roc_auc_score``); AUPRC is the average precision
``sum_k (R_k - R_(k-1)) P_k`` over the distinct scores, highest first (``average_precision_score``,
no interpolation); its chance level is ``error_rate``.

``risk-coverage``: answer only the fraction of questions the measure is surest of (lowest
uncertainty first). ``risk(k)`` = error rate of the k kept questions; questions with equal
uncertainty enter as a block, each position of it carrying the block's mean error (the
expectation over random tie-breaking, so the curve does not depend on the questions' order).
``aurc = mean_(k=1..N) risk(k)``; ``acc_at_C = 1 - risk(ceil(C/100 N))``; ``risk`` = ``risk(N)``,
the overall error rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.analysis.ece import bin_index
from engine.analysis.frames import Analysis
from engine.analysis.normalise import check_scale
from engine.analysis.stats_util import rank
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
from engine.lab.analyses import default

COVERAGES = (50, 80, 90)


# ------------------------------------------------------------------------------------- Brier

def label_matrix(run: pd.DataFrame) -> np.ndarray:
    """The label probabilities renormalised over the options, a row per question, padded with 0
    to the most options; NaN rows where they sum to 0."""
    out = np.zeros((len(run), int(run["n_choices"].max())))
    for i, q in enumerate(run["label_probs"]):
        out[i, : len(q)] = q
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / out.sum(axis=1, keepdims=True)


def scored_questions(model: str, run: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame,
                                                                             np.ndarray, np.ndarray]:
    """The run's questions with a correct answer and label probabilities that sum above 0 (a
    note counts the others), their renormalised label matrix and correctness (1.0 or 0.0)."""
    run, y = correctness(run)
    r = label_matrix(run)
    keep = np.isfinite(r).all(axis=1)
    if not keep.all():
        notes.append(f"{model}: {int((~keep).sum())} question(s) whose label probabilities "
                     "sum to 0 left out")
    return run[keep], r[keep], y[keep]


def multiclass_brier(r: np.ndarray, correct: np.ndarray) -> float:
    """``mean_i sum_j (r_ij - [j = correct_i])^2``."""
    onehot = np.zeros_like(r)
    onehot[np.arange(len(r)), correct] = 1.0
    return float(((r - onehot) ** 2).sum(axis=1).mean())


def murphy(conf: np.ndarray, y: np.ndarray, bins: int) -> dict[str, float]:
    """Top-label Brier and its binned decomposition (see the module docstring)."""
    index = bin_index(conf, np.linspace(0.0, 1.0, bins + 1))
    count = np.bincount(index, minlength=bins)
    filled = count > 0
    mean_c = np.bincount(index, conf, bins)[filled] / count[filled]
    mean_y = np.bincount(index, y, bins)[filled] / count[filled]
    weight = count[filled] / y.size
    base = y.mean()
    brier = float(np.mean((conf - y) ** 2))
    cells = {"reliability": float(np.sum(weight * (mean_c - mean_y) ** 2)),
             "resolution": float(np.sum(weight * (mean_y - base) ** 2)),
             "uncertainty": float(base * (1 - base))}
    return {"brier_top": brier, **cells, "within_bins": brier - (
        cells["reliability"] - cells["resolution"] + cells["uncertainty"])}


def brier_table(a: Analysis, bins: int = default("bins")) -> TableResult:
    """Multi-class and top-label Brier per run, with the top-label's Murphy decomposition."""
    rows, notes = [], []
    for model, run in runs(a):
        run, r, y = scored_questions(model, run, notes)
        key = run["correct"].to_numpy(int)
        if not y.size:
            continue
        rows.append({"model": model, "n": int(y.size), "brier": multiclass_brier(r, key),
                     "bins": bins, **murphy(r.max(axis=1), y, bins)})
    return TableResult("brier", table_frame(rows, "brier"), notes=notes)


# ----------------------------------------------------------------------- AUROC and AUPRC

def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties 1/2; NaN without both classes."""
    positive = np.asarray(positive, bool)
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if not n1 or not n0:
        return np.nan
    return float((rank(score)[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """``sum_k (R_k - R_(k-1)) P_k`` over the distinct scores, highest first; NaN without a
    positive."""
    positive = np.asarray(positive, float)
    if not positive.sum():
        return np.nan
    order = np.argsort(-np.asarray(score, float), kind="stable")
    s, hit = np.asarray(score, float)[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]   # the end of each block of a score
    tp = np.cumsum(hit)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _per_measure(a: Analysis, measures: Sequence[str] | None, scale: str):
    """Each run's (model, measure, uncertainty, error) over the questions with a value and a
    correct answer, and the notes."""
    check_scale(scale)
    picked = pick_measures(a, measures)
    notes = sign_notes(picked)
    cells = []
    for model, run in runs(a):
        run, y = correctness(run)
        for measure, u in measure_values(run, picked, scale, notes, model).items():
            keep = np.isfinite(u)
            cells.append((model, measure, u[keep], 1.0 - y[keep]))
    return cells, notes


def auroc_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                scale: str = default("scale")) -> TableResult:
    """AUROC and AUPRC of each model x measure for predicting the model's errors."""
    cells, notes = _per_measure(a, measures, scale)
    rows = [{"model": model, "measure": measure, "n": int(e.size), "n_errors": int(e.sum()),
             "error_rate": float(e.mean()) if e.size else np.nan,
             "auroc": auroc(u, e), "auprc": average_precision(u, e)}
            for model, measure, u, e in cells]
    if any(r["n_errors"] in (0, r["n"]) for r in rows):
        notes.append("AUROC and AUPRC are undefined (empty) where a run has no errors or no "
                     "correct answers")
    return TableResult("auroc", table_frame(rows, "auroc"), notes=notes)


# ------------------------------------------------------------------------- risk-coverage

def risk_curve(u: np.ndarray, error: np.ndarray) -> np.ndarray:
    """``risk(k)`` for k = 1..N, the k questions of lowest uncertainty kept, ties as blocks."""
    order = np.argsort(u, kind="stable")
    u_sorted, e_sorted = u[order], error[order]
    new = np.r_[True, u_sorted[1:] != u_sorted[:-1]]
    block = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, u.size])
    block_errors = np.bincount(block, e_sorted)
    before = np.r_[0.0, np.cumsum(block_errors)[:-1]]
    kept = np.arange(1, u.size + 1)
    errors = before[block] + (kept - starts[block]) * (block_errors / sizes)[block]
    return errors / kept


def selective_accuracy(risk: np.ndarray, coverage: int) -> float:
    """Accuracy of the ``ceil(coverage/100 N)`` surest questions (coverage in percent)."""
    k = max(1, -(-coverage * risk.size // 100))
    return float(1.0 - risk[k - 1])


def risk_coverage_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                        scale: str = default("scale")) -> TableResult:
    """AURC and selective accuracy per model x measure; ``extra['curve']``: every step."""
    cells, notes = _per_measure(a, measures, scale)
    rows, curves = [], []
    for model, measure, u, e in cells:
        if not e.size:
            continue
        risk = risk_curve(u, e)
        rows.append({"model": model, "measure": measure, "n": int(e.size), "risk": risk[-1],
                     "aurc": float(risk.mean()),
                     **{f"acc_at_{c}": selective_accuracy(risk, c) for c in COVERAGES}})
        kept = np.arange(1, e.size + 1)
        curves.append(pd.DataFrame({"model": model, "measure": measure, "kept": kept,
                                    "coverage": kept / e.size, "risk": risk}))
    return TableResult("risk-coverage", table_frame(rows, "risk-coverage"),
                       {"curve": stack(curves, "risk-coverage", "curve")}, notes)
