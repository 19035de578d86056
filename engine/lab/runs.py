"""A workspace's runs as the front ends list, show, cancel and delete them, and what the runs of
a dataset answered to one question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets_io.workspace import Workspace
from engine import runs as runs_mod
from engine import store as store_mod

__all__ = ["DONE", "FAILED", "RUNNING", "RunInfo", "answers_to", "delete", "find", "listing"]

RunInfo = runs_mod.RunInfo
DONE, FAILED, RUNNING = runs_mod.DONE, runs_mod.FAILED, runs_mod.RUNNING
find = runs_mod.find_run


def listing(ws: Workspace, *, slurm: bool = False) -> list[dict[str, Any]]:
    """Every run, newest first (``RunInfo`` as a dict), with its manifest and a ``label`` that
    names the model (and the variant, where it is not the default)."""
    out = []
    for info in runs_mod.list_runs(ws, slurm=slurm):
        manifest = runs_mod.read_manifest_or_empty(Path(info.run_dir))
        variant = "" if info.variant in (None, "corrected") else f" ({info.variant})"
        out.append({**info.to_dict(), "manifest": manifest,
                    "label": f"{info.model or '?'}{variant}"})
    return out


def delete(ws: Workspace, run_dir: str | Path) -> None:
    """Delete a run of the workspace (refused while it runs; exported tables are kept)."""
    runs_mod.delete_run(ws, Path(run_dir))


def answers_to(ws: Workspace, dataset: str, question_id: str) -> dict[str, list[float]]:
    """Each run of ``dataset`` that answered ``question_id``: its label probabilities q, under
    its model's name (a ' added for each run of a model already listed). A run that cannot be
    read is left out."""
    out: dict[str, list[float]] = {}
    runs = [r for r in runs_mod.list_runs(ws, slurm=False) if r.dataset == dataset]
    for info in sorted(runs, key=lambda r: r.run_id):
        run_dir = Path(info.run_dir)
        try:
            rows = store_mod.read_results(run_dir)
        except Exception:  # noqa: BLE001 - a broken run must not hide the others' answers
            continue
        hit = rows[rows["question_id"] == question_id] if len(rows) else rows
        if len(hit):
            label = str(info.model or info.run_id)
            while label in out:
                label += "'"
            out[label] = [float(x) for x in hit.iloc[0]["label_probs"]]
    return out
