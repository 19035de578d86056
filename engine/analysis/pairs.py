"""Base versus instruct (the successor study, SCIENCE-successor.md §6.1 "Wilcoxon r (IFT Pairs)").

Models are paired base with instruct: by name (the instruct model's name is the base's with an
``Instruct``/``Ins``/``it``/``Chat`` part), or as given (``BASE=INSTRUCT``). For each measure the
pairs' alignment cells (Spearman rho with the target, as the heatmap shows it) give differences
``d_k = v(base_k) - v(instruct_k)``; the matched-pairs rank-biserial correlation is
``r = (W+ - W-) / (n (n + 1) / 2)`` over the non-zero differences (ranks of |d|, ties averaged),
positive where the base models' values are larger, with scipy's two-sided Wilcoxon signed-rank p
(exact where scipy can be: no ties, no zeros, n <= 50). A row is ``significant`` where
``p < 0.05 / M``, M the table's measure rows, the threshold the successor's figures printed by.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import stats

from common.errors import BadInput
from engine.analysis.alignment import alignment_table
from engine.analysis.frames import Analysis
from engine.analysis.stats_util import rank
from engine.analysis.tables import TableResult, table_frame
from engine.lab.analyses import default

INSTRUCT_PARTS = {"instruct", "ins", "it", "chat"}
_SPLIT = re.compile(r"[-_ ]+")


def base_key(model: str) -> tuple[str, bool]:
    """The name without its instruct part (lower case), and whether it had one."""
    parts = _SPLIT.split(model.lower())
    kept = [p for p in parts if p not in INSTRUCT_PARTS]
    return "-".join(kept), len(kept) < len(parts)


def detect_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    """``(base, instruct)`` for every instruct model whose base is among ``models``."""
    bases: dict[str, list[str]] = {}
    instructs: dict[str, list[str]] = {}
    for model in models:
        key, is_instruct = base_key(model)
        (instructs if is_instruct else bases).setdefault(key, []).append(model)
    pairs = []
    for key, ins in instructs.items():
        if key not in bases:
            continue
        if len(ins) > 1 or len(bases[key]) > 1:
            raise BadInput(f"cannot tell the pairs of {', '.join(bases[key] + ins)} by name",
                           fix="give them with --pair BASE=INSTRUCT")
        pairs.append((bases[key][0], ins[0]))
    return sorted(pairs)


def given_pairs(items: Sequence[str], models: Sequence[str]) -> list[tuple[str, str]]:
    """``BASE=INSTRUCT`` items, each model one of ``models``."""
    pairs = []
    for item in items:
        base, sep, instruct = (s.strip() for s in item.partition("="))
        if not sep or not base or not instruct:
            raise BadInput(f"bad --pair {item!r}", fix="write it as BASE=INSTRUCT")
        unknown = [m for m in (base, instruct) if m not in models]
        if unknown:
            raise BadInput(f"--pair {item!r}: no run of {', '.join(map(repr, unknown))}",
                           fix=f"the models are: {', '.join(models)}")
        pairs.append((base, instruct))
    return pairs


def rank_biserial(d: np.ndarray) -> float:
    """``(W+ - W-) / (n (n + 1) / 2)`` over the non-zero differences (NaN when none)."""
    d = d[d != 0]
    if not d.size:
        return float("nan")
    ranks = rank(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / (d.size * (d.size + 1) / 2))


def wilcoxon_p(d: np.ndarray) -> float:
    """scipy's two-sided Wilcoxon signed-rank p of ``d`` (zeros dropped; NaN without any)."""
    if not np.any(d != 0):
        return float("nan")
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


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
