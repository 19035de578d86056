"""Roper Center iPoll "topline" text exports -> :class:`RawQuestion` list.

Grammar (one header line, a blank line, then blocks)::

    Example Research Poll [06/02/2020 - 06/09/2020]     title, ending in [date] or [date - date]
                                                          blank
    How much, if at all, do you trust ...?              question text (may wrap over lines)
    22% A great deal                                      answer lines: NN% Label; '*' or a bare
    41% A fair amount, with a label that                  '%' = under 0.5% (read as 0); a line
    wraps onto a second line                              without a leading percent continues the
                                                          previous label; blank lines may appear
    Citation: Example Research Poll. Sponsor: none.       organisation = text before the first '.'
    Question: [USEXMP.060920.R07]                         question id (required)
    Study: [Roper #31100002]                              Roper study number
    Sample: National adult                                universe
    Sample Size: 2311
    ------------------------------------------------------------   (60 dashes; optional at the end)

Messy but valid: BOM, cp1252, CRLF (see :mod:`datasets_io.textio`), a last block without its
closing dashes. Refused with file:line: a truncated last block, a non-numeric percent, a block
without ``Question: [ID]``, a block without answers, duplicate question ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.errors import BadInput
from datasets_io.cells import ACCEPTED, try_percent
from datasets_io.rules import Parsed, RawQuestion, gc_paused
from datasets_io.textio import read_text

_DATE = r"\d{1,2}/\d{1,2}/\d{4}"
TITLE_RE = re.compile(rf"^(?P<title>.*?)\s*\[\s*(?P<start>{_DATE})\s*(?:-\s*(?P<end>{_DATE})\s*)?\]\s*$")
_DASH_LINE_RE = re.compile(r"^[ \t]*-{20,}[ \t]*$", re.MULTILINE)
_FIELD_RE = re.compile(r"^(?P<key>Citation|Question|Study|Sample Size|Sample|Universe|Notes?)\s*:\s*"
                       r"(?P<value>.*)$", re.IGNORECASE)
_FIELD_KEYS = {"citation": "citation", "question": "question", "study": "study",
               "sample size": "sample_size", "sample": "universe", "universe": "universe",
               "note": "notes", "notes": "notes"}
_ID_RE = re.compile(r"\[\s*([^\]]+?)\s*\]")
_STUDY_RE = re.compile(r"#\s*([A-Za-z0-9_.-]+)")
DASH_LINE = "-" * 60


@dataclass
class _Block:
    start: int  # 1-based line number of the first line
    lines: list[str] = field(default_factory=list)  # stripped; line k is file line start + k
    closed: bool = False  # ended by a dash line
    fast: re.Match[str] | None = None  # a block in the canonical layout (see _FAST_RE)


# The canonical layout, matched in one go (most blocks of a real export): one title line, one
# blank, one line of question text, "NN% Label" / "* Label" / "% Label" lines (labels may wrap
# onto following lines), a blank, the five trailer lines in order, the dash line. Anything else
# goes through the line-by-line parser, which accepts every variant of the grammar and gives the
# precise errors; tests check that both paths read the same questions.
_CONT = r"(?!Citation:|[^\s%]*%|\*[ \t]|\*\n|\d[\d.,]*[ \t]+%)\S[^\n]*\n"
_ANSWER = rf"(?:\d+(?:\.\d+)?%|\*|%)[ \t][^\n]*\n(?:{_CONT})*"
_FAST_RE = re.compile(
    r"(?P<lead>\n*)(?P<title>[^\n]+)\n[ \t]*\n"
    r"(?P<text>[^\n]+)\n"
    rf"(?P<answers>(?:{_ANSWER})+)"
    r"[ \t]*\n"
    r"Citation:(?P<citation>[^\n]*)\n"
    r"Question:[ \t]*\[(?P<qid>[^\]\n]*)\][ \t]*\n"
    r"Study:(?P<study>[^\n]*)\n"
    r"Sample:(?P<universe>[^\n]*)\n"
    r"Sample Size:(?P<size>[^\n]*)\n(?:[ \t]*\n)*"
    r"[ \t]*-{20,}[ \t]*(?:\n|\Z)")
_FAST_ANSWER_RE = re.compile(rf"(\d+(?:\.\d+)?%|\*|%)[ \t]([^\n]*)\n((?:{_CONT})*)")


@lru_cache(maxsize=8192)
def _iso(us_date: str | None) -> str | None:
    if not us_date:
        return None
    month, day, year = (int(x) for x in us_date.split("/"))
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _split_blocks(text: str) -> tuple[str, int, list[_Block]]:
    """Header text, its line number, and the blocks (dash lines removed).

    Canonical blocks are matched whole by ``_FAST_RE`` at the current position; any other block
    runs up to the next dash line (or the end) and is split into stripped lines.
    """
    blocks: list[_Block] = []
    n = len(text)
    pos = 0
    line_no = 1
    header, header_line = "", 0
    # the header: the first non-blank line, unless it is already a title
    while pos < n:
        eol = text.find("\n", pos)
        eol = n if eol < 0 else eol
        first = text[pos:eol].strip()
        if first:
            if not TITLE_RE.match(first) and not _DASH_LINE_RE.match(text, pos):
                header, header_line = first, line_no
                pos = eol + 1
                line_no += 1
            break
        pos = eol + 1
        line_no += 1
    fast_match = _FAST_RE.match
    while pos < n:
        fm = fast_match(text, pos)
        if fm is not None:
            blocks.append(_Block(start=line_no + len(fm.group("lead")), closed=True, fast=fm))
            end = fm.end()
            line_no += text.count("\n", pos, end)
            pos = end
            continue
        dash = _DASH_LINE_RE.search(text, pos)
        end = dash.start() if dash is not None else n
        lines = [ln.strip() for ln in text[pos:end].split("\n")]
        i = 0
        while i < len(lines) and not lines[i]:
            i += 1
        start = line_no + i
        line_no += text.count("\n", pos, end)
        if dash is not None:
            pos = dash.end() + 1
            line_no += 1
        else:
            pos = n
        while lines and not lines[-1]:
            lines.pop()
        if i >= len(lines):
            continue  # nothing but blank lines (e.g. after the last dashes)
        blocks.append(_Block(start=start, lines=lines[i:], closed=dash is not None))
    return header, header_line, blocks


def _cell(tok: str) -> float | None:
    """Percent of an answer token ('58%', '*', '%', '4,5%'); None if not numeric."""
    if tok == "*" or tok == "%":
        return 0.0
    body = tok[:-1] if tok.endswith("%") else tok
    if body.isdigit():
        return float(body)
    return try_percent(tok)


@dataclass
class _Parts:
    """What the line-by-line parser read from a block's lines."""

    text: list[str] = field(default_factory=list)    # question text lines
    choices: list[str] = field(default_factory=list)
    cells: list[float] = field(default_factory=list)
    answer_lines: list[int] = field(default_factory=list)  # file line of each answer
    fields: dict[str, str] = field(default_factory=dict)   # trailer: key -> value
    field_lines: dict[str, int] = field(default_factory=dict)


