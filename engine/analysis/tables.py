"""What the table functions share: the result they return, the measures they pick, the sign rule.

Each table function lives in its statistics module (``alignment.alignment_table``, ...; which one,
its settings and its columns are in the registry, ``engine.lab.analyses``). It takes an
:class:`~engine.analysis.frames.Analysis` and plain settings and returns a :class:`TableResult`:
``table`` (the registry's columns, plus ``p_adj`` when an adjustment is asked for), ``extra``
(strata, reliability bins, null samples) and ``notes`` (what was skipped and why; front ends
print them on stderr).

Every table that takes measures reads each one as an uncertainty: a certainty enters negated and
its rows are named ``-NAME`` (``normalise.as_uncertainty``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.frames import Analysis
from engine.analysis.multiple import adjust as adjust_p
from engine.analysis.normalise import as_uncertainty, scaled_measure
from engine.free_recall_names import FIGURE_SETS, figure_rows
from engine.lab.analyses import ANALYSES
from engine.measure_names import is_uncertainty_like, successor_measures

SUCCESSOR_SET = "successor"      # --measures successor: the successor's 17, in its figures' order


@dataclass
class TableResult:
    name: str
    table: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def table_frame(rows: list[dict], analysis: str, extra: str | None = None) -> pd.DataFrame:
    """``rows`` as the registry's columns of ``analysis``'s table (or of its ``extra``)."""
    spec = ANALYSES[analysis]
    return pd.DataFrame(rows, columns=list(spec.extra(extra).columns if extra else spec.columns))


def stack(parts: list[pd.DataFrame], analysis: str, extra: str | None = None) -> pd.DataFrame:
    """``parts`` one under the other, with the registry's columns (empty: no rows)."""
    if not parts:
        return table_frame([], analysis, extra)
    spec = ANALYSES[analysis]
    return pd.concat(parts, ignore_index=True)[list(spec.extra(extra).columns if extra
                                                    else spec.columns)]


def runs(a: Analysis) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each run's rows, by its model's name."""
    for model, rows in a.frame.groupby("model", sort=False):
        yield str(model), rows


def vocab_size(rows: pd.DataFrame) -> float | None:
    v = rows["vocab_size"].iloc[0]
    return None if v is None or pd.isna(v) else float(v)


def with_human(run: pd.DataFrame) -> pd.DataFrame:
    return run[run["human_entropy"].notna()]


def correctness(run: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with a correct answer, and whether the cloze answer is it (1.0 or 0.0)."""
    run = run[run["correct"].notna()]
    return run, (run["cloze"].to_numpy(int) == run["correct"].to_numpy(int)).astype(float)


def pick_measures(a: Analysis, measures: Sequence[str] | None, *,
                  uncertainty_only: bool = False) -> list[str]:
    """The asked measures (each must exist in some run; ``-NAME``, the row name of a certainty,
    asks for NAME; ``successor``: the successor's measures the runs have), or every measure of
    the runs (only the uncertainties where ``uncertainty_only``)."""
    if measures and list(measures) == [SUCCESSOR_SET]:
        measures = [m for m in successor_measures() if m in a.measures
                    and (is_uncertainty_like(m) or not uncertainty_only)]
    elif measures and len(measures) == 1 and measures[0] in FIGURE_SETS:
        measures = [m for m in figure_rows(measures[0]) if m in a.measures]
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
            values = scaled_measure(rows, measure, scale, vocab_size(rows))
        except BadInput as err:
            notes.append(f"{model}: {measure} skipped ({err.what})")
            continue
        name, values = as_uncertainty(measure, values)
        out[name] = values.to_numpy(float)
    return out


def with_adjusted_p(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """``table`` with a ``p_adj`` column over all its rows (none for ``method`` none)."""
    if method != "none":
        table["p_adj"] = adjust_p(table["p"].to_numpy(float), method)
    return table
