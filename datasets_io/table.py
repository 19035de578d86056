"""Survey (or benchmark) tables, CSV, XLSX or Parquet -> :class:`RawQuestion` list.

Two layouts:

* ``long``: one row per (question, option): an id column (optional), the question text, the option
  label, its share (optional), and optionally the correct option and a subject.
* ``wide``: one row per question with ``option_1..k`` and ``share_1..k`` columns (globs); trailing
  empty option slots are allowed, so questions may have different numbers of options. In a
  Parquet file the options and the shares may each be one list column instead.

Any other numeric column may be kept as a per-question human variable (``human``: ``NAME=COLUMN``,
or a column name or glob, each column under its own name), such as a share answering correctly
or a response time.

Every column is given by :class:`TableMapping` or auto-detected from the header (the mapping used
is returned so the CLI can print it for the user to check). Shares may be fractions or percents,
decided per question by :func:`datasets_io.rules.share_scale`. The correct answer may be a letter
(``A``..``Z``), a 1-based option number, or the option's text; an option text that matches exactly
wins over the letter/number reading (long layout: also a 0/1, true/false or yes/no flag per row).
``question_id`` is the id column's value (``@index``: the row's 0-based index, a data file's only
key in the successor study's release), else ``t-`` + the first 12 hex digits of the sha256 of the
question text (stable across runs and machines). CSV files may begin with ``#`` comment lines.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import BadInput
from datasets_io.cells import ACCEPTED, is_empty, try_percent
from datasets_io.rules import Parsed, RawQuestion
from datasets_io.textio import check_file, read_text

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
PARQUET_SUFFIXES = (".parquet", ".pq")
ROW_INDEX_ID = "@index"   # --id-col: the row's 0-based index (the successor's released files)
ANSWER_VARIANTS_COL = "answer_variants"   # kept in meta: free-recall answer variants
_HUMAN_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
HEAD_ROWS = 8  # the first rows a Parsed table keeps, for a preview

_ID_NAMES = ("question_id", "questionid", "qid", "id", "item", "item_id", "variable", "var",
             "question id", "qkey")
_QUESTION_NAMES = ("question", "question_text", "questiontext", "text", "prompt", "stem",
                   "item_text", "wording", "question wording")
_CHOICE_NAMES = ("answer", "option", "choice", "response", "label", "option_text", "answer_text",
                 "choice_text", "response_label", "category")
_SHARE_NAMES = ("share", "percent", "pct", "percentage", "proportion", "prop", "fraction", "frac",
                "probability", "prob", "p")
_CORRECT_NAMES = ("correct", "correct_answer", "answer_key", "key", "gold", "target", "is_correct",
                  "correct_option", "solution")
_SUBJECT_NAMES = ("subject", "topic", "category_name", "domain", "theme", "section")
_WIDE_CHOICE_PREFIXES = ("option", "choice", "answer", "opt", "response", "alternative")
_WIDE_SHARE_PREFIXES = ("share", "percent", "pct", "prop", "proportion", "p", "freq")
_TRUE = {"1", "true", "yes", "y", "x", "correct"}
_FALSE = {"0", "false", "no", "n", ""}


@dataclass
class TableMapping:
    """Which column holds what. ``None`` = auto-detect (or, after detection, absent)."""

    layout: str | None = None  # "long" | "wide"
    id_col: str | None = None
    question_col: str | None = None
    choice_col: str | None = None  # long
    choice_cols: str | None = None  # wide: a glob such as "option_*"
    share_col: str | None = None  # long
    share_cols: str | None = None  # wide: a glob such as "share_*"
    correct_col: str | None = None
    subject_col: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()}

    def describe(self) -> str:
        """One line per field for the CLI (what was used, '-' for none)."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if self.layout == "long" and f.name in ("choice_cols", "share_cols"):
                continue
            if self.layout == "wide" and f.name in ("choice_col", "share_col"):
                continue
            parts.append(f"{f.name}={value if value else '-'}")
        return " ".join(parts)