def _parse_block(b: _Block, path: Path, *, is_last: bool,
                 expect_fields: set[str]) -> tuple[RawQuestion, set[str]]:
    title_line = b.lines[0]
    m = TITLE_RE.match(title_line)
    if m is None:
        raise BadInput(f"expected a title line ending in [MM/DD/YYYY] or "
                       f"[MM/DD/YYYY - MM/DD/YYYY], found {title_line[:60]!r}",
                       where=path, line=b.start,
                       fix="check that the blocks are separated by a line of 60 dashes")
    parts = _read_lines(b, path)
    if is_last and not b.closed:
        _check_not_truncated(b, parts, path, expect_fields)
    qid = _question_id(b, parts, path)
    if not parts.choices:
        raise BadInput(f"question {qid!r} (block from line {b.start}) has no answer lines "
                       "('NN% Label')", where=path, line=b.start,
                       fix="check the block, or remove it")
    for label, no in zip(parts.choices, parts.answer_lines, strict=True):
        if not label:
            raise BadInput(f"question {qid!r}: answer line without a label", where=path, line=no,
                           fix="write 'NN% Label'")
    if not parts.text:
        raise BadInput(f"question {qid!r} (block from line {b.start}) has no question text",
                       where=path, line=b.start, fix="check the block")
    q = _question(m, " ".join(parts.text), parts.choices, parts.cells, parts.fields, b.start, path)
    return q, set(parts.fields)


