"""`runs import`: per-question results made elsewhere, written as a run of the workspace.

The file (CSV or Parquet; never pickle) has one row per question: ``question_id``, ``cloze`` (the
answer letter), ``label_probs`` (a JSON list in the dataset's choice order; a list column in
Parquet), optionally ``choice_mass`` and ``prompt_tokens``, and any measures named as in
SCIENCE.md §2 (``top1_prob``, ``topk_entropy@5``, ``topp_size@0.9``, ...) or mapped with
``COLUMN=MEASURE``. Everything is checked before anything is written; the run folder (manifest
with ``source: import`` and the file's sha256, plus a results store) appears atomically.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import BadInput
from datasets_io.atomic import atomic_dir
from datasets_io.dataset import LETTERS, Dataset, load_dataset
from datasets_io.hashing import file_sha256
from datasets_io.workspace import Workspace, resolve_workspace
from engine.analysis.frames import is_measure
from engine.analysis.provenance import package_versions
from engine.measure_names import VARIANTS, fmt_p, parse_measure
from engine.store import Generation, ResultRow, ResultStore, write_manifest

BASE = ("question_id", "cloze", "label_probs")
OPTIONAL = ("choice_mass", "prompt_tokens")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class ImportedRun:
    """The run a results file became: its id and folder, its manifest, how many rows it holds,
    the measures read, and the columns ignored (not measures of SCIENCE.md §2)."""

    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    rows: int
    measures: list[str]
    ignored_columns: list[str]



def canonical_measure(name: str) -> str | None:
    """``'topp_size@0.90'`` -> ``'topp_size@0.9'``; None if not a measure of SCIENCE.md §2."""
    name = name.strip()
    try:
        kind, arg = parse_measure(name)
    except ValueError:
        return None
    if not is_measure(name):
        return None
    if kind == "topk_entropy":
        return f"{kind}@{int(arg)}" if arg is not None and arg == int(arg) and arg >= 2 else None
    if kind in ("topp_size", "topp_entropy"):
        return f"{kind}@{fmt_p(arg)}" if arg is not None and 0 < arg <= 1 else None
    return name if arg is None else None


def parse_mapping(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        col, sep, measure = item.partition("=")
        if not sep or not col.strip() or not measure.strip():
            raise BadInput(f"bad --map {item!r}", fix="write it as COLUMN=MEASURE, e.g. H=choice_entropy")
        target = canonical_measure(measure) or (measure.strip() if measure.strip() in BASE + OPTIONAL else None)
        if target is None:
            raise BadInput(f"--map {item!r}: {measure!r} is not a measure of SCIENCE.md §2",
                           fix="use e.g. choice_entropy, topk_entropy@10, topp_size@0.9")
        out[col.strip()] = target
    return out


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """The file as strings/objects, and how rows are named in messages ('line' or 'row')."""
    if not path.is_file():
        raise BadInput("no such file", where=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            sep = "\t" if suffix == ".tsv" else ","
            return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep), "line"
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq
            return pq.read_table(path).to_pandas(), "row"
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise BadInput(f"cannot read the file ({str(err).splitlines()[0]})", where=path) from None
    raise BadInput(f"unsupported file type {suffix!r}", where=path,
                   fix="give a .csv, .tsv or .parquet file (pickles are never read)")


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() in ("nan", "na", "null", "none"):
            return math.nan
        return float(text)
    return float(value)


def _probs(value: Any) -> list[float]:
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise ValueError("not a list")
    probs = [float(v) for v in value]
    if any(not math.isfinite(p) or p < 0 for p in probs):
        raise ValueError("a probability is negative or not a number")
    return probs


def parse_rows(frame: pd.DataFrame, questions: pd.DataFrame, mapping: dict[str, str], where: Path,
               unit: str) -> tuple[list[ResultRow], list[str], list[str]]:
    """Validate every row; returns (rows, measure names, ignored columns)."""
    frame = frame.rename(columns={c: mapping.get(str(c), str(c)) for c in frame.columns})
    rename = {c: canonical_measure(c) for c in frame.columns if c not in BASE + OPTIONAL}
    measures = [c for c, m in rename.items() if m is not None]
    ignored = [c for c, m in rename.items() if m is None]
    frame = frame.rename(columns={c: rename[c] for c in measures})
    measures = [rename[c] for c in measures]
    if len(set(measures)) != len(measures):
        raise BadInput("two columns name the same measure", where=where,
                       fix="drop one or map them apart with --map")
    missing = [c for c in BASE if c not in frame.columns]
    if missing:
        raise BadInput(f"missing column(s) {', '.join(missing)}", where=where,
                       fix="the file needs question_id, cloze and label_probs (or --map COL=NAME)")
    n_of = dict(zip(questions["question_id"], questions["n_choices"], strict=True))
    rows, seen = [], set()
    for i, rec in enumerate(frame.to_dict("records")):
        line = i + 2 if unit == "line" else i + 1
        qid = str(rec["question_id"]).strip()

        def bad(what: str, fix: str | None = None, _line: int = line, _qid: str = qid) -> BadInput:
            return BadInput(f"question {_qid!r}: {what}", where=where, line=_line, fix=fix)

        if qid not in n_of:
            raise bad("unknown question id", "the ids must be those of the dataset "
                      "(`alignuq datasets show NAME`)")
        if qid in seen:
            raise bad("question id repeated")
        seen.add(qid)
        n = int(n_of[qid])
        letter = str(rec["cloze"]).strip().upper()
        if len(letter) != 1 or letter not in LETTERS[:n]:
            raise bad(f"cloze {rec['cloze']!r} is not one of the letters A..{LETTERS[n - 1]}")
        try:
            probs = _probs(rec["label_probs"])
        except (ValueError, TypeError) as err:
            raise bad(f"label_probs is not a JSON list of probabilities ({err})") from None
        if len(probs) != n:
            raise bad(f"label_probs has {len(probs)} values but the question has {n} choices",
                      "list one probability per choice, in the dataset's choice order")
        values: dict[str, float | None] = {}
        for m in measures:
            try:
                v = _number(rec[m])
            except (ValueError, TypeError):
                raise bad(f"{m} is not a number ({rec[m]!r})") from None
            values[m] = None if math.isnan(v) else v
        try:
            mass = _number(rec.get("choice_mass")) if "choice_mass" in rec else math.nan
            tokens = _number(rec.get("prompt_tokens")) if "prompt_tokens" in rec else math.nan
        except (ValueError, TypeError):
            raise bad("choice_mass / prompt_tokens is not a number") from None
        rows.append(ResultRow(question_id=qid, cloze=LETTERS.index(letter), label_probs=probs,
                              choice_mass=float(sum(probs)) if math.isnan(mass) else mass,
                              measures=values,
                              prompt_tokens=None if math.isnan(tokens) else int(tokens)))
    if not rows:
        raise BadInput("the file has no rows", where=where)
    return rows, measures, ignored


def import_run(workspace: Path | None, file: Path, dataset: str, model_name: str, *,
               run_id: str | None = None, mapping: dict[str, str] | None = None,
               vocab_size: int | None = None, variant: str = "corrected",
               force: bool = False) -> ImportedRun:
    """Validate ``file`` against ``dataset`` and write the run folder into ``workspace``
    (--workspace, else $ALIGNUQ_WORKSPACE, else ./alignuq-workspace; created if missing)."""
    ws = resolve_workspace(workspace).ensure()
    ds = load_dataset(ws, dataset)
    file = Path(file)
    frame, unit = read_table(file)
    rows, measures, ignored = parse_rows(frame, ds.questions, mapping or {}, file, unit)
    return write_run(ws, ds, rows, measures, file, model_name, run_id=run_id,
                     vocab_size=vocab_size, variant=variant, force=force,
                     details={"mapping": mapping or {}, "ignored_columns": ignored})


def write_run(ws: Workspace, ds: Dataset, rows: list[ResultRow], measures: list[str], file: Path,
              model_name: str, *, run_id: str | None = None, vocab_size: int | None = None,
              variant: str = "corrected", force: bool = False,
              details: dict[str, Any] | None = None,
              side_files: dict[str, pd.DataFrame] | None = None, task: str = "score",
              generations: list[Generation] | None = None) -> ImportedRun:
    """Write ``rows`` (checked against ``ds``) as a run folder, atomically: its manifest says
    where they came from (``file`` and its sha256, and ``details``); ``side_files`` are written
    beside the results as Parquet (the prompts a released file recorded). A free-recall run
    (``task`` "generate") also stores each question's answer (``generations``)."""
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant {variant!r}", fix="use corrected or paper")
    sha = file_sha256(file)
    if run_id is None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-.")[:60] or "model"
        run_id = f"import-{slug}-{sha[:10]}"
    if not _RUN_ID.match(run_id):
        raise BadInput(f"invalid run id {run_id!r}", fix="use letters, digits, '.', '_' or '-'")
    final = ws.runs / run_id
    if final.exists() and not force:
        raise BadInput(f"run {run_id!r} already exists", where=final,
                       fix="pass another --run-id, or --force to replace it")
    kinds = [parse_measure(m) for m in measures]
    manifest = {
        "run_id": run_id, "dataset": ds.name, "dataset_report_sha256": ds.report_hash(),
        "model": {"name": model_name, "vocab_size": vocab_size, "source": "import"},
        "variant": variant, "measures": measures,
        "topk": sorted({int(a) for k, a in kinds if k == "topk_entropy"}),
        "topp": sorted({a for k, a in kinds if k in ("topp_size", "topp_entropy")}, reverse=True),
        "seed": None, "source": "import", "task": task,
        "import": {"file": str(file.resolve()), "file_sha256": sha, "rows": len(rows),
                   **(details or {})},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
    }
    with atomic_dir(final, replace=force) as tmp:
        write_manifest(tmp, manifest)
        with ResultStore(tmp / "results" / "main.sqlite", run_id, journal="delete") as store:
            store.add(rows, generations or ())
        (tmp / "results" / "main.sqlite.lock").unlink(missing_ok=True)
        for name, frame in (side_files or {}).items():
            frame.to_parquet(tmp / name, index=False)
    return ImportedRun(run_id, final, manifest, len(rows), measures,
                       list((details or {}).get("ignored_columns", [])))
