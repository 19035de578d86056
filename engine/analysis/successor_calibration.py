"""The successor study's calibration and agreement tables (SCIENCE-successor.md §6.2, §6.3).

Not the first paper's ECE (``engine.analysis.ece``): no standardisation, and each measure is
turned into a confidence in [0, 1] as the successor did, from its stored form
(``normalise.successor_form``: normalised entropies clipped at 1, ``top1_prob`` and
``choice_top1`` as log-probabilities, the latter not renormalised over the choices):

- log-probabilities (``top1_prob``, ``choice_top1``): ``conf = exp(x)``; ``choice_top1`` is thus
  the largest label probability *not* renormalised (the successor's fault 5, kept: it is what its
  figures show, e.g. an instruct model with little letter mass has an error near its accuracy);
- ``topp_size@p``: ``conf = 1 - (len - m) / (M - m)``, m and M the min and max over *all* the
  run's ``topp_size@*`` columns and rows (the successor took them over its 421 rows before
  dropping the two ungradable ones; here over the rows the run has in the dataset);
- the normalised entropies: ``conf = 1 - u``;
- free-recall measures (``fr_``, ``bfr_``, ``tok1_``, stored in the successor's form): likewise by
  their kind, the top-p range over the same family's four sizes, and ``*_perplexity``:
  ``conf = exp(-ppl)`` (§6.2);
- ``choice_margin`` has no successor form (the successor stored none): skipped with a note.

Correctness is the cloze answer being the correct one (``tables.correctness``).

``rms-ce`` ("width"): 15 equal-width bins on [0, 1],
``b = clip(digitize(conf, linspace(0, 1, 16)) - 1, 0, 14)`` (so conf = 1 falls in the last bin),
``CE = sqrt(sum_b n_b/N (mean y_b - mean conf_b)^2)``.

``ece-sweep`` (Roelofs et al. 2022, as the successor ran it): the rows sorted by ``np.argsort(conf)``
(numpy's default quicksort: with tied confidences the order, and so the value, depends on it),
split with ``np.array_split`` into B = 1, 2, ... contiguous equal-mass chunks until the chunks'
accuracies first fail to be non-decreasing; the L2 error above at the last monotone B.

Rows are named by the measure itself, never ``-NAME``: the sign rule of the other tables
(``normalise.as_uncertainty``) does not apply, since every measure is mapped to a confidence
here, certainties and uncertainties alike. Rows of a run without a value (or without a correct
answer) are left out; ``n`` counts the rows used.

``agreement-successor`` (§6.3): per model ``fact_mc = int(100 * mean(cloze == correct))`` and
``human = int(100 * mean(cloze == the first human top answer))``, *truncated* to whole percent
as published (the float product is truncated: 100 * 0.29 gives 28), with the untruncated means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.figure import figure, pairs_or_note
from engine.analysis.frames import Analysis
from engine.analysis.normalise import successor_form
from engine.analysis.tables import (
    TableResult,
    correctness,
    pick_measures,
    runs,
    table_frame,
    vocab_size,
)
from engine.lab.analyses import default
from engine.measure_names import base_name, parse_measure

WIDTH_BINS = 15
LOG_PROBABILITIES = ("top1_prob", "choice_top1")
NO_CONFIDENCE = ("choice_margin",)


def _family(measure: str) -> str:
    return measure[: len(measure) - len(base_name(measure))]


def topp_range(run: pd.DataFrame, measures: Sequence[str], family: str = "") -> tuple[float, float]:
    """Min and max over every ``topp_size@*`` column of ``measures`` (of the free-recall
    ``family``, e.g. ``bfr_``; '' for the multiple-choice ones) and every row of ``run``."""
    columns = [m for m in measures if _family(m) == family
               and parse_measure(base_name(m))[0] == "topp_size"]
    values = run[columns].to_numpy(float)
    if not np.isfinite(values).any():
        raise BadInput("no top-p set sizes")
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if hi <= lo:
        raise BadInput(f"every top-p set size is {lo:g}: no confidence")
    return lo, hi


def confidence(run: pd.DataFrame, measure: str, all_measures: Sequence[str]) -> np.ndarray:
    """§6.2's confidence of ``measure`` for each row of one run (NaN where it has no value)."""
    kind, _ = parse_measure(base_name(measure))
    if kind in NO_CONFIDENCE:
        raise BadInput(f"{measure} has no successor confidence")
    x = successor_form(run, measure, vocab_size(run)).to_numpy(float)
    if kind in LOG_PROBABILITIES:
        return np.exp(x)
    if kind == "perplexity":
        return np.exp(-x)
    if kind == "topp_size":
        lo, hi = topp_range(run, all_measures, _family(measure))
        return 1.0 - (x - lo) / (hi - lo)
    return 1.0 - x


