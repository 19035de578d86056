"""`alignuq export run RUN --format csv|parquet --out FILE [--with-prompts]`.

One row per question (in dataset order) with the columns ``question_id``, ``cloze`` (the letter),
``label_probs`` (a JSON list), ``choice_mass``, every measure named as in SCIENCE.md §2 (in
``engine.measure_names`` order, raw nats; ``topp_size@p`` as integers) and, with
``--with-prompts``, ``prompt`` (the exact string fed to the model). Next to FILE,
``FILE.provenance.json`` records the run's manifest, the dataset's import-report hash, package
versions and the command line. Both files are written atomically.
"""

from __future__ import annotations

import json
import platform
import shlex
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from datasets_io.atomic import atomic_file, write_text_atomic
from datasets_io.dataset import LETTERS, load_dataset
from datasets_io.errors import BadInput
from datasets_io.hashing import file_sha256
from datasets_io.workspace import Workspace
from engine import runs as runs_mod
from engine import store as store_mod
from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP, measure_names
from tui.cli.common import WorkspaceOpt, existing_workspace, info, warn

app = typer.Typer(no_args_is_help=True, help="Export results and tables.")

BASE_COLUMNS = ["question_id", "cloze", "label_probs", "choice_mass"]


class RunFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"


def run_measures(manifest: dict[str, Any]) -> list[str]:
    names = manifest.get("measures")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    topk = tuple(int(k) for k in manifest.get("topk") or DEFAULT_TOPK)
    topp = tuple(float(p) for p in manifest.get("topp") or DEFAULT_TOPP)
    return measure_names(topk, topp)


def run_table(ws: Workspace, run_dir: Path, *, with_prompts: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The export table of a run and facts for its provenance."""
    manifest = store_mod.read_manifest(run_dir)
    results = store_mod.read_results(run_dir)
    if results.empty:
        raise BadInput("the run has no results yet", where=run_dir,
                       fix="run it first (`alignuq run ...`), or wait for it to write rows")
    measures = run_measures(manifest)
    facts: dict[str, Any] = {"dataset": manifest.get("dataset")}
    dataset = None
    try:
        dataset = load_dataset(ws, str(manifest.get("dataset")))
    except BadInput:
        if with_prompts:
            raise BadInput(f"the run's dataset {manifest.get('dataset')!r} is not in the workspace",
                           where=ws.datasets,
                           fix="import it again, or export without --with-prompts") from None
    if dataset is not None:
        facts["dataset_report_sha256"] = dataset.report_hash()
        order = {str(q): i for i, q in enumerate(dataset.questions["question_id"])}
        results["_order"] = results["question_id"].map(lambda q: order.get(str(q), len(order)))
        results = results.sort_values(["_order", "question_id"], kind="stable").drop(columns="_order")
    else:
        facts["dataset_report_sha256"] = None
        results = results.sort_values("question_id", kind="stable")
    out = pd.DataFrame({
        "question_id": results["question_id"].astype(str).to_numpy(),
        "cloze": [LETTERS[int(c)] for c in results["cloze"]],
        "label_probs": [json.dumps([float(x) for x in lp]) for lp in results["label_probs"]],
        "choice_mass": results["choice_mass"].astype(float).to_numpy(),
    })
    for name in measures:
        col = results[name] if name in results.columns else pd.Series([float("nan")] * len(results))
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        if name.startswith("topp_size@"):
            out[name] = pd.array([None if pd.isna(v) else int(round(v)) for v in values], dtype="Int64")
        else:
            out[name] = values
    if with_prompts:
        from engine.prompts import prompt_for_question

        assert dataset is not None
        records = {str(r["question_id"]): r for r in dataset.questions.to_dict("records")}
        prompts = []
        for qid in out["question_id"]:
            if qid not in records:
                raise BadInput(f"question {qid} of the run is not in dataset {dataset.name!r}",
                               where=dataset.path, fix="export without --with-prompts")
            prompts.append(prompt_for_question(records[qid], manifest))
        out["prompt"] = prompts
    facts["manifest"] = manifest
    return out, facts


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("alignuq", "pandas", "numpy", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def export_run_file(ws: Workspace, run_dir: Path, out: Path, fmt: str, *, with_prompts: bool = False,
                    command: str | None = None) -> dict[str, Any]:
    """Write the table and its provenance sidecar; returns the provenance."""
    table, facts = run_table(ws, run_dir, with_prompts=with_prompts)
    out = Path(out).expanduser().resolve()
    with atomic_file(out) as tmp:
        if fmt == "csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
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
    write_text_atomic(out.with_name(out.name + ".provenance.json"),
                      json.dumps(provenance, indent=2, sort_keys=False, default=str) + "\n")
    return provenance


@app.command("run")
def export_run(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix, or its folder).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")],
    fmt: Annotated[RunFormat, typer.Option("--format", help="csv or parquet.")] = RunFormat.csv,
    with_prompts: Annotated[bool, typer.Option("--with-prompts",
                                               help="Add the exact prompt string as column `prompt`.")] = False,
    ws_path: WorkspaceOpt = None,
) -> None:
    """Per-question results of a run: cloze letter, label probabilities, choice mass, every measure."""
    ws = existing_workspace(ws_path)
    run_dir = runs_mod.find_run(ws, run)
    command = shlex.join(["alignuq", "export", "run", run, "--format", fmt.value, "--out", str(out)]
                         + (["--with-prompts"] if with_prompts else []))
    prov = export_run_file(ws, run_dir, out, fmt.value, with_prompts=with_prompts, command=command)
    if prov["run_status"] != runs_mod.DONE:
        warn(f"run {prov['run_id']} is {prov['run_status']}: {prov['n_done']}/{prov['n_total']} "
             "questions exported")
    if prov["dataset_report_sha256"] and prov["dataset_report_sha256_at_run"] and \
            prov["dataset_report_sha256"] != prov["dataset_report_sha256_at_run"]:
        warn(f"dataset {prov['dataset']!r} was re-imported since the run (report hash differs)")
    info(f"wrote {prov['rows']} rows x {len(prov['columns'])} columns to {Path(out).resolve()} "
         f"(+ .provenance.json)")
