"""Render a table as plain text (``human``), ``csv``, ``json``, ``markdown`` or ``latex``.

CSV and JSON keep full precision (NaN: empty cell / ``null``); human, Markdown and LaTeX show
floats with 3 decimals, and values under 0.001 in scientific notation.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import PurePath

import numpy as np
import pandas as pd

from datasets_io.errors import BadInput

FORMATS = ("human", "csv", "json", "markdown", "latex")
SUFFIXES = {".txt": "human", ".csv": "csv", ".json": "json", ".md": "markdown",
            ".markdown": "markdown", ".tex": "latex"}
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def fmt_value(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        v = float(v)
        if v == 0:
            return "0"
        if abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.3f}"
    return str(v)


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    return [[fmt_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]


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
    lines += [" & ".join(latex_escape(v) for v in r) + r" \\" for r in _cells(frame)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_json(frame: pd.DataFrame) -> str:
    records = json.loads(frame.to_json(orient="records", double_precision=15))
    return json.dumps(records, indent=2) + "\n"


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


def format_for(path: str, default: str | None = None) -> str:
    """The format named by a file's suffix (``.csv``, ``.json``, ``.md``, ``.tex``, ``.txt``);
    ``default`` for a name without a suffix. Any other suffix (``.xlsx``) is refused rather than
    filled with a format it does not name."""
    for suffix, fmt in SUFFIXES.items():
        if str(path).lower().endswith(suffix):
            return fmt
    if PurePath(str(path)).suffix:
        raise BadInput(f"cannot tell the table format from the name {PurePath(str(path)).name!r}",
                       fix=f"name the file {', '.join(SUFFIXES)}, or pass --format "
                           f"({'|'.join(FORMATS)})")
    return default or "csv"
