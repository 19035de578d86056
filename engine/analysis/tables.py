"""One function per exported table, each returning exactly the documented columns.

Every function takes an :class:`~engine.analysis.frames.Analysis` (see ``frames.load_analysis``)
and plain settings, and returns a :class:`TableResult`: ``table`` (the documented columns, plus
``p_adj`` when an adjustment is asked for), ``extra`` (strata, reliability bins, null samples)
and ``notes`` (what was skipped and why; front ends print them on stderr).

Every table that takes measures reads each one as an uncertainty: a certainty enters negated and
its rows are named ``-NAME`` (``normalise.as_uncertainty``). :func:`make_table` builds a table by
name with the settings it takes (``settings.SETTINGS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import Dataset
from engine.analysis import agreement as agreement_mod
from engine.analysis.alignment import correlate, partial_r, strata
from engine.analysis.calibration import ALL, as_groups, spearman_many
from engine.analysis.ece import conventional_ece, standardized_ece
from engine.analysis.frames import Analysis
from engine.analysis.jsd import jsd_shift_many
from engine.analysis.kendall import kendall_summary
from engine.analysis.multiple import adjust as adjust_p
from engine.analysis.normalise import as_uncertainty, check_scale, scaled_human, scaled_measure
from engine.analysis.settings import (
    DEFAULT_BINS,
    DEFAULT_PERMUTATIONS,
    DEFAULTS,
    MIN_SUBJECT_N,
    SETTINGS,
)
from engine.measure_names import is_uncertainty_like

COLUMNS = {
    "alignment": ["model", "measure", "scale", "n", "r", "p", "ci_low", "ci_high", "spearman_rho",
                  "spearman_p", "partial_r"],
    "strata": ["model", "measure", "scale", "n_choices", "n", "r", "p", "ci_low", "ci_high"],
    "agreement": ["model", "n", "agreement", "chance", "z", "p_z", "p_exact"],
    "kendall": ["model", "n", "mean", "std", "tied_pairs"],
    "calibration": ["model", "measure", "subject", "n", "spearman_rho", "p"],
    "ece": ["model", "measure", "method", "bins", "n", "ece"],
    "ece_bins": ["model", "measure", "bin", "lo", "hi", "count", "conf", "acc"],
    "jsd": ["model", "measure", "n_uncertain", "n_certain", "shift", "p", "permutations", "seed"],
    "jsd_null": ["model", "measure", "permutation", "null"],
}
CONVENTIONAL_MEASURE = "choice_top1"


@dataclass
class TableResult:
    name: str
    table: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _frame(rows: list[dict], name: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS[name])


def _runs(a: Analysis) -> Iterator[tuple[str, pd.DataFrame]]:
    for model, rows in a.frame.groupby("model", sort=False):
        yield str(model), rows


def _vocab(rows: pd.DataFrame) -> float | None:
    v = rows["vocab_size"].iloc[0]
    return None if v is None or pd.isna(v) else float(v)


NEEDS_HUMAN = ("alignment", "agreement", "kendall")
NEEDS_CORRECT = ("calibration", "ece", "jsd")


def check_dataset(ds: Dataset, analysis: str) -> None:
    """A clear BadInput when ``analysis`` needs what the dataset lacks (shares or answers)."""
    q = ds.questions
    if analysis in NEEDS_HUMAN and not q["human_share"].notna().any():
        raise BadInput(f"dataset {ds.name!r} has no human response shares; {analysis} needs "
                       "a survey dataset", fix="pick a dataset imported with shares")
    if analysis in NEEDS_CORRECT and not q["correct"].notna().any():
        raise BadInput(f"dataset {ds.name!r} has no correct answers; {analysis} needs a "
                       "benchmark with answers", fix="pick a dataset imported with a correct column")


def pick_measures(a: Analysis, measures: Sequence[str] | None, *,
                  uncertainty_only: bool = False) -> list[str]:
    """The asked measures (each must exist in some run; ``-NAME``, the row name of a certainty,
    asks for NAME), or every measure of the runs (only the uncertainties where
    ``uncertainty_only``)."""
    if measures:
        asked = [m[1:] if m.startswith("-") and not is_uncertainty_like(m[1:]) else m
                 for m in measures]
        unknown = [m for m in asked if m not in a.measures]
        if unknown:
            raise BadInput(f"measure(s) {', '.join(unknown)} not in these runs",
                           fix=f"the runs have: {', '.join(a.measures) or 'none'}")
        return list(dict.fromkeys(asked))
    chosen = [m for m in a.measures if is_uncertainty_like(m) or not uncertainty_only]
    if not chosen:
        raise BadInput("the runs have no measures to analyse")
    return chosen


def sign_notes(measures: Sequence[str]) -> list[str]:
    """The note of every table in which certainties enter negated."""
    certainties = [m for m in measures if not is_uncertainty_like(m)]
    if not certainties:
        return []
    return [f"{', '.join(certainties)}: larger means more sure, so entered negated "
            f"({', '.join('-' + m for m in certainties)}) to read, like every row, as an "
            "uncertainty (larger = less sure)"]


def measure_values(rows: pd.DataFrame, measures: Sequence[str], scale: str, notes: list[str],
                   model: str) -> dict[str, np.ndarray]:
    """Each measure's values on ``scale``, as an uncertainty, by row name (``-NAME`` for a
    certainty); a measure without values or without the scale is left out with a note."""
    out = {}
    for measure in measures:
        if rows[measure].isna().all():
            notes.append(f"{model}: no {measure} values; skipped")
            continue
        try:
            values = scaled_measure(rows, measure, scale, _vocab(rows))
        except BadInput as err:
            notes.append(f"{model}: {measure} skipped ({err.what})")
            continue
        name, values = as_uncertainty(measure, values)
        out[name] = values.to_numpy(float)
    return out


def _adjust(table: pd.DataFrame, method: str) -> pd.DataFrame:
    if method != "none":
        table["p_adj"] = adjust_p(table["p"].to_numpy(float), method)
    return table


def alignment_table(a: Analysis, measures: Sequence[str] | None = None, scale: str = "raw",
                    adjust: str = "none") -> TableResult:
    """Pearson r etc. of each model x measure with human entropy; ``extra['strata']`` holds r
    within each choice count with >= 30 questions."""
    check_dataset(a.dataset, "alignment")
    check_scale(scale)
    picked = pick_measures(a, measures)
    rows, strata_rows, notes = [], [], sign_notes(picked)
    for model, run in _runs(a):
        run = run[run["human_entropy"].notna()]
        human = scaled_human(run, scale).to_numpy(float)
        log_n = np.log(run["n_choices"].to_numpy(float))
        undefined = []
        for measure, x in measure_values(run, picked, scale, notes, model).items():
            c = correlate(human, x)
            if not np.isfinite(c.r):
                undefined.append(measure)
            rows.append({"model": model, "measure": measure, "scale": scale, "n": c.n, "r": c.r,
                         "p": c.p, "ci_low": c.ci_low, "ci_high": c.ci_high,
                         "spearman_rho": c.spearman_rho, "spearman_p": c.spearman_p,
                         "partial_r": partial_r(human, x, log_n)})
            for k, s in strata(human, x, run["n_choices"].to_numpy(float), whole=c):
                strata_rows.append({"model": model, "measure": measure, "scale": scale,
                                    "n_choices": k, "n": s.n, "r": s.r, "p": s.p,
                                    "ci_low": s.ci_low, "ci_high": s.ci_high})
        if undefined:
            notes.append(f"{model}: r is undefined (its cells are empty) for {len(undefined)} "
                         f"measure(s), e.g. {undefined[0]}: fewer than 2 questions, or values "
                         "(or human entropies) that do not vary")
    table = _adjust(_frame(rows, "alignment"), adjust)
    return TableResult("alignment", table, {"strata": _frame(strata_rows, "strata")}, notes)


def agreement_table(a: Analysis, variant: str = "corrected") -> TableResult:
    """Top-answer agreement per model (``variant`` per SCIENCE.md §4)."""
    check_dataset(a.dataset, "agreement")
    rows, notes = [], []
    for model, run in _runs(a):
        run = run[run["human_entropy"].notna()]
        res = agreement_mod.agreement(run["cloze"], run["human_top"], run["n_choices"], variant)
        rows.append({"model": model, "n": res.n, "agreement": res.agreement, "chance": res.chance,
                     "z": res.z, "p_z": res.p_z, "p_exact": res.p_exact})
        if res.n_tied:
            notes.append(f"{model}: {res.n_tied} of {res.n} questions have tied human top answers"
                         + (" (any counts)" if variant == "corrected" else " (first one counts)"))
    return TableResult("agreement", _frame(rows, "agreement"), notes=notes)


def kendall_table(a: Analysis) -> TableResult:
    """Normalised Kendall tau distance between q and h per model (mean, std, tied pairs)."""
    check_dataset(a.dataset, "kendall")
    rows = []
    for model, run in _runs(a):
        run = run[run["human_entropy"].notna()]
        s = kendall_summary(list(run["label_probs"]), list(run["human_share"]))
        rows.append({"model": model, "n": s.n, "mean": s.mean, "std": s.std,
                     "tied_pairs": s.tied_pairs})
    return TableResult("kendall", _frame(rows, "kendall"))


def _correctness(run: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    run = run[run["correct"].notna()]
    return run, (run["cloze"].to_numpy(int) == run["correct"].to_numpy(int)).astype(float)


def calibration_table(a: Analysis, measures: Sequence[str] | None = None, scale: str = "raw",
                      adjust: str = "none", min_subject_n: int = MIN_SUBJECT_N) -> TableResult:
    """Spearman(correct, measure) per model x measure, subject ``ALL`` then each subject with at
    least ``min_subject_n`` questions (the ``ALL`` row is always kept; a note counts the subjects
    left out: a rho over a handful of questions is mostly noise, often exactly +-1)."""
    check_dataset(a.dataset, "calibration")
    check_scale(scale)
    picked = pick_measures(a, measures)
    parts, notes = [], sign_notes(picked)
    for model, run in _runs(a):
        run, y = _correctness(run)
        subjects = as_groups(run["subject"].to_numpy(object))
        values = measure_values(run, picked, scale, notes, model)
        t = spearman_many(y, values, subjects if len(subjects.categories) else None)
        per_subject = t["subject"] != ALL
        small = per_subject & (t["n"] < min_subject_n)
        if small.any():
            notes.append(f"{model}: {t.loc[small, 'subject'].nunique()} of "
                         f"{t.loc[per_subject, 'subject'].nunique()} subjects have fewer than "
                         f"{min_subject_n} questions and are left out (--min-subject-n sets the "
                         "threshold)")
        t = t[~small]
        t.insert(0, "model", model)
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)[COLUMNS["calibration"]] if parts else _frame([], "calibration")
    return TableResult("calibration", _adjust(table, adjust), notes=notes)


def ece_table(a: Analysis, measures: Sequence[str] | None = None, scale: str = "raw",
              bins: int = DEFAULT_BINS, cdf: str = "empirical") -> TableResult:
    """Standardised ECE per model x measure (default: the uncertainty measures) and the
    conventional ECE of ``choice_top1``; ``extra['bins']`` holds every reliability bin (the
    conventional baseline's bins under measure ``conventional:choice_top1``)."""
    check_dataset(a.dataset, "ece")
    check_scale(scale)
    method = "standardized" if cdf == "empirical" else f"standardized-{cdf}"
    rows, bin_parts, notes = [], [], []

    def add(model: str, measure: str, meth: str, res, label: str) -> None:
        rows.append({"model": model, "measure": measure, "method": meth, "bins": bins,
                     "n": res.n, "ece": res.ece})
        b = res.bins.copy()
        b.insert(0, "measure", label)
        b.insert(0, "model", model)
        bin_parts.append(b)

    picked = pick_measures(a, measures, uncertainty_only=True)
    notes += sign_notes(picked)
    for model, run in _runs(a):
        run, y = _correctness(run)
        for measure, values in measure_values(run, picked, scale, notes, model).items():
            try:
                res = standardized_ece(values, y, bins, cdf)
            except BadInput as err:
                notes.append(f"{model}: {measure} skipped ({err.what})")
                continue
            add(model, measure, method, res, measure)
        if CONVENTIONAL_MEASURE in run and run[CONVENTIONAL_MEASURE].notna().any():
            res = conventional_ece(run[CONVENTIONAL_MEASURE].to_numpy(float), y, bins)
            add(model, CONVENTIONAL_MEASURE, "conventional", res, f"conventional:{CONVENTIONAL_MEASURE}")
    bins_frame = (pd.concat(bin_parts, ignore_index=True)[COLUMNS["ece_bins"]] if bin_parts
                  else _frame([], "ece_bins"))
    return TableResult("ece", _frame(rows, "ece"), {"bins": bins_frame}, notes)


def jsd_table(a: Analysis, measures: Sequence[str] | None = None, scale: str = "raw",
              variant: str = "corrected", seed: int = 0,
              permutations: int = DEFAULT_PERMUTATIONS, adjust: str = "none") -> TableResult:
    """JSD shift and permutation p per model x measure (default: the uncertainty measures);
    ``extra['null']`` holds every null sample."""
    check_dataset(a.dataset, "jsd")
    check_scale(scale)
    n_labels = int(a.frame["n_choices"].max())
    picked = pick_measures(a, measures, uncertainty_only=True)
    rows, nulls, notes = [], [], sign_notes(picked)
    for model, run in _runs(a):
        run, _ = _correctness(run)
        values = measure_values(run, picked, scale, notes, model)
        results, errors = jsd_shift_many(run["cloze"].to_numpy(int), run["correct"].to_numpy(float),
                                         values, n_labels=n_labels, permutations=permutations,
                                         seed=seed, variant=variant)
        notes += [f"{model}: {m} skipped ({msg})" for m, msg in errors.items()]
        for measure in values:
            if measure not in results:
                continue
            r = results[measure]
            rows.append({"model": model, "measure": measure, "n_uncertain": r.n_uncertain,
                         "n_certain": r.n_certain, "shift": r.shift, "p": r.p,
                         "permutations": r.permutations, "seed": r.seed})
            nulls.append(pd.DataFrame({"model": model, "measure": measure,
                                       "permutation": np.arange(r.null.size), "null": r.null}))
    null = pd.concat(nulls, ignore_index=True) if nulls else _frame([], "jsd_null")
    return TableResult("jsd", _adjust(_frame(rows, "jsd"), adjust), {"null": null}, notes)


TABLES: dict[str, Callable[..., TableResult]] = {
    "alignment": alignment_table, "agreement": agreement_table, "kendall": kendall_table,
    "calibration": calibration_table, "ece": ece_table, "jsd": jsd_table,
}


def used_settings(name: str, settings: Mapping[str, object]) -> dict[str, object]:
    """The settings table ``name`` takes, from ``settings`` (defaults where absent)."""
    return {key: settings.get(key, DEFAULTS[key]) for key in SETTINGS[name]}


def make_table(name: str, a: Analysis, settings: Mapping[str, object]) -> TableResult:
    """Table ``name`` with the settings it takes (others in ``settings`` are not its business)."""
    return TABLES[name](a, **used_settings(name, settings))
