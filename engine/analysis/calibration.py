"""Calibration as Spearman rho(correct, measure), overall and per subject (SCIENCE.md §5).

``y_i = [cloze_i == correct_i]``. For an uncertainty, negative rho means calibrated (more
uncertain, less often right); for a certainty (``top1_prob``, ``choice_top1``, ``choice_margin``)
the sign reads the other way. Ranks are averaged over ties (y is binary); two-sided p by t with
n - 2 degrees of freedom, as ``scipy.stats.spearmanr``. Vectorised over subjects: one sort per
measure, group sums by ``bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.analysis.bootstrap import bootstrap_ci, with_intervals
from engine.analysis.figure import figure, pairs_or_note
from engine.analysis.frames import Analysis
from engine.analysis.normalise import check_scale
from engine.analysis.stats_util import pearson_r, rank, t_p_many
from engine.analysis.tables import (
    TableResult,
    correctness,
    measure_values,
    pick_measures,
    runs,
    sign_notes,
    stack,
    with_adjusted_p,
)
from engine.lab.analyses import default

ALL = "ALL"
SPEARMAN_COLUMNS = ["measure", "subject", "n", "spearman_rho", "p"]


def group_ranks(codes: np.ndarray, x: np.ndarray,
                by_value: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based, ties share the mean rank) of ``x`` within each group ``codes``,
    and per group the number of distinct values. ``by_value``: ``argsort(x)`` if already known
    (ties share their mean rank, so it need not be stable; the sort by group must be)."""
    n = x.size
    if by_value is None:
        by_value = np.argsort(x)
    small = codes.astype(np.int16) if codes.max(initial=0) < 2**15 else codes
    order = by_value[np.argsort(small[by_value], kind="stable")]
    g, v = codes[order], x[order]
    idx = np.arange(n)
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_block = new_group | np.r_[True, v[1:] != v[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, idx, 0))
    pos = idx - group_start + 1.0
    block = np.cumsum(new_block) - 1
    first = pos[new_block]
    last = np.r_[pos[np.flatnonzero(new_block)[1:] - 1], pos[-1]] if n else pos
    ranks = np.empty(n)
    ranks[order] = ((first + last) / 2)[block]
    distinct = np.bincount(g[new_block], minlength=int(codes.max(initial=-1)) + 1)
    return ranks, distinct


