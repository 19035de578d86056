"""The canonical Dataset: ``questions.parquet``, ``import_report.json``, ``dropped.csv``.

A dataset folder is immutable once written; a new import (or a curated version) is a new folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import BadInput
from datasets_io.atomic import atomic_dir, remove_dir
from datasets_io.workspace import Workspace

QUESTIONS_FILE = "questions.parquet"
REPORT_FILE = "import_report.json"
DROPPED_FILE = "dropped.csv"

QUESTION_COLUMNS = ["question_id", "source", "text", "choices", "human_share", "correct",
                    "subject", "n_choices", "meta"]
DROPPED_COLUMNS = ["question_id", "reason", "detail", "text"]
# A per-question human variable (a share correct, a response time, ...) is a float64 column
# "human:NAME" after the fixed ones; a question without a value has NaN.
HUMAN_PREFIX = "human:"

_SCHEMA = pa.schema([
    ("question_id", pa.string()),
    ("source", pa.string()),
    ("text", pa.string()),
    ("choices", pa.list_(pa.string())),
    ("human_share", pa.list_(pa.float64())),
    ("correct", pa.int64()),
    ("subject", pa.string()),
    ("n_choices", pa.int64()),
    ("meta", pa.string()),
])

# meta is stored as compact JSON, keys sorted (stable bytes for the same content)
_META_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=str)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Dataset:
    name: str
    questions: pd.DataFrame
    report: dict[str, Any]
    dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DROPPED_COLUMNS))
    path: Path | None = None

    @property
    def source(self) -> str:
        return str(self.report.get("source", ""))

    @property
    def human_variables(self) -> list[str]:
        """The names of the dataset's per-question human variables, in file order."""
        return [c[len(HUMAN_PREFIX):] for c in human_columns(self.questions)]

    def summary(self) -> dict[str, Any]:
        """The facts `alignuq datasets show` prints (json keys are a documented interface)."""
        q = self.questions
        by_reason = self.dropped["reason"].value_counts().sort_index() if len(self.dropped) else []
        hist = q["n_choices"].value_counts().sort_index() if len(q) else []
        subjects = q["subject"].dropna().value_counts().sort_index() if len(q) else []
        return {
            "name": self.name,
            "source": self.source,
            "n_questions": int(len(q)),
            "n_dropped": int(len(self.dropped)),
            "dropped_by_reason": {str(k): int(v) for k, v in dict(by_reason).items()},
            "n_choices_histogram": {str(int(k)): int(v) for k, v in dict(hist).items()},
            "subjects": {str(k): int(v) for k, v in dict(subjects).items()},
            "has_human_share": bool(q["human_share"].notna().any()) if len(q) else False,
            "has_correct": bool(q["correct"].notna().any()) if len(q) else False,
            "settings": self.report.get("settings", {}),
            "warnings": self.report.get("warnings", []),
            "file": self.report.get("file"),
            "sample": self.sample(),
            "human_variables": {name: int(q[HUMAN_PREFIX + name].notna().sum())
                                for name in self.human_variables},
        }

    def sample(self) -> dict[str, int] | None:
        """How the import's ``--sample`` drew the questions: ``n`` of ``of``, ``seed``, and how
        many warnings were about questions left out (not listed); None when nothing was left out.
        A dataset derived from a sample keeps its parent's (it holds ``n`` minus the excluded)."""
        counts = self.report.get("counts", {})
        settings = self.report.get("settings", {})
        if not counts.get("n_not_sampled"):
            return None
        n = int(settings["sample"])
        return {"n": n, "of": n + int(counts["n_not_sampled"]), "seed": int(settings["seed"]),
                "warnings_not_sampled": int(counts.get("n_warnings_not_sampled", 0))}

    def report_hash(self) -> str:
        """sha256 of the import report file: ties an exported table to this exact import."""
        if self.path is None:
            return ""
        return hashlib.sha256((self.path / REPORT_FILE).read_bytes()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise BadInput(f"invalid dataset name {name!r}",
                       fix="use letters, digits, '.', '_' or '-' (at most 100, not starting with '.')")
    return name


def human_columns(frame: pd.DataFrame) -> list[str]:
    """The ``human:NAME`` columns of a questions frame."""
    return [str(c) for c in frame.columns if str(c).startswith(HUMAN_PREFIX)]


def questions_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build a questions frame with the canonical columns and dtypes from row dicts (and the
    ``human:NAME`` keys they carry, as float64 columns in the order first seen)."""
    human = list(dict.fromkeys(k for r in rows for k in r if str(k).startswith(HUMAN_PREFIX)))
    frame = pd.DataFrame(rows, columns=QUESTION_COLUMNS + human)
    frame["correct"] = frame["correct"].astype("Int64")
    frame["n_choices"] = frame["n_choices"].astype("int64")
    for column in human:
        frame[column] = frame[column].astype("float64")
    return frame


def write_dataset(ws: Workspace, ds: Dataset, *, force: bool = False) -> Path:
    """Write atomically to ``workspace/datasets/NAME``; refuse an existing name unless ``force``."""
    check_name(ds.name)
    ws.ensure()
    final = ws.datasets / ds.name
    if final.exists() and not force:
        raise BadInput(f"dataset {ds.name!r} already exists", where=final,
                       fix="choose another --name, or pass --force to replace it")
    q = ds.questions.copy()
    encode = _META_JSON.encode
    q["meta"] = [m if isinstance(m, str) else encode(m) for m in q["meta"]]
    q["correct"] = q["correct"].astype("Int64")
    human = human_columns(q)
    schema = _SCHEMA
    for column in human:
        schema = schema.append(pa.field(column, pa.float64()))
    table = pa.Table.from_pandas(q[QUESTION_COLUMNS + human].astype({c: "float64" for c in human}),
                                 schema=schema, preserve_index=False)
    with atomic_dir(final, replace=force) as tmp:
        pq.write_table(table, tmp / QUESTIONS_FILE)
        (tmp / REPORT_FILE).write_text(json.dumps(ds.report, indent=2, sort_keys=True, default=str),
                                       encoding="utf-8")
        ds.dropped.reindex(columns=DROPPED_COLUMNS).to_csv(tmp / DROPPED_FILE, index=False)
    ds.path = final
    return final


def list_datasets(ws: Workspace) -> list[str]:
    if not ws.datasets.is_dir():
        return []
    return sorted(p.name for p in ws.datasets.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / QUESTIONS_FILE).exists())


def dataset_path(ws: Workspace, name: str) -> Path:
    """The folder of dataset ``name``; BadInput naming the known ones when there is none."""
    path = ws.datasets / name
    if not (path / QUESTIONS_FILE).exists():
        known = ", ".join(list_datasets(ws)) or "none"
        raise BadInput(f"no dataset named {name!r} in {ws.datasets}",
                       fix=f"run `alignuq datasets list` (known: {known})")
    return path


def load_dataset(ws: Workspace, name: str) -> Dataset:
    path = dataset_path(ws, name)
    q = pq.read_table(path / QUESTIONS_FILE).to_pandas()
    q["choices"] = q["choices"].map(list)
    q["human_share"] = q["human_share"].map(lambda v: None if v is None else [float(x) for x in v])
    q["correct"] = q["correct"].astype("Int64")
    report = json.loads((path / REPORT_FILE).read_text(encoding="utf-8"))
    dropped = pd.read_csv(path / DROPPED_FILE, dtype=str, keep_default_na=False)
    return Dataset(name=name, questions=q, report=report, dropped=dropped, path=path)


def delete_dataset(ws: Workspace, name: str) -> Path:
    """Remove dataset ``name`` from the workspace (its runs are the caller's concern)."""
    path = dataset_path(ws, name)
    remove_dir(path)
    return path


def letter(index: int | None) -> str:
    return "" if index is None or pd.isna(index) else LETTERS[int(index)]