def _read_lines(b: _Block, path: Path) -> _Parts:
    """Question text, answer lines (labels may wrap) and trailer fields (values may wrap) of a
    block, after its title line."""
    lines, first_no, out = b.lines, b.start, _Parts()
    k = 1
    while k < len(lines) and not lines[k]:
        k += 1
    # the first line after the title is question text even if it starts like an answer
    if k < len(lines) and not (":" in lines[k][:12] and _FIELD_RE.match(lines[k])):
        out.text.append(lines[k])
        k += 1
    last_field: str | None = None
    for idx in range(k, len(lines)):
        s = lines[idx]
        if not s:
            continue
        fm = _FIELD_RE.match(s) if ":" in s[:12] else None
        if fm is not None:
            last_field = _FIELD_KEYS[fm.group("key").lower()]
            out.fields[last_field] = fm.group("value").strip()
            out.field_lines[last_field] = first_no + idx
        elif last_field is not None:  # inside the trailer: wrapped field value
            if TITLE_RE.match(s):
                raise BadInput(f"a title line inside the block that starts at line {first_no}: "
                               "is the line of dashes before it missing?", where=path,
                               line=first_no + idx,
                               fix="add a line of 60 dashes between the two blocks")
            out.fields[last_field] = f"{out.fields[last_field]} {s}"
        else:
            _read_body_line(s, first_no + idx, out, path)
    return out


def _read_body_line(s: str, line_no: int, out: _Parts, path: Path) -> None:
    """An answer line ("NN% Label", "NN % Label", "* Label"), a wrapped label, or text."""
    parts = s.split(None, 1)
    tok = parts[0]
    if tok[0].isdigit() and not tok.endswith("%") and len(parts) > 1 and \
            parts[1].startswith("%"):  # "58 % Label"
        tok += "%"
        parts = [tok, *parts[1][1:].split(None, 1)] if parts[1][1:].strip() else [tok]
    if tok == "*" or tok.endswith("%"):
        value = _cell(tok)
        if value is None:
            raise BadInput(f"non-numeric percent {tok!r} in answer line {s[:50]!r}",
                           where=path, line=line_no, fix=f"write {ACCEPTED}")
        out.choices.append(parts[1].strip() if len(parts) > 1 else "")
        out.cells.append(value)
        out.answer_lines.append(line_no)
    elif out.choices:
        out.choices[-1] = f"{out.choices[-1]} {s}" if out.choices[-1] else s
    else:
        out.text.append(s)


def _check_not_truncated(b: _Block, parts: _Parts, path: Path, expect_fields: set[str]) -> None:
    """The file's last block, not closed by a dash line, must have its answers and the trailer
    fields the other blocks have; otherwise the export was cut short."""
    last_no = b.start + len(b.lines) - 1
    grammar = ("citation", "question", "study", "universe", "sample_size")
    missing = [f for f in sorted(expect_fields, key=lambda k: (k not in grammar,
                                 grammar.index(k) if k in grammar else 0, k))
               if f not in parts.fields]
    if not parts.choices or missing:
        what = "its answers" if not parts.choices else f"its {_pretty(missing[0])} line"
        raise BadInput(f"the last block (from line {b.start}) ends at line {last_no} before "
                       f"{what}: the file looks truncated", where=path, line=last_no,
                       fix="export the file again, or delete the incomplete last block")


def _question_id(b: _Block, parts: _Parts, path: Path) -> str:
    """The id in the block's 'Question: [ID]' line."""
    qid_field = parts.fields.get("question")
    if qid_field is None:
        raise BadInput(f"the block starting at line {b.start} ({b.lines[0][:40]!r}) has no "
                       "'Question: [ID]' line", where=path, line=b.start,
                       fix="add the question id line from the export, or remove the block")
    idm = _ID_RE.search(qid_field)
    qid = (idm.group(1) if idm else qid_field).strip()
    if not qid:
        raise BadInput("empty question id in 'Question: [ID]'", where=path,
                       line=parts.field_lines["question"], fix="fill in the id from the export")
    return qid


def _fast_block(b: _Block, path: Path) -> tuple[RawQuestion, set[str]] | None:
    """The question of a canonical block, or None to hand it to the line-by-line parser."""
    fm = b.fast
    assert fm is not None
    m = TITLE_RE.match(fm.group("title").strip())
    qid = fm.group("qid").strip()
    if m is None or not qid:
        return None
    choices: list[str] = []
    cells: list[float] = []
    for tok, label, cont in _FAST_ANSWER_RE.findall(fm.group("answers")):
        cells.append(float(tok[:-1]) if len(tok) > 1 else 0.0)
        label = label.strip()
        if cont:
            label = " ".join([label, *(c.strip() for c in cont.split("\n") if c.strip())])
        if not label:
            return None
        choices.append(label)
    fields = {"citation": fm.group("citation").strip(), "question": qid,
              "study": fm.group("study").strip(), "universe": fm.group("universe").strip(),
              "sample_size": fm.group("size").strip()}
    q = _question(m, fm.group("text").strip(), choices, cells, fields, b.start, path, qid=qid)
    return q, set(fields)