def width_bins(conf: np.ndarray, bins: int = WIDTH_BINS) -> np.ndarray:
    """The equal-width bin of each confidence; 1 goes in the last bin, anything outside [0, 1]
    in the nearer end bin."""
    return np.clip(np.digitize(conf, np.linspace(0.0, 1.0, bins + 1)) - 1, 0, bins - 1)


def l2_error(index: np.ndarray, conf: np.ndarray, y: np.ndarray, bins: int) -> float:
    """``sqrt(sum_b n_b/N (mean y_b - mean conf_b)^2)`` over the non-empty bins of ``index``."""
    n = np.bincount(index, minlength=bins)
    filled = n > 0
    acc = np.bincount(index, weights=y, minlength=bins)[filled] / n[filled]
    mean_conf = np.bincount(index, weights=conf, minlength=bins)[filled] / n[filled]
    return float(np.sqrt(np.sum(n[filled] / y.size * (acc - mean_conf) ** 2)))


def rms_ce(conf: np.ndarray, y: np.ndarray, bins: int = WIDTH_BINS) -> float:
    """The successor's "width" calibration error of confidences ``conf`` against 0/1 ``y``."""
    return l2_error(width_bins(conf, bins), conf, y, bins)


def sweep_chunks(n: int, bins: int) -> np.ndarray:
    """The chunk of each sorted position under ``np.array_split(range(n), bins)``: the first
    ``n % bins`` chunks hold one more."""
    sizes = np.full(bins, n // bins)
    sizes[: n % bins] += 1
    return np.repeat(np.arange(bins), sizes)


def ece_sweep(conf: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """The L2 ECE-sweep and its number of equal-mass bins (the largest B before the chunks'
    accuracies first decrease; at most one row per chunk)."""
    order = np.argsort(conf)        # numpy's default (quicksort), as the successor
    conf, y = conf[order], y[order]
    best = 1
    for bins in range(2, y.size + 1):
        chunk = sweep_chunks(y.size, bins)
        acc = np.bincount(chunk, weights=y, minlength=bins) / np.bincount(chunk, minlength=bins)
        if np.any(np.diff(acc) < 0):
            break
        best = bins
    return l2_error(sweep_chunks(y.size, best), conf, y, best), best


def width_cell(conf: np.ndarray, y: np.ndarray) -> dict:
    return {"bins": WIDTH_BINS, "accuracy": float(y.mean()), "rms_ce": rms_ce(conf, y)}


def sweep_cell(conf: np.ndarray, y: np.ndarray) -> dict:
    value, bins = ece_sweep(conf, y)
    return {"bins": bins, "accuracy": float(y.mean()), "ece_sweep": value}


Correct = Callable[[pd.DataFrame], tuple[pd.DataFrame, np.ndarray]]


def calibration_cells(a: Analysis, measures: Sequence[str] | None, pair: Sequence[str] | None,
                      name: str, value: str, statistic: Callable[[np.ndarray, np.ndarray], dict],
                      correct: Correct = correctness) -> TableResult:
    """One row per model x measure with a confidence: ``statistic(conf, y)`` gives the row's
    ``bins`` and ``value`` columns, ``correct(run)`` the rows with a correctness and it (0/1);
    ``extra['wide']``: the figure (``engine.analysis.figure``)."""
    picked = pick_measures(a, measures)
    notes = [f"{m}: no successor confidence (the successor stored no {m}); skipped"
             for m in picked if parse_measure(m)[0] in NO_CONFIDENCE]
    if "choice_top1" in picked:
        notes.append("choice_top1: its confidence is the largest label probability not "
                     "renormalised over the choices, as the successor's figures (its fault 5: a "
                     "model with little letter mass gets an error near its accuracy)")
    rows = []
    for model, run in runs(a):
        run, y = correct(run)
        for measure in picked:
            if parse_measure(measure)[0] in NO_CONFIDENCE:
                continue
            if run[measure].isna().all():
                notes.append(f"{model}: no {measure} values; skipped")
                continue
            try:
                conf = confidence(run, measure, a.measures)
            except BadInput as err:
                notes.append(f"{model}: {measure} skipped ({err.what})")
                continue
            keep = np.isfinite(conf)
            if not keep.any():
                notes.append(f"{model}: no {measure} values on questions with a correctness; "
                             "skipped")
                continue
            rows.append({"model": model, "measure": measure, "n": int(keep.sum()),
                         **statistic(conf[keep], y[keep])})
    if not rows:
        raise BadInput(f"no measure of these runs has a successor confidence ({name})",
                       fix="pick runs with entropies, top-p sizes or probabilities")
    table = table_frame(rows, name)
    pairs = pairs_or_note(pair, list(dict.fromkeys(table["model"])), notes)
    return TableResult(name, table, {"wide": figure(table, value, value, pairs)}, notes)


def rms_ce_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                 pair: Sequence[str] | None = default("pair")) -> TableResult:
    """The successor's "width" calibration error per model x measure (§6.2)."""
    return calibration_cells(a, measures, pair, "rms-ce", "rms_ce", width_cell)


def ece_sweep_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                    pair: Sequence[str] | None = default("pair")) -> TableResult:
    """The successor's "sweep" calibration error per model x measure (§6.2)."""
    return calibration_cells(a, measures, pair, "ece-sweep", "ece_sweep", sweep_cell)


