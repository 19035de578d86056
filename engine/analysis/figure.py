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
from engine.analysis.pairing import detect_pairs, given_pairs, rank_biserial, wilcoxon_p


def pairs_or_note(pair: Sequence[str] | None, models: list[str],
                  notes: list[str]) -> list[tuple[str, str]]:
    """The pairs given (a wrong one is a BadInput), or found by name: none where there are none
    (the column is empty), none with a note where names fit two ways."""
    if pair:
        return given_pairs(pair, models)
    try:
        return detect_pairs(models)
    except BadInput as err:
        notes.append(f"no base-versus-instruct column: {err.what} ({err.fix})")
        return []


def figure(table: pd.DataFrame, value: str, shown: str, pairs: list[tuple[str, str]],
           rows: Sequence[str] = ("measure",)) -> pd.DataFrame:
    """``table`` (a row per model x ``rows``) as the figure: ``shown`` in the model columns,
    ``value`` paired for the base-versus-instruct column."""
    rows = list(rows)
    models = list(dict.fromkeys(table["model"]))
    keys = list(dict.fromkeys(map(tuple, table[rows].itertuples(index=False, name=None))))
    cells = table.set_index(["model", *rows])
    out = []
    for key in keys:
        d = np.array([cells[value].get((b, *key), np.nan) - cells[value].get((i, *key), np.nan)
                      for b, i in pairs], float)
        d = d[np.isfinite(d)]
        p = wilcoxon_p(d) if d.size else np.nan
        out.append({**dict(zip(rows, key, strict=True)),
                    **{m: cells[shown].get((m, *key), np.nan) for m in models},
                    "wilcoxon_r": rank_biserial(d) if p < 0.05 / len(keys) else np.nan,
                    "wilcoxon_p": p})
    return pd.DataFrame(out, columns=[*rows, *models, "wilcoxon_r", "wilcoxon_p"])
