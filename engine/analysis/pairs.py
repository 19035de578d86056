"""Base versus instruct (the successor study, SCIENCE-successor.md §6.1 "Wilcoxon r (IFT Pairs)")
over the alignment cells: for each measure the pairs' Spearman rho with the target (as the heatmap
shows it) give differences ``d_k = v(base_k) - v(instruct_k)``, and the matched-pairs
rank-biserial r and Wilcoxon p of them (``engine.analysis.pairing``). A row is ``significant``
where ``p < 0.05 / M``, M the table's measure rows, the threshold the successor's figures printed
by. ``extra['differences']``: each pair's cells and their difference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.errors import BadInput
from engine.analysis.alignment import alignment_table
from engine.analysis.frames import Analysis
from engine.analysis.pairing import detect_pairs, given_pairs, rank_biserial, wilcoxon_p
from engine.analysis.tables import TableResult, table_frame
from engine.lab.analyses import default


def pairs_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                scale: str = default("scale"), target: str = default("target"),
                pair: Sequence[str] | None = default("pair")) -> TableResult:
    """Per measure: the pairs' rank-biserial r and Wilcoxon p of their alignment cells;
    ``extra['differences']`` holds each pair's cells and their difference."""
    alignment = alignment_table(a, measures, scale, "none", target)
    cells = alignment.table.set_index(["model", "measure"])["spearman_rho"]
    models = list(dict.fromkeys(alignment.table["model"]))
    pairs = given_pairs(pair, models) if pair else detect_pairs(models)
    if not pairs:
        raise BadInput(f"no base/instruct pairs among the models ({', '.join(models)})",
                       fix="pair them with --pair BASE=INSTRUCT")
    rows, diff_rows = [], []
    row_names = list(dict.fromkeys(alignment.table["measure"]))
    for measure in row_names:
        d = []
        for base, instruct in pairs:
            b, i = cells.get((base, measure), np.nan), cells.get((instruct, measure), np.nan)
            diff_rows.append({"base": base, "instruct": instruct, "measure": measure,
                              "target": target, "base_rho": b, "instruct_rho": i,
                              "difference": b - i})
            d.append(b - i)
        d_arr = np.asarray(d, float)
        d_arr = d_arr[np.isfinite(d_arr)]
        p = wilcoxon_p(d_arr)
        threshold = 0.05 / len(row_names)
        rows.append({"measure": measure, "target": target, "n_pairs": int(d_arr.size),
                     "r_rb": rank_biserial(d_arr), "p": p, "threshold": threshold,
                     "significant": bool(p < threshold)})
    notes = [*alignment.notes, f"pairs (base = instruct): "
             f"{', '.join(f'{b} = {i}' for b, i in pairs)}"]
    return TableResult("pairs", table_frame(rows, "pairs"),
                       {"differences": table_frame(diff_rows, "pairs", "differences")}, notes)
