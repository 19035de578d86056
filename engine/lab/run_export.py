"""`export run`: a run's per-question results as a CSV or Parquet file, with its provenance.

One row per question (in dataset order) with the columns ``question_id``, ``cloze`` (the letter),
``label_probs`` (a list of doubles in Parquet, JSON text in CSV), ``choice_mass``, every measure
named as in SCIENCE.md §2 (in ``engine.measure_names`` order, raw nats; ``topp_size@p`` as
integers), with ``with_dataset`` the question's ``correct`` letter, ``human_share`` (a list, like
``label_probs``), ``subject`` and ``text`` from the run's dataset, and with ``with_prompts``
``prompt`` (the exact string fed to the model). Next to the file, ``FILE.provenance.json``
records the run's manifest, the dataset's import-report hash, package versions and the command
line. Both files are written atomically.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import BadInput
from datasets_io.atomic import atomic_file, write_text_atomic
from datasets_io.dataset import LETTERS, Dataset, letter, load_dataset
from datasets_io.hashing import file_sha256
from datasets_io.workspace import Workspace, resolve_workspace
from engine import runs as runs_mod
from engine import store as store_mod
from engine.analysis.render import format_for
from engine.grading import final_grades
from engine.lab.exports import new_export_path
from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP, measure_names

LIST_COLUMNS = ("label_probs", "human_share")  # Parquet: list<double>; CSV: JSON text
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class ExportedRun:
    """The written file and its sidecar, the provenance recorded, and the notes for the reader
    (a run not done, a dataset imported again since the run)."""

    path: Path
    provenance_path: Path
    provenance: dict[str, Any]
    notes: list[str]


def run_measures(manifest: dict[str, Any]) -> list[str]:
    names = manifest.get("measures")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    topk = tuple(int(k) for k in manifest.get("topk") or DEFAULT_TOPK)
    topp = tuple(float(p) for p in manifest.get("topp") or DEFAULT_TOPP)
    return measure_names(topk, topp)


def run_table(ws: Workspace, run_dir: Path, *, with_prompts: bool = False,
              with_dataset: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The export table of a run and facts for its provenance."""
    manifest = store_mod.read_manifest(run_dir)
    results = store_mod.read_results(run_dir)
    if results.empty:
        raise BadInput("the run has no results yet", where=run_dir,
                       fix="run it first (`alignuq run ...`), or wait for it to write rows")
    facts: dict[str, Any] = {"dataset": manifest.get("dataset"), "manifest": manifest}
    dataset = _run_dataset(ws, manifest, with_prompts=with_prompts, with_dataset=with_dataset)
    facts["dataset_report_sha256"] = dataset.report_hash() if dataset is not None else None
    results = _in_dataset_order(results, dataset)
    if manifest.get("task") == "generate":
        out = _answer_columns(run_dir, results["question_id"].astype(str))
    else:
        out = pd.DataFrame({
            "question_id": results["question_id"].astype(str).to_numpy(),
            "cloze": [LETTERS[int(c)] for c in results["cloze"]],
            "label_probs": [[float(x) for x in lp] for lp in results["label_probs"]],
            "choice_mass": results["choice_mass"].astype(float).to_numpy(),
        })
    for name in run_measures(manifest):
        col = results[name] if name in results.columns else pd.Series([float("nan")] * len(results))
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        if name.startswith("topp_size@"):
            out[name] = pd.array([None if pd.isna(v) else int(round(v)) for v in values], dtype="Int64")
        else:
            out[name] = values
    if with_dataset or with_prompts:
        assert dataset is not None  # _run_dataset refused a missing one
        _add_question_columns(out, dataset, manifest, with_dataset=with_dataset,
                              with_prompts=with_prompts)
    return out, facts


def _answer_columns(run_dir: Path, question_ids: pd.Series) -> pd.DataFrame:
    """A free-recall run's first columns: each answer, why it stopped, its length in tokens and
    its final grade (Y, N, ? or empty while pending: ``engine.grading``)."""
    answers = store_mod.read_generations(run_dir).set_index("question_id")
    final = final_grades(run_dir)["fr_correct"].map({1.0: "Y", 0.0: "N"})
    return pd.DataFrame({
        "question_id": question_ids.to_numpy(),
        "answer": question_ids.map(answers["answer"]).to_numpy(),
        "stop": question_ids.map(answers["stop"]).to_numpy(),
        "n_tokens": pd.array(question_ids.map(answers["n_tokens"]), dtype="Int64"),
        "final_grade": question_ids.map(final).to_numpy(),
    })


def _add_question_columns(out: pd.DataFrame, dataset: Dataset, manifest: dict[str, Any], *,
                          with_dataset: bool, with_prompts: bool) -> None:
    """The dataset's columns of each question (``--with-dataset``) and its prompt."""
    flag = "--with-dataset" if with_dataset else "--with-prompts"
    records = _question_records(dataset, out["question_id"], flag)
    if with_dataset:
        out["correct"] = [letter(r["correct"]) or None for r in records]
        out["human_share"] = [None if r["human_share"] is None else list(r["human_share"])
                              for r in records]
        out["subject"] = [r["subject"] for r in records]
        out["text"] = [r["text"] for r in records]
    if with_prompts:
        from engine.prompts import prompt_for_question

        out["prompt"] = [prompt_for_question(r, manifest) for r in records]


