"""The successor's figure layout (SCIENCE-successor.md §6.1, §6.2), shared by its heatmaps: a row
per measure, a column per model, then the base-versus-instruct column: over the pairs,
``d = v(base) - v(instruct)`` of the row's cells, the matched-pairs rank-biserial r (shown where
the Wilcoxon p < 0.05 / M, M the rows) and the p itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.pairs import detect_pairs, given_pairs, rank_biserial, wilcoxon_p


def pairs_or_note(pair: Sequence[str] | None, models: list[str],
                  notes: list[str]) -> list[tuple[str, str]]:
    """The pairs given, or found by name; none (with a note) where there are none to find."""
    try:
        pairs = given_pairs(pair, models) if pair else detect_pairs(models)
    except BadInput as err:
        if pair:
            raise
        notes.append(f"no base-versus-instruct column: {err.what}")
        return []
    if not pairs:
        notes.append("no base-versus-instruct column: no base/instruct pairs among the models")
    return pairs


def figure(table: pd.DataFrame, value: str, shown: str, pairs: list[tuple[str, str]],
           fixed: dict[str, object] | None = None) -> pd.DataFrame:
    """``table`` (a row per model x measure) as the figure: ``shown`` in the model columns,
    ``value`` paired for the base-versus-instruct column; ``fixed`` columns after the measure."""
    models = list(dict.fromkeys(table["model"]))
    row_names = list(dict.fromkeys(table["measure"]))
    cells = table.pivot(index="measure", columns="model", values=shown)
    values = table.set_index(["model", "measure"])[value]
    rows = []
    for measure in row_names:
        d = np.array([values.get((b, measure), np.nan) - values.get((i, measure), np.nan)
                      for b, i in pairs], float)
        d = d[np.isfinite(d)]
        p = wilcoxon_p(d) if d.size else np.nan
        rows.append({"measure": measure, **(fixed or {}),
                     **{m: cells.at[measure, m] for m in models},
                     "wilcoxon_r": rank_biserial(d) if p < 0.05 / len(row_names) else np.nan,
                     "wilcoxon_p": p})
    return pd.DataFrame(rows, columns=["measure", *(fixed or {}), *models, "wilcoxon_r",
                                       "wilcoxon_p"])
