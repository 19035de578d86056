"""Percent and share cells (SCIENCE.md §6).

Accepted: ``NN%``, ``NN``, ``NN.N``, ``NN,N`` (decimal comma), ``.5``, spaces around, ``*`` and a
bare ``%`` (both: under 0.5%, read as 0), and numbers already parsed by a spreadsheet reader.
Anything else is a :class:`BadInput` naming the file, line/row, column and question id.
Whether a question's cells are fractions or percents is decided per question by
:func:`datasets_io.rules.share_scale`, not here.
"""

from __future__ import annotations

import math
import re
from numbers import Real
from pathlib import Path

from common.errors import BadInput

_NUMBER = re.compile(r"^\s*\+?(\d+(?:[.,]\d*)?|[.,]\d+)\s*(%?)\s*$")
ACCEPTED = "NN, NN%, NN.N, a decimal comma, '*' or a bare '%' (under 0.5%, read as 0)"


def try_percent(cell: object) -> float | None:
    """The number in a cell, ``0.0`` for ``*``/``%``, or None when it is not a percent cell.

    Empty cells also give None; callers decide whether an empty cell is allowed.
    """
    if isinstance(cell, bool):
        return None
    if isinstance(cell, Real):
        value = float(cell)
        return value if math.isfinite(value) else None
    if not isinstance(cell, str):
        return None
    s = cell.strip()
    if s in ("*", "%", "*%"):
        return 0.0
    m = _NUMBER.match(s)
    if m is None:
        return None
    return float(m.group(1).replace(",", "."))


def is_empty(cell: object) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True
    return isinstance(cell, str) and not cell.strip()


def parse_percent(cell: object, *, where: str | Path, line: int | None = None,
                  column: str | None = None, question_id: str | None = None,
                  row_word: str = "line") -> float:
    """Parse one percent/share cell or raise BadInput saying where and what is accepted."""
    value = try_percent(cell)
    if value is not None:
        return value
    place = []
    if line is not None and row_word != "line":
        place.append(f"{row_word} {line}")
    if column:
        place.append(f"column {column!r}")
    if question_id:
        place.append(f"question {question_id!r}")
    prefix = (", ".join(place) + ": ") if place else ""
    shown = "an empty cell" if is_empty(cell) else repr(str(cell).strip()[:40])
    raise BadInput(f"{prefix}{shown} is not a percentage",
                   where=where, line=line if row_word == "line" else None,
                   fix=f"write {ACCEPTED}")