def _run_dataset(ws: Workspace, manifest: dict[str, Any], *, with_prompts: bool,
                 with_dataset: bool) -> Dataset | None:
    """The run's dataset; None when it is gone and nothing asked for its questions."""
    name = str(manifest.get("dataset"))
    try:
        return load_dataset(ws, name)
    except BadInput:
        if not (with_prompts or with_dataset):
            return None
        flags = " and ".join(f for f, on in (("--with-dataset", with_dataset),
                                             ("--with-prompts", with_prompts)) if on)
        raise BadInput(f"the run's dataset {name!r} is not in the workspace (deleted since the "
                       "run?)", where=ws.datasets,
                       fix=f"import it again under that name, or export without {flags}") from None


def _in_dataset_order(results: pd.DataFrame, dataset: Dataset | None) -> pd.DataFrame:
    if dataset is None:
        return results.sort_values("question_id", kind="stable")
    order = {str(q): i for i, q in enumerate(dataset.questions["question_id"])}
    results = results.assign(_order=results["question_id"].map(lambda q: order.get(str(q), len(order))))
    return results.sort_values(["_order", "question_id"], kind="stable").drop(columns="_order")


def _question_records(dataset: Dataset, question_ids: pd.Series, flag: str) -> list[dict[str, Any]]:
    """The dataset's row of every question of the run, in the run's order."""
    records = {str(r["question_id"]): r for r in dataset.questions.to_dict("records")}
    missing = [q for q in question_ids if q not in records]
    if missing:
        raise BadInput(f"question {missing[0]} of the run is not in dataset {dataset.name!r}"
                       + (f" ({len(missing)} questions are not)" if len(missing) > 1 else ""),
                       where=dataset.path, fix=f"export without {flag}")
    return [records[q] for q in question_ids]


def write_table(table: pd.DataFrame, path: Path, fmt: str) -> None:
    """CSV (lists as JSON text, floats with every bit) or Parquet (lists as list<double>)."""
    lists = [c for c in LIST_COLUMNS if c in table.columns]
    if fmt == "csv":
        as_text = {c: [None if v is None else json.dumps(v) for v in table[c]] for c in lists}
        table.assign(**as_text).to_csv(path, index=False)
        return
    arrow = pa.Table.from_pandas(table.drop(columns=lists), preserve_index=False)
    for c in lists:
        arrow = arrow.add_column(list(table.columns).index(c), c,
                                 pa.array(list(table[c]), type=pa.list_(pa.float64())))
    pq.write_table(arrow, path)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("alignuq", "pandas", "numpy", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def export_format(out: Path, given: str | None = None) -> str:
    """``csv`` or ``parquet``: what ``given`` (--format) says, else the suffix of ``out`` (CSV for
    a name without one); a suffix that says another format is refused."""
    fmt = format_for(out, "csv", given=given, suffixes=SUFFIXES)
    if fmt not in SUFFIXES.values():
        raise BadInput(f"unknown format {fmt!r}", fix="use csv or parquet")
    return fmt


def export_run(workspace: Path | None, run: str, out: Path | None = None, fmt: str | None = None,
               *, with_prompts: bool = False, with_dataset: bool = False,
               command: str | None = None) -> ExportedRun:
    """Write the per-question table of run ``run`` (an id, a unique prefix, or its folder) of
    ``workspace`` (which must exist) to ``out`` with its provenance sidecar, both atomically.
    Without ``out``: a new file in the workspace's exports folder, named after the run."""
    fmt = export_format(out if out is not None else Path(f"run.{fmt or 'csv'}"), fmt)
    ws = resolve_workspace(workspace).existing()
    run_dir = runs_mod.find_run(ws, run)
    if out is None:
        out = new_export_path(ws, f"run-{run_dir.name}", f".{fmt}")
    table, facts = run_table(ws, run_dir, with_prompts=with_prompts, with_dataset=with_dataset)
    out = Path(out).expanduser().resolve()
    with atomic_file(out) as tmp:
        write_table(table, tmp, fmt)
        digest = file_sha256(tmp)
    manifest = facts.pop("manifest")
    status = runs_mod.run_status(run_dir, manifest=manifest, slurm=False)
    provenance = {
        "kind": "alignuq run export",
        "file": out.name,
        "file_sha256": digest,
        "format": fmt,
        "rows": int(len(table)),
        "columns": list(table.columns),
        "run_id": manifest.get("run_id", run_dir.name),
        "run_status": status.status,
        "n_done": status.n_done,
        "n_total": status.n_total,
        "variant": manifest.get("variant"),
        "dataset": facts.get("dataset"),
        "dataset_report_sha256": facts.get("dataset_report_sha256"),
        "dataset_report_sha256_at_run": manifest.get("dataset_report_sha256"),
        "manifest": manifest,
        "versions": _versions(),
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    sidecar = out.with_name(out.name + ".provenance.json")
    write_text_atomic(sidecar, json.dumps(provenance, indent=2, sort_keys=False, default=str) + "\n")
    return ExportedRun(out, sidecar, provenance, _notes(provenance))


def _notes(prov: dict[str, Any]) -> list[str]:
    """What the reader of an export must know: a run not done, a dataset imported again since."""
    notes = []
    if prov["run_status"] != runs_mod.DONE:
        notes.append(f"run {prov['run_id']} is {prov['run_status']}: {prov['n_done']}/"
                     f"{prov['n_total']} questions exported")
    now, then = prov["dataset_report_sha256"], prov["dataset_report_sha256_at_run"]
    if now and then and now != then:
        notes.append(f"dataset {prov['dataset']!r} was re-imported since the run (report hash "
                     "differs)")
    return notes