def truncated_agreement(cloze: np.ndarray, other: np.ndarray) -> tuple[int, float, float]:
    """n, ``int(100 * mean(cloze == other))`` (truncated, as published) and the mean, over the
    rows where ``other`` has a value; NaN where none has."""
    keep = pd.notna(other) & pd.notna(cloze)
    if not keep.any():
        return 0, np.nan, np.nan
    mean = float(np.mean(cloze[keep].astype(int) == other[keep].astype(int)))
    return int(keep.sum()), int(100 * mean), mean


def agreement_successor_table(a: Analysis) -> TableResult:
    """Per model the successor's agreement cells (§6.3): ``fact_mc`` against the correct answers,
    ``human`` against the first human top answer; the part a dataset lacks is NaN, with a note."""
    frame = a.frame
    notes = []
    if frame["correct"].isna().all():
        notes.append(f"dataset {a.dataset.name!r} has no correct answers: fact_mc is NaN")
    if frame["human_first_top"].isna().all():
        notes.append(f"dataset {a.dataset.name!r} has no human response shares: human is NaN")
    rows = []
    for model, run in runs(a):
        cloze = run["cloze"].to_numpy(float)
        n_fact, fact, fact_mean = truncated_agreement(cloze, run["correct"].to_numpy(float))
        n_human, human, human_mean = truncated_agreement(
            cloze, run["human_first_top"].to_numpy(float))
        rows.append({"model": model, "n_fact_mc": n_fact, "fact_mc": fact,
                     "fact_mc_mean": fact_mean, "n_human": n_human, "human": human,
                     "human_mean": human_mean})
    return TableResult("agreement-successor", table_frame(rows, "agreement-successor"),
                       notes=notes)