def _slow_lines(b: _Block) -> _Block:
    fm = b.fast
    assert fm is not None
    lines = [ln.strip() for ln in fm.group(0).split("\n")]
    lines = lines[len(fm.group("lead")):]
    while lines and (not lines[-1] or _DASH_LINE_RE.match(lines[-1])):
        lines.pop()
    return _Block(start=b.start, lines=lines, closed=True)


def _question(m: re.Match[str], text: str, choices: list[str], cells: list[float],
              fields: dict[str, str], first_no: int, path: Path, *,
              qid: str | None = None) -> RawQuestion:
    if qid is None:
        idm = _ID_RE.search(fields["question"])
        qid = (idm.group(1) if idm else fields["question"]).strip()
    citation = fields.get("citation")
    title = m.group("title").strip()
    organisation = citation.split(".", 1)[0].strip() if citation else title
    study = fields.get("study")
    sm = _STUDY_RE.search(study) if study else None
    size_text = fields.get("sample_size")
    sample_size: int | None = None
    if size_text:
        digits = size_text.replace(",", "").replace(" ", "")
        sample_size = int(digits) if digits.isdigit() else None
    start, end = m.group("start"), m.group("end") or m.group("start")
    meta: dict[str, Any] = {
        "title": title,
        "organisation": organisation,
        "date_start": _iso(start) or start,
        "date_end": _iso(end) or end,
        "roper_question_id": qid,
        "roper_study": sm.group(1) if sm else study,
        "universe": fields.get("universe"),
        "sample_size": sample_size if sample_size is not None else size_text,
        "citation": citation,
        "line": first_no,
    }
    if "notes" in fields:
        meta["notes"] = fields["notes"]
    return RawQuestion(question_id=qid, text=text, choices=choices, shares=cells, meta=meta,
                       location=f"{path}:{first_no}")


def _pretty(key: str) -> str:
    return {"question": "'Question: [ID]'", "citation": "'Citation:'", "study": "'Study:'",
            "universe": "'Sample:'", "sample_size": "'Sample Size:'"}.get(key, key)


def parse_roper(path: str | Path) -> Parsed:
    """Parse a topline file: its questions, details for the report, warnings."""
    with gc_paused():
        return _parse_roper(path)


def _parse_roper(path: str | Path) -> Parsed:
    tf = read_text(path)
    p = tf.path
    header, header_line, blocks = _split_blocks(tf.text)
    if not blocks:
        raise BadInput("no question blocks found (a title line ending in [MM/DD/YYYY])", where=p,
                       fix="is this a Roper iPoll topline text export?")
    # a last block without its closing dashes must have every trailer field that all the
    # earlier blocks had (at least the question id); otherwise the file was cut short
    common: set[str] | None = None
    raw: list[RawQuestion] = []
    for idx, b in enumerate(blocks):
        is_last = idx == len(blocks) - 1
        expect = {"question"} | (common or set())
        done = _fast_block(b, p) if b.fast is not None else None
        if done is None:
            if b.fast is not None:
                b = _slow_lines(b)
            done = _parse_block(b, p, is_last=is_last, expect_fields=expect)
        q, keys = done
        raw.append(q)
        common = keys if common is None else common & keys
    seen: dict[str, int] = {}
    for q in raw:
        line = int(q.meta["line"])
        if q.question_id in seen:
            raise BadInput(f"duplicate question id {q.question_id!r} (first in the block at line "
                           f"{seen[q.question_id]})", where=p, line=line,
                           fix="remove the repeated block (or fix its id)")
        seen[q.question_id] = line
    details = {"format": "roper", "header": header, "encoding": tf.encoding,
               "blocks": len(blocks), "last_block_closed": blocks[-1].closed}
    warnings = list(tf.warnings)
    if not blocks[-1].closed:
        warnings.append(f"{p}: the last block has no closing line of dashes (read anyway: it is "
                        "complete)")
    details["header_line"] = header_line
    return Parsed("roper", p, raw, details, warnings)
