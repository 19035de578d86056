"""Run diagnostics (``analyze accuracy``): what a run's answers look like before any measure.

Over the questions with a correct answer (``n``):

- ``accuracy`` = share of cloze answers that are the correct one, with the Wilson 95% interval
  (``intervals.wilson``); per subject in ``extra['subjects']``.
- Position bias: ``top_letter`` is the letter answered most often, ``top_letter_share`` its share
  of the answers. The test is Pearson's chi-square *goodness of fit* of the answered letters'
  counts ``O_L`` against the counts of the correct letters ``E_L`` over the same questions:
  ``chi2 = sum_L (O_L - E_L)^2 / E_L``, ``df`` = letters - 1 (letters neither answered nor
  correct left out). It asks "does the model answer some letter more often than the answer key
  has it?" (``scipy.stats.chisquare(O, E)``). Not the test of independence of the answered x
  correct table: that tests whether the answers depend on the key at all, i.e. whether the model
  knows anything, which a biased and an accurate model both pass. A letter answered but never
  correct gives ``chi2 = inf``, ``p = 0`` (a note says so). ``extra['letters']`` holds the counts.
- ``choice_mass`` (the sum of the label probabilities, SCIENCE.md §1): mean, median and the share
  of questions under 0.5, i.e. where the model's next token is mostly not a label at all.
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
from scipy import special

from engine.analysis.frames import Analysis
from engine.analysis.intervals import wilson
from engine.analysis.tables import TableResult, correctness, runs, stack, table_frame

LOW_MASS = 0.5


def accuracy_cells(y: np.ndarray) -> dict[str, float]:
    """n, accuracy and its Wilson 95% interval of 0/1 correctness ``y``."""
    low, high = wilson(y.sum(), y.size)
    return {"n": int(y.size), "accuracy": float(y.mean()) if y.size else np.nan,
            "ci_low": float(low), "ci_high": float(high)}


def letter_counts(answered: np.ndarray, correct: np.ndarray, n_letters: int) -> pd.DataFrame:
    """How often each letter is answered and is correct (letters neither answered nor correct
    left out)."""
    o = np.bincount(answered, minlength=n_letters)
    e = np.bincount(correct, minlength=n_letters)
    used = (o + e) > 0
    return pd.DataFrame({"letter": [string.ascii_uppercase[i] for i in np.flatnonzero(used)],
                         "answered": o[used], "correct": e[used],
                         "answered_share": o[used] / answered.size,
                         "correct_share": e[used] / correct.size})


def goodness_of_fit(observed: np.ndarray, expected: np.ndarray) -> tuple[float, int, float]:
    """Pearson's chi-square of ``observed`` against ``expected`` counts (same total): statistic,
    degrees of freedom, p."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    df = observed.size - 1
    if df < 1:
        return np.nan, df, np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (observed - expected) ** 2 / expected,
                         np.where(observed > 0, np.inf, 0.0))
    chi2 = float(terms.sum())
    return chi2, df, float(special.chdtrc(df, chi2))


def mass_summary(mass: np.ndarray) -> dict[str, float]:
    mass = mass[np.isfinite(mass)]
    if not mass.size:
        return {"mass_mean": np.nan, "mass_median": np.nan, "mass_below_half": np.nan}
    return {"mass_mean": float(mass.mean()), "mass_median": float(np.median(mass)),
            "mass_below_half": float(np.mean(mass < LOW_MASS))}


def accuracy_table(a: Analysis) -> TableResult:
    """One row of diagnostics per run; ``extra['subjects']``: accuracy per subject,
    ``extra['letters']``: the answered and correct letters' counts."""
    n_letters = int(a.frame["n_choices"].max())
    rows, subject_rows, letter_parts, notes = [], [], [], []
    for model, run in runs(a):
        run, y = correctness(run)
        answered, key = run["cloze"].to_numpy(int), run["correct"].to_numpy(int)
        letters = letter_counts(answered, key, n_letters)
        chi2, df, p = goodness_of_fit(letters["answered"], letters["correct"])
        if np.isinf(chi2):
            never = letters.loc[(letters["correct"] == 0) & (letters["answered"] > 0), "letter"]
            notes.append(f"{model}: answered {', '.join(never)} although no question has it as "
                         "its correct answer: chi2 is infinite")
        top = letters.loc[letters["answered"].idxmax()]
        rows.append({"model": model, **accuracy_cells(y), "top_letter": top["letter"],
                     "top_letter_share": top["answered_share"], "chi2": chi2, "df": df,
                     "p_letters": p, **mass_summary(run["choice_mass"].to_numpy(float))})
        letter_parts.append(letters.assign(model=model))
        subjects = run["subject"].to_numpy(object)
        for subject in sorted(set(subjects[pd.notna(subjects)])):
            inside = y[subjects == subject]
            subject_rows.append({"model": model, "subject": subject,
                                 "n_correct": int(inside.sum()), **accuracy_cells(inside)})
    if a.frame["subject"].isna().all():
        notes.append(f"dataset {a.dataset.name!r} has no subjects: --subjects has no rows")
    return TableResult("accuracy", table_frame(rows, "accuracy"), {
        "subjects": table_frame(subject_rows, "accuracy", "subjects"),
        "letters": stack(letter_parts, "accuracy", "letters")}, notes)