def _grouped_pearson(codes: np.ndarray, a: np.ndarray, b: np.ndarray,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(codes, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = a - (np.bincount(codes, a, k) / count)[codes]
        db = b - (np.bincount(codes, b, k) / count)[codes]
        r = np.bincount(codes, da * db, k) / np.sqrt(np.bincount(codes, da * da, k)
                                                    * np.bincount(codes, db * db, k))
    return np.clip(r, -1, 1), count


def as_groups(groups: np.ndarray | pd.Categorical) -> pd.Categorical:
    """Group labels as a Categorical with sorted string categories (missing: code -1).
    Code them once and pass the result on for many measures."""
    if isinstance(groups, pd.Categorical):
        return groups
    values = pd.Series(np.asarray(groups, dtype=object))
    values = values.where(values.isna(), values.astype(str))
    return pd.Categorical(values, categories=sorted(values.dropna().unique()))


def spearman_many(y: np.ndarray, measures: dict[str, np.ndarray],
                  groups: np.ndarray | pd.Categorical | None = None) -> pd.DataFrame:
    """Rows ``measure, subject, n, spearman_rho, p`` for each measure: first subject ``ALL``,
    then each group (sorted by name; groups without pairs left out).

    Pairs with a non-finite value (or a missing group, for the per-group rows) are left out. A
    group with a constant y or u has rho NaN (as scipy). The ranks of y are shared by the
    measures with the same valid questions; each measure is sorted once."""
    y = np.asarray(y, float)
    cat = as_groups(groups) if groups is not None else None
    all_codes = np.asarray(cat.codes, np.int64) if cat is not None else None
    names_all = np.array([ALL], dtype=object)
    y_cache: dict[bytes, tuple] = {}
    columns: dict[str, list[np.ndarray]] = {c: [] for c in SPEARMAN_COLUMNS}
    for measure, values in measures.items():
        u = np.asarray(values, float)
        keep = np.isfinite(u) & np.isfinite(y)
        key = np.packbits(keep).tobytes()
        if key not in y_cache:
            yk = y[keep]
            parts = [(names_all, np.zeros(yk.size, np.int64), np.ones(yk.size, bool))]
            if cat is not None:
                codes = all_codes[keep]
                ok = codes >= 0
                parts.append((np.asarray(cat.categories, dtype=object), codes[ok], ok))
            y_cache[key] = tuple((names, codes, ok, *group_ranks(codes, yk[ok]))
                                 for names, codes, ok in parts)
        uk = u[keep]
        by_value_all = np.argsort(uk)
        for names, codes, ok, ry, dy in y_cache[key]:
            uu = uk[ok]
            by_value = by_value_all if ok.all() else np.argsort(uu)
            ru, du = group_ranks(codes, uu, by_value)
            k = names.size
            rho, n = _grouped_pearson(codes, ry, ru, k)
            dy_, du_ = np.pad(dy, (0, k - dy.size)), np.pad(du, (0, k - du.size))
            rho = np.where((dy_ > 1) & (du_ > 1), rho, np.nan)
            present = n > 0
            for column, part in zip(SPEARMAN_COLUMNS, (
                    np.full(present.sum(), measure, dtype=object), names[present], n[present],
                    rho[present], t_p_many(rho[present], n[present])), strict=True):
                columns[column].append(part)
    if not columns["measure"]:
        return pd.DataFrame(columns=SPEARMAN_COLUMNS)
    return pd.DataFrame({column: np.concatenate(parts) for column, parts in columns.items()})


def spearman_by_group(y: np.ndarray, u: np.ndarray,
                      groups: np.ndarray | pd.Categorical | None = None) -> pd.DataFrame:
    """Rows ``subject, n, spearman_rho, p`` of one measure (see :func:`spearman_many`)."""
    return spearman_many(y, {"u": u}, groups).drop(columns="measure")


def spearman_interval(y: np.ndarray, u: np.ndarray, subjects: np.ndarray, subject: str,
                      resamples: int, seed: int, method: str) -> tuple[float, float]:
    """The bootstrap interval of rho(y, u) over one row's questions (subject ``ALL``: all)."""
    keep = np.isfinite(u) & np.isfinite(y)
    if subject != ALL:
        keep &= subjects.astype(str) == subject
    yk, uk = y[keep], u[keep]
    return bootstrap_ci(lambda i: pearson_r(rank(yk[i]), rank(uk[i])), yk.size, resamples, seed,
                        method)


def calibration_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                      scale: str = default("scale"), adjust: str = default("adjust"),
                      min_subject_n: int = default("min_subject_n"),
                      pair: Sequence[str] | None = default("pair"), seed: int = default("seed"),
                      bootstrap: int = default("bootstrap"),
                      ci_method: str = default("ci_method")) -> TableResult:
    """Spearman(correct, measure) per model x measure, subject ``ALL`` then each subject with at
    least ``min_subject_n`` questions (the ``ALL`` row is always kept; a note counts the subjects
    left out: a rho over a handful of questions is mostly noise, often exactly +-1).
    ``bootstrap`` resamples: rho's interval as ``boot_low``, ``boot_high``."""
    check_scale(scale)
    picked = pick_measures(a, measures)
    parts, notes, intervals = [], sign_notes(picked), []
    for model, run in runs(a):
        run, y = correctness(run)
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
        if bootstrap:
            intervals += [spearman_interval(y, values[m], run["subject"].to_numpy(object), s,
                                            bootstrap, seed, ci_method)
                          for m, s in zip(t["measure"], t["subject"], strict=True)]
        t.insert(0, "model", model)
        parts.append(t)
    table = with_intervals(with_adjusted_p(stack(parts, "calibration"), adjust), intervals,
                           bootstrap)
    overall = table[table["subject"] == ALL]
    pairs = pairs_or_note(pair, list(dict.fromkeys(table["model"])), notes)
    return TableResult("calibration", table,
                       {"wide": figure(overall, "spearman_rho", "spearman_rho", pairs)}, notes)