def text_hash_id(text: str) -> str:
    return "t-" + hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------------------- reading

def read_frame(path: str | Path, *, sheet: str | None = None) -> tuple[pd.DataFrame, int, list[str],
                                                                          dict[str, Any]]:
    """All cells as strings (CSV) or Python objects (XLSX); the row number of the header; warnings."""
    p = check_file(path)
    if p.suffix.lower() in EXCEL_SUFFIXES:
        return _read_excel(p, sheet)
    if sheet is not None:
        raise BadInput("--sheet applies to .xlsx files only", where=p, fix="drop --sheet")
    if p.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(p)
    tf = read_text(p)
    lines = tf.text.split("\n")
    skip = 0
    while skip < len(lines) and (lines[skip].lstrip().startswith("#") or not lines[skip].strip()):
        skip += 1
    body = "\n".join(lines[skip:])
    if not body.strip():
        raise BadInput("no table after the comment lines", where=p, fix="add a header row")
    header = body.split("\n", 1)[0]
    counts = {d: header.count(d) for d in ",;\t|"}
    sep = max(counts, key=counts.__getitem__) if max(counts.values()) else (
        "\t" if p.suffix.lower() == ".tsv" else ",")
    try:
        frame = pd.read_csv(io.StringIO(body), sep=sep, dtype=str, keep_default_na=False,
                            na_values=[], skipinitialspace=False, engine="c")
    except (pd.errors.ParserError, ValueError) as err:
        raise BadInput(f"not a readable CSV table ({str(err).splitlines()[0][:120]})", where=p,
                       fix="save it as CSV with a header row") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, skip + 1, tf.warnings, {"encoding": tf.encoding, "delimiter": sep}


def _read_excel(p: Path, sheet: str | None) -> tuple[pd.DataFrame, int, list[str], dict[str, Any]]:
    try:
        book = pd.ExcelFile(p, engine="openpyxl" if p.suffix.lower() != ".xls" else None)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise BadInput(f"cannot read the spreadsheet ({type(err).__name__}: "
                       f"{str(err).splitlines()[0][:100] if str(err) else ''})", where=p,
                       fix="save it again as .xlsx, or export it as CSV") from None
    names = [str(s) for s in book.sheet_names]
    if sheet is None:
        chosen: str | int = names[0]
    elif sheet in names:
        chosen = sheet
    elif sheet.isdigit() and 1 <= int(sheet) <= len(names):
        chosen = names[int(sheet) - 1]
    else:
        raise BadInput(f"no sheet {sheet!r}", where=p,
                       fix=f"pass --sheet with one of: {', '.join(names)}")
    frame = pd.read_excel(book, sheet_name=chosen, dtype=object, keep_default_na=False,
                          na_values=[])
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.map(lambda v: "" if v is None else v)
    return frame, 1, [], {"sheet": chosen, "sheets": names}


def _read_parquet(p: Path) -> tuple[pd.DataFrame, int, list[str], dict[str, Any]]:
    """The table as Python objects; a list column's cells become lists. Row 1 is the first row."""
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(p).to_pandas()
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise BadInput(f"cannot read the Parquet file ({type(err).__name__}: "
                       f"{str(err).splitlines()[0][:100] if str(err) else ''})", where=p,
                       fix="write it again with pandas or pyarrow, or export it as CSV") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.astype(object).map(lambda v: v.tolist() if isinstance(v, np.ndarray) else
                                     "" if v is None else v)
    return frame, 0, [], {"parquet": True}


def list_columns(frame: pd.DataFrame) -> dict[str, str]:
    """The columns holding lists (Parquet), each ``"text"`` or ``"number"`` by its first item."""
    out: dict[str, str] = {}
    for column in frame.columns:
        first = next((v for v in frame[column] if isinstance(v, list) and v), None)
        if first is not None:
            out[str(column)] = "number" if isinstance(first[0], (int, float)) else "text"
    return out


# ----------------------------------------------------------------------------------- detection

