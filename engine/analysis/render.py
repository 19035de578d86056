"""Render a table as plain text (``human``), ``csv``, ``json``, ``markdown`` or ``latex``.

CSV and JSON keep every bit of every float (Python's shortest round-trip text: ``float(text)``
gives the same float back; NaN: empty cell / ``null``). Human, Markdown and LaTeX show each number
as its column's meaning asks (:mod:`engine.analysis.numbers`): fixed decimals, p-values as
``<0.001`` or in LaTeX math, counts as integers.
"""

from __future__ import annotations

import io
import json
import math
import numbers
from pathlib import PurePath

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.numbers import format_number

FORMATS = ("human", "csv", "json", "markdown", "latex")
SUFFIXES = {".txt": "human", ".csv": "csv", ".json": "json", ".md": "markdown",
            ".markdown": "markdown", ".tex": "latex"}
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def is_missing(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (
        isinstance(v, float | np.floating) and math.isnan(v))


def fmt_value(v: object, column: object = "", *, latex: bool = False) -> str:
    """One cell of a human, Markdown or LaTeX table (with ``latex``: LaTeX source, escaped)."""
    if is_missing(v):
        return ""
    if isinstance(v, bool | np.bool_):
        text = str(bool(v))
    elif isinstance(v, numbers.Real):
        return format_number(v, column, latex=latex)
    else:
        text = str(v)
    return latex_escape(text) if latex else text


def _cells(frame: pd.DataFrame, *, latex: bool = False) -> list[list[str]]:
    columns = list(frame.columns)
    return [[fmt_value(v, c, latex=latex) for v, c in zip(row, columns, strict=True)]
            for row in frame.itertuples(index=False, name=None)]


def _numeric(frame: pd.DataFrame) -> list[bool]:
    return [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]


def human(frame: pd.DataFrame, title: str | None = None) -> str:
    header = [str(c) for c in frame.columns]
    cells = _cells(frame)
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = _numeric(frame)

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = ([title, ""] if title else []) + [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells] if cells else ["(no rows)"]
    return "\n".join(out) + "\n"


def markdown(frame: pd.DataFrame) -> str:
    numeric = _numeric(frame)
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"
    rows = ["| " + " | ".join(v.replace("|", r"\|") for v in r) + " |" for r in _cells(frame)]
    return "\n".join([head, rule, *rows]) + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def latex(frame: pd.DataFrame) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    spec = "".join("r" if n else "l" for n in _numeric(frame))
    lines = [f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(r) + r" \\" for r in _cells(frame, latex=True)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def json_value(v: object) -> object:
    """A cell as a JSON value: numpy scalars as Python ones (floats keep every bit), NaN and
    infinities (which JSON cannot hold) as null."""
    if is_missing(v):
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v) if math.isfinite(v) else None
    return v


def to_json(frame: pd.DataFrame) -> str:
    columns = [str(c) for c in frame.columns]
    records = [{c: json_value(v) for c, v in zip(columns, row, strict=True)}
               for row in frame.itertuples(index=False, name=None)]
    return json.dumps(records, indent=2, default=str) + "\n"


def to_csv(frame: pd.DataFrame) -> str:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def render(frame: pd.DataFrame, fmt: str, title: str | None = None) -> str:
    """The table as text in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "human":
        return human(frame, title)
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "json":
        return to_json(frame)
    if fmt == "markdown":
        return markdown(frame)
    if fmt == "latex":
        return latex(frame)
    raise BadInput(f"unknown format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")


def format_for(path: str | PurePath, default: str | None = None, *, given: str | None = None,
               suffixes: dict[str, str] = SUFFIXES) -> str:
    """The format of output file ``path``: the one its suffix names (``suffixes``: ``.csv``,
    ``.json``, ``.md``, ``.tex``, ``.txt`` by default), else ``given`` (``--format``), else
    ``default`` for a name without a suffix. A suffix that names another format than ``given`` is
    refused, and so is any other suffix (``.xlsx``) without ``given``: a file is never filled with
    a format its name does not say."""
    name = PurePath(str(path)).name
    named = next((fmt for suffix, fmt in suffixes.items() if name.lower().endswith(suffix)), None)
    choices = "|".join(dict.fromkeys(suffixes.values()))
    if named is not None and given is not None and named != given:
        raise BadInput(f"--format {given} but the name {name!r} says {named}",
                       fix=f"name the file for {given}, or drop --format")
    if named is None and given is None and PurePath(name).suffix:
        raise BadInput(f"cannot tell the table format from the name {name!r}",
                       fix=f"name the file {', '.join(suffixes)}, or pass --format ({choices})")
    return named or given or default or "csv"
