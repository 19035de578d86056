"""The successor's free-recall tables (SCIENCE-successor.md §6.1-§6.3 for runs of task
``generate``): its alignment heatmaps of the ``fr_``/``bfr_``/``tok1_`` measures with the human
free-recall variables, its calibration errors against the *graded* free-recall correctness, and
its agreement cell ``fact_fr``.

Correctness of a free-recall answer is its final grade (``engine.grading``: the settler's, or the
two graders' where they agree); a question still pending, or graded ``?``, is left out and
counted. ``--correctness mc`` uses the same model's multiple-choice correctness instead (its
scoring run of the same dataset): that is what the released figures used (SCIENCE-successor.md
§6.2, fault 4), offered only to reproduce them, and every such table says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.frames import Analysis
from engine.analysis.heatmap import heatmap_table
from engine.analysis.successor_calibration import (
    calibration_cells,
    sweep_cell,
    truncated_agreement,
    width_cell,
)
from engine.analysis.tables import TableResult, runs, table_frame
from engine.free_recall_names import FIGURE_SETS, figure_rows, is_free_recall
from engine.grading import agreement
from engine.lab.analyses import default

# the targets of the successor's FR, BFR and 1TFR figures (§6.1), where --target is not given
FREE_RECALL_TARGETS = ("FR_Human_Prop_Correct", "FR_Human_RT_ANS")
GRADED, MC = "graded", "mc"
MC_NOTE = ("correctness mc: the same model's multiple-choice correctness, not its graded free "
           "recall (the released figures' fault 4, SCIENCE-successor.md §6.2); only to "
           "reproduce them")


def free_recall_only(a: Analysis, measures: Sequence[str] | None,
                     notes: list[str]) -> list[str] | None:
    """The asked measures that a free-recall run can have (the console's measures setting is
    shared with the multiple-choice tables): the others are left out with a note, and where
    none is left every free-recall measure is shown."""
    if not measures or (len(measures) == 1 and measures[0] in FIGURE_SETS):
        return list(measures) if measures else None
    kept = [m for m in measures if is_free_recall(m.removeprefix("-"))]
    left = [m for m in measures if m not in kept]
    if left:
        notes.append(f"{', '.join(left)}: not free-recall measures; "
                     + ("left out" if kept else "every free-recall measure shown instead"))
    return kept or None


def free_recall_targets(a: Analysis, target: str) -> list[str]:
    """``target`` when given; else the successor's two free-recall targets the dataset has (or
    every human variable named FR_...)."""
    if target != default("target"):
        return [target]
    have = [c.removeprefix("human:") for c in a.frame.columns if str(c).startswith("human:")]
    chosen = [t for t in FREE_RECALL_TARGETS if t in have] or [t for t in have
                                                                if t.startswith("FR_")]
    if not chosen:
        raise BadInput(f"dataset {a.dataset.name!r} has no human free-recall variable "
                       f"({' or '.join(FREE_RECALL_TARGETS)})",
                       fix="give --target NAME (a human variable: `alignuq datasets show`)")
    return chosen


def fr_heatmap_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                     target: str = default("target"), pair: Sequence[str] | None = default("pair"),
                     tests: int = default("tests")) -> TableResult:
    """The successor's FR, BFR and 1TFR heatmaps: ``heatmap`` for each target and each figure's
    measures (``--measures fr|bfr|tok1``, or the measures given), each with its own threshold
    (0.05 / (4 x 15 x models) for a published figure)."""
    notes: list[str] = []
    measures = free_recall_only(a, measures, notes)
    groups = [list(measures)] if measures else [[s] for s in FIGURE_SETS
                                                 if any(m in a.measures for m in figure_rows(s))]
    if not groups:
        raise BadInput("these runs have no free-recall measures",
                       fix="pick runs made with --task generate")
    tables, wides = [], []
    for name in free_recall_targets(a, target):
        for group in groups:
            part = heatmap_table(a, group, "successor", name, pair, tests)
            tables.append(part.table)
            wides.append(part.extra["wide"])
            notes += [f"{name}, {'/'.join(group) if len(group) == 1 else 'measures'}: {note}"
                      for note in part.notes]
    table = pd.concat(tables, ignore_index=True)
    return TableResult("fr-heatmap", table_frame(table.to_dict("records"), "fr-heatmap"),
                       {"wide": pd.concat(wides, ignore_index=True)}, list(dict.fromkeys(notes)))


def correct_by(correctness: str):
    """The rows with a correctness of the kind asked, and it (1.0 or 0.0)."""
    column = {GRADED: "fr_correct", MC: "mc_correct"}[correctness]

    def correct(run: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        run = run[run[column].notna()]
        return run, run[column].to_numpy(float)
    return correct


def _calibration(a: Analysis, measures, correctness: str, pair, name: str, value: str,
                 cell) -> TableResult:
    notes = _correctness_notes(a, correctness)
    measures = free_recall_only(a, measures, notes)
    result = calibration_cells(a, measures, pair, name, value, cell, correct_by(correctness))
    result.notes[:0] = notes
    return result


def _correctness_notes(a: Analysis, correctness: str) -> list[str]:
    if correctness == MC:
        if a.frame["mc_correct"].isna().all():
            raise BadInput("no free-recall run has a multiple-choice run of the same model to "
                           "take its correctness from", fix="use --correctness graded")
        return [MC_NOTE]
    notes = []
    for model, run in runs(a):
        pending = int(run["fr_correct"].isna().sum())
        if pending:
            notes.append(f"{model}: {pending} of {len(run)} answers without a final grade "
                         "(pending or ?) left out")
    if a.frame["fr_correct"].isna().all():
        raise BadInput("no free-recall answer has a final grade yet",
                       fix="grade the answers (`alignuq grade`, or the console's Grading "
                           "section), or import grades (`alignuq grade import`)")
    return notes


def fr_rms_ce_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                    correctness: str = default("correctness"),
                    pair: Sequence[str] | None = default("pair")) -> TableResult:
    """The successor's "width" calibration error of each free-recall measure (§6.2)."""
    return _calibration(a, measures, correctness, pair, "fr-rms-ce", "rms_ce", width_cell)


def fr_ece_sweep_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                       correctness: str = default("correctness"),
                       pair: Sequence[str] | None = default("pair")) -> TableResult:
    """The successor's ECE-sweep of each free-recall measure (§6.2)."""
    return _calibration(a, measures, correctness, pair, "fr-ece-sweep", "ece_sweep", sweep_cell)


def fr_agreement_table(a: Analysis) -> TableResult:
    """Per model the successor's ``fact_fr`` cell (§6.3: int(100 * share graded Y), truncated,
    over the answers with a final Y or N), the pending count, and the two graders' raw agreement
    and Cohen's kappa where both graded."""
    rows = []
    for model, run in runs(a):
        final = run["fr_correct"].to_numpy(float)
        n, fact, mean = truncated_agreement(final, np.ones_like(final))
        agree, kappa, n_both = agreement(run["grade_a"], run["grade_b"])
        rows.append({"model": model, "n": len(run), "n_graded": n,
                     "pending": int(np.isnan(final).sum()), "fact_fr": fact, "fact_fr_mean": mean,
                     "n_both": n_both, "agreement": agree, "kappa": kappa})
    return TableResult("fr-agreement", table_frame(rows, "fr-agreement"))