def _find(columns: list[str], candidates: tuple[str, ...], taken: set[str]) -> str | None:
    lowered = {c.lower().strip(): c for c in columns if c not in taken}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


_SUFFIX_RE = re.compile(r"^(?P<prefix>.*?)[ _.-]?(?P<n>\d+)$")


def _numbered_groups(columns: list[str]) -> dict[str, list[str]]:
    """prefix (lower-case) -> its columns ordered by number, for columns like option_1..option_4."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for c in columns:
        m = _SUFFIX_RE.match(c.strip())
        if m and m.group("prefix"):
            groups.setdefault(m.group("prefix").lower().rstrip("_ .-"), []).append((int(m.group("n")), c))
    return {k: [c for _, c in sorted(v)] for k, v in groups.items() if len(v) >= 2}


def _glob_columns(columns: list[str], pattern: str) -> list[str]:
    matched = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
    if not matched:
        matched = [c for c in columns if fnmatch.fnmatch(c.lower(), pattern.lower())]

    def key(c: str) -> tuple[int, str]:
        m = re.search(r"(\d+)\D*$", c)
        return (int(m.group(1)) if m else 10**9, c)

    return sorted(matched, key=key)


def _wide_prefix_glob(cols: list[str]) -> str:
    m = _SUFFIX_RE.match(cols[0])
    assert m is not None
    return cols[0][: m.start("n")] + "*"


def detect_mapping(columns: list[str], given: TableMapping | None = None,
                   lists: dict[str, str] | None = None) -> TableMapping:
    """Fill in what ``given`` leaves out from the header; never overrides what the user gave.
    ``lists``: the list columns (:func:`list_columns`): the first of text is the options, the
    first of numbers the shares."""
    m = TableMapping(**(given.as_dict() if given else {}))
    given_names = {v for k, v in m.as_dict().items() if v and k != "layout"}
    groups = _numbered_groups(columns)
    lists = lists or {}
    if m.layout in (None, "wide") and m.choice_cols is None and m.choice_col is None:
        m.choice_cols = next((c for c, kind in lists.items() if kind == "text"), None)
        if m.choice_cols and m.share_cols is None and m.share_col is None:
            m.share_cols = next((c for c, kind in lists.items() if kind == "number"), None)
    if m.layout is None:
        if m.choice_cols or m.share_cols:
            m.layout = "wide"
        elif m.choice_col or m.share_col:
            m.layout = "long"
        else:
            m.layout = "wide" if any(p in groups for p in _WIDE_CHOICE_PREFIXES) else "long"
    taken = set(given_names)
    if m.layout == "wide":
        if m.choice_cols is None:
            for prefix in _WIDE_CHOICE_PREFIXES:
                if prefix in groups:
                    m.choice_cols = _wide_prefix_glob(groups[prefix])
                    break
        if m.choice_cols:
            taken.update(_glob_columns(columns, m.choice_cols))
        if m.share_cols is None:
            for prefix in _WIDE_SHARE_PREFIXES:
                if prefix in groups and not set(groups[prefix]) & taken:
                    m.share_cols = _wide_prefix_glob(groups[prefix])
                    break
        if m.share_cols:
            taken.update(_glob_columns(columns, m.share_cols))
    roles = [("id_col", _ID_NAMES), ("question_col", _QUESTION_NAMES)]
    if m.layout == "long":
        roles += [("choice_col", _CHOICE_NAMES), ("share_col", _SHARE_NAMES)]
    roles += [("correct_col", _CORRECT_NAMES), ("subject_col", _SUBJECT_NAMES)]
    for attr, names in roles:  # in this order, so each column serves one role only
        if getattr(m, attr) is None:
            setattr(m, attr, _find(columns, names, taken))
        if getattr(m, attr):
            taken.add(getattr(m, attr))
    return m


# ------------------------------------------------------------------------------------- parsing

class _Ctx:
    def __init__(self, path: Path, header_row: int, excel: bool,
                 human: dict[str, str] | None = None):
        self.path = path
        self.header_row = header_row
        self.excel = excel
        self.human = human or {}   # variable name -> its column

    def row_no(self, index: int) -> int:
        """Spreadsheet-style row number (the header row counts; comment lines too, for CSV)."""
        return self.header_row + 1 + index

    def fail(self, index: int, what: str, *, column: str | None = None, qid: str | None = None,
             fix: str) -> BadInput:
        place = [f"row {self.row_no(index)}"]
        if column:
            place.append(f"column {column!r}")
        if qid:
            place.append(f"question {qid!r}")
        return BadInput(f"{', '.join(place)}: {what}", where=self.path, fix=fix)


def _check_columns(m: TableMapping, columns: list[str], path: Path) -> dict[str, list[str]]:
    present = ", ".join(columns)
    resolved: dict[str, list[str]] = {}
    for flag, attr in (("--id-col", "id_col"), ("--question-col", "question_col"),
                       ("--choice-col", "choice_col"), ("--share-col", "share_col"),
                       ("--correct-col", "correct_col"), ("--subject-col", "subject_col")):
        value = getattr(m, attr)
        if attr == "id_col" and value == ROW_INDEX_ID:
            if m.layout == "long":
                raise BadInput(f"--id-col {ROW_INDEX_ID} applies to the wide layout (a row per "
                               "question)", where=path, fix="name an id column instead")
            continue
        if value and value not in columns:
            raise BadInput(f"column {value!r} ({flag}) not found", where=path,
                           fix=f"columns present: {present}")
    if m.question_col is None:
        raise BadInput("cannot tell which column holds the question text", where=path,
                       fix=f"pass --question-col (columns present: {present})")
    if m.layout == "wide":
        if not m.choice_cols:
            raise BadInput("cannot find the option columns of the wide layout (option_1..k)",
                           where=path, fix=f"pass --choice-cols GLOB (columns present: {present})")
        choice_cols = _glob_columns(columns, m.choice_cols)
        if not choice_cols:
            raise BadInput(f"no column matches {m.choice_cols!r} (--choice-cols)", where=path,
                           fix=f"columns present: {present}")
        resolved["choices"] = choice_cols
        if m.share_cols:
            share_cols = _glob_columns(columns, m.share_cols)
            if not share_cols:
                raise BadInput(f"no column matches {m.share_cols!r} (--share-cols)", where=path,
                               fix=f"columns present: {present}")
            if len(share_cols) != len(choice_cols):
                raise BadInput(f"{len(choice_cols)} option columns ({m.choice_cols}) but "
                               f"{len(share_cols)} share columns ({m.share_cols})", where=path,
                               fix="give globs that match one share column per option column")
            resolved["shares"] = share_cols
    elif m.layout == "long":
        if m.choice_col is None:
            raise BadInput("cannot tell which column holds the option labels", where=path,
                           fix=f"pass --choice-col (columns present: {present})")
    else:
        raise BadInput(f"unknown layout {m.layout!r}", fix="use --layout long or --layout wide")
    return resolved


def _text(value: Any) -> str:
    if is_empty(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _resolve_correct(value: Any, choices: list[str]) -> int | None:
    """Option index for a correct-answer cell, or None if it does not name an option."""
    s = _text(value)
    if not s:
        return None
    lowered = [c.strip().lower() for c in choices]
    if lowered.count(s.lower()) == 1:
        return lowered.index(s.lower())
    t = s.strip("()[]. ")
    if len(t) == 1 and t.isalpha() and t.isascii():
        i = ord(t.upper()) - ord("A")
        return i if i < len(choices) else None
    if re.fullmatch(r"\d+(\.0+)?", t):
        i = int(float(t)) - 1
        return i if 0 <= i < len(choices) else None
    return None


def _share(ctx: _Ctx, idx: int, value: Any, column: str, qid: str) -> float:
    v = try_percent(value)
    if v is None:
        if is_empty(value):
            raise ctx.fail(idx, "empty share for a listed option", column=column, qid=qid,
                           fix="fill it in (0 if nobody chose that option)")
        raise ctx.fail(idx, f"{_text(value)[:40]!r} is not a share or percentage", column=column,
                       qid=qid, fix=f"write a fraction or {ACCEPTED}")
    return v


def _meta(rec: dict, row: int) -> dict:
    """A question's meta: its row, and its free-recall answer variants where the table has an
    ``answer_variants`` column (``|``-separated; the grading's automatic pre-grade reads them)."""
    variants = _text(rec.get(ANSWER_VARIANTS_COL, ""))
    return {"row": row, ANSWER_VARIANTS_COL: variants} if variants else {"row": row}


def _parse_wide(frame: pd.DataFrame, m: TableMapping, cols: dict[str, list[str]],
                ctx: _Ctx) -> list[RawQuestion]:
    choice_cols = cols["choices"]
    share_cols = cols.get("shares")
    raw: list[RawQuestion] = []
    records = frame.to_dict("records")
    for idx, rec in enumerate(records):
        text = _text(rec[m.question_col])
        if not text and all(is_empty(v) for v in rec.values()):
            continue  # a blank row
        qid = (str(idx) if m.id_col == ROW_INDEX_ID else
               _text(rec[m.id_col]) if m.id_col else "")
        if not text:
            raise ctx.fail(idx, "empty question text", column=m.question_col, qid=qid or None,
                           fix="fill it in or delete the row")
        qid = qid or text_hash_id(text)
        choices: list[str] = []
        shares: list[float] = []
        for ccol, cell, scol, svalue in _option_cells(rec, choice_cols, share_cols, ctx, idx, qid):
            label = _text(cell)
            if not label:
                if scol and not is_empty(svalue):
                    raise ctx.fail(idx, "a share without an option label", column=ccol, qid=qid,
                                   fix="fill in the option or clear the share")
                continue
            choices.append(label)
            if scol:
                shares.append(_share(ctx, idx, svalue, scol, qid))
        correct = None
        if m.correct_col:
            cell = rec[m.correct_col]
            if not is_empty(cell):
                correct = _resolve_correct(cell, choices)
                if correct is None:
                    raise ctx.fail(idx, f"correct answer {_text(cell)[:40]!r} names no option",
                                   column=m.correct_col, qid=qid,
                                   fix="write a letter (A..), a 1-based number or the option text")
        subject = _text(rec[m.subject_col]) if m.subject_col else ""
        raw.append(RawQuestion(question_id=qid, text=text, choices=choices,
                               shares=shares if share_cols else None, correct=correct,
                               subject=subject or None, meta=_meta(rec, ctx.row_no(idx)),
                               location=f"{ctx.path}: row {ctx.row_no(idx)}",
                               human={name: _human_value(ctx, idx, rec[column], column, qid)
                                      for name, column in ctx.human.items()}))
    return raw


def _option_cells(rec: dict[str, Any], choice_cols: list[str], share_cols: list[str] | None,
                  ctx: _Ctx, idx: int, qid: str) -> list[tuple[str, Any, str | None, Any]]:
    """``(column, label cell, share column, share cell)`` of each option slot of a wide row: one
    per option column, or one per item of a list column (Parquet)."""
    if not isinstance(rec[choice_cols[0]], list):
        return [(c, rec[c], share_cols[j] if share_cols else None,
                 rec[share_cols[j]] if share_cols else None) for j, c in enumerate(choice_cols)]
    labels, scol = rec[choice_cols[0]], share_cols[0] if share_cols else None
    shares = rec[scol] if scol else None
    if scol and not (isinstance(shares, list) and len(shares) == len(labels)):
        n = len(shares) if isinstance(shares, list) else "no"
        raise ctx.fail(idx, f"{len(labels)} options but {n} shares", column=scol, qid=qid,
                       fix="give one share per option")
    return [(choice_cols[0], label, scol, shares[j] if scol else None)
            for j, label in enumerate(labels)]


def _human_value(ctx: _Ctx, idx: int, cell: Any, column: str, qid: str) -> float:
    """A human variable's cell as a number (NaN where it is empty)."""
    if is_empty(cell):
        return float("nan")
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return float(cell)
    try:
        return float(str(cell).strip())
    except ValueError:
        raise ctx.fail(idx, f"{_text(cell)[:40]!r} is not a number (human variable)",
                       column=column, qid=qid,
                       fix="write a number, or leave the cell empty") from None


def resolve_human(specs: Sequence[str], columns: list[str], path: Path) -> dict[str, str]:
    """Each human variable's column: ``NAME=COLUMN``, or a column name or glob (each matching
    column under its own name)."""
    out: dict[str, str] = {}
    present = ", ".join(columns)
    for spec in specs:
        name, sep, column = spec.partition("=")
        if sep:
            if column not in columns:
                raise BadInput(f"column {column!r} (--human-col {spec}) not found", where=path,
                               fix=f"columns present: {present}")
            pairs = [(name.strip(), column)]
        else:
            matched = [c for c in columns if fnmatch.fnmatchcase(c, spec)]
            if not matched:
                raise BadInput(f"no column matches {spec!r} (--human-col)", where=path,
                               fix=f"columns present: {present}")
            pairs = [(c, c) for c in matched]
        for name, column in pairs:
            if not _HUMAN_NAME_RE.match(name):
                raise BadInput(f"{name!r} cannot name a human variable (--human-col)", where=path,
                               fix="use letters, digits, '_', '.' or '-': --human-col NAME=COLUMN")
            if out.get(name, column) != column:
                raise BadInput(f"two columns for human variable {name!r}: {out[name]!r} and "
                               f"{column!r}", where=path, fix="give each variable one column")
            out[name] = column
    return out


def _parse_long(frame: pd.DataFrame, m: TableMapping, ctx: _Ctx) -> list[RawQuestion]:
    qcol, ccol, scol = m.question_col, m.choice_col, m.share_col
    assert qcol is not None and ccol is not None
    order: list[str] = []
    groups: dict[str, list[int]] = {}
    texts = [_text(v) for v in frame[qcol].tolist()]
    ids = [_text(v) for v in frame[m.id_col].tolist()] if m.id_col else None
    labels = [_text(v) for v in frame[ccol].tolist()]
    share_cells = frame[scol].tolist() if scol else None
    for idx, text in enumerate(texts):
        qid = ids[idx] if ids is not None else ""
        if not text and not qid and not labels[idx]:
            continue
        if not text and not qid:
            raise ctx.fail(idx, "empty question text", column=qcol,
                           fix="fill it in or delete the row")
        key = qid or text_hash_id(text)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(idx)
    correct_cells = frame[m.correct_col].tolist() if m.correct_col else None
    subjects = [_text(v) for v in frame[m.subject_col].tolist()] if m.subject_col else None
    raw: list[RawQuestion] = []
    for key in order:
        rows = groups[key]
        first = rows[0]
        text = next((texts[i] for i in rows if texts[i]), "")
        if not text:
            raise ctx.fail(first, "empty question text", column=qcol, qid=key,
                           fix="fill it in or delete the rows")
        choices: list[str] = []
        shares: list[float] = []
        for i in rows:
            if not labels[i]:
                raise ctx.fail(i, "empty option label", column=ccol, qid=key,
                               fix="fill it in or delete the row")
            choices.append(labels[i])
            if share_cells is not None:
                shares.append(_share(ctx, i, share_cells[i], str(scol), key))
        correct = None
        if correct_cells is not None:
            cells = [_text(correct_cells[i]) for i in rows]
            lowered = {c.lower() for c in cells}
            if lowered <= (_TRUE | _FALSE) and not (lowered <= {""}) and \
                    not any(c.lower() in [x.lower() for x in choices] for c in cells if c):
                flagged = [k for k, c in enumerate(cells) if c.lower() in _TRUE]
                if len(flagged) > 1:
                    raise ctx.fail(rows[flagged[1]], "more than one option flagged correct",
                                   column=m.correct_col, qid=key, fix="flag exactly one option")
                correct = flagged[0] if flagged else None
            else:
                named = next((c for c in cells if c), "")
                if named:
                    correct = _resolve_correct(named, choices)
                    if correct is None:
                        raise ctx.fail(first, f"correct answer {named[:40]!r} names no option",
                                       column=m.correct_col, qid=key,
                                       fix="write a letter (A..), a 1-based number, the option "
                                           "text, or a 0/1 flag per row")
        subject = next((subjects[i] for i in rows if subjects[i]), "") if subjects else ""
        raw.append(RawQuestion(question_id=key, text=text, choices=choices,
                               shares=shares if share_cells is not None else None, correct=correct,
                               subject=subject or None, meta={"row": ctx.row_no(first)},
                               location=f"{ctx.path}: row {ctx.row_no(first)}",
                               human=_long_human(frame, rows, ctx, key)))
    return raw


def _long_human(frame: pd.DataFrame, rows: list[int], ctx: _Ctx, qid: str) -> dict[str, float]:
    """A question's human variables in the long layout: the value its rows give (one value, or
    the same on every row that gives one)."""
    out: dict[str, float] = {}
    for name, column in ctx.human.items():
        values = [(i, _human_value(ctx, i, frame.at[frame.index[i], column], column, qid))
                  for i in rows]
        given = [(i, v) for i, v in values if not np.isnan(v)]
        if len({v for _, v in given}) > 1:
            raise ctx.fail(given[1][0], f"human variable {name!r} is {given[1][1]:g} here but "
                           f"{given[0][1]:g} on row {ctx.row_no(given[0][0])}", column=column,
                           qid=qid, fix="give one value per question")
        out[name] = given[0][1] if given else float("nan")
    return out


def parse_table(path: str | Path, mapping: TableMapping | None = None, *,
                sheet: str | None = None, human: Sequence[str] = ()) -> Parsed:
    """Parse a CSV/XLSX/Parquet table with the given (or detected) mapping, keeping the human
    variables ``human`` names (:func:`resolve_human`); the result holds the mapping used and the
    table's first rows (``HEAD_ROWS``)."""
    frame, header_row, warnings, info = read_frame(path, sheet=sheet)
    p = Path(path).expanduser()
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise BadInput(f"repeated column name(s) {', '.join(map(repr, dup))}", where=p,
                       fix="give every column a distinct header")
    m = detect_mapping(columns, mapping, list_columns(frame))
    cols = _check_columns(m, columns, p)
    ctx = _Ctx(p, header_row, p.suffix.lower() in EXCEL_SUFFIXES,
               resolve_human(human, columns, p))
    if m.layout == "wide":
        raw = _parse_wide(frame, m, cols, ctx)
    else:
        raw = _parse_long(frame, m, ctx)
    if m.id_col is None:
        warnings.append(f"{p}: no id column; question ids are hashes of the question text "
                        "(t-<sha256[:12]>); pass --id-col to use your own")
    seen: dict[str, str] = {}
    for q in raw:
        if q.question_id in seen:
            how = f"column {m.id_col!r}" if m.id_col else "the question text (no id column)"
            raise BadInput(f"{q.location.split(': ', 1)[-1]}: duplicate question id "
                           f"{q.question_id!r} from {how} (first at {seen[q.question_id]})",
                           where=p, fix="make the ids unique, or pass --id-col with a unique "
                                        "column")
        seen[q.question_id] = q.location.split(": ", 1)[-1]
    details = {"format": "table", "mapping": m.as_dict(), "rows": int(len(frame)),
               "columns": columns, **info}
    if ctx.human:
        details["human_columns"] = ctx.human
    if m.layout == "wide":
        details["choice_columns"] = cols["choices"]
        details["share_columns"] = cols.get("shares")
    return Parsed("table", p, raw, details, warnings, mapping=m, head=frame.head(HEAD_ROWS))
