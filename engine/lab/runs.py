"""A workspace's runs as the front ends submit, list, show, cancel and delete them, and what
the runs of a dataset answered to one question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from datasets_io.workspace import Workspace
from engine import runs as runs_mod
from engine import slurm as slurm_mod
from engine import store as store_mod

__all__ = ["DONE", "FAILED", "RUNNING", "RunInfo", "RunStatus", "SlurmOptions", "answers_to",
           "cancel", "delete", "find", "infos", "listing", "manifest_of", "shard_states",
           "status_of", "submit_to_slurm"]

RunInfo, RunStatus = runs_mod.RunInfo, runs_mod.RunStatus
DONE, FAILED, RUNNING = runs_mod.DONE, runs_mod.FAILED, runs_mod.RUNNING
SlurmOptions = slurm_mod.SlurmOptions
find = runs_mod.find_run
infos = runs_mod.list_runs
manifest_of = runs_mod.read_manifest_or_empty
status_of = runs_mod.run_status


class RunListing(TypedDict):
    """A run as :func:`listing` gives it: ``RunInfo``'s fields, its manifest, and a label."""

    run_id: str
    dataset: str | None
    model: str | None
    n_done: int
    n_total: int | None
    status: str
    reason: str
    variant: str | None
    run_dir: str
    updated: str | None
    slurm: bool
    n_dataset: int | None
    manifest: dict[str, Any]
    label: str                   # the model, and the variant where it is not the default


def listing(ws: Workspace, *, slurm: bool = False) -> list[RunListing]:
    """Every run, newest first (``RunInfo`` as a dict), with its manifest and a ``label`` that
    names the model (and the variant, where it is not the default)."""
    out: list[RunListing] = []
    for info in runs_mod.list_runs(ws, slurm=slurm):
        manifest = runs_mod.read_manifest_or_empty(Path(info.run_dir))
        variant = "" if info.variant in (None, "corrected") else f" ({info.variant})"
        out.append(RunListing(**info.to_dict(), manifest=manifest,
                              label=f"{info.model or '?'}{variant}"))
    return out


def submit_to_slurm(spec: Any, options: SlurmOptions) -> dict[str, Any]:
    """Submit ``spec`` as a Slurm job array (detached): its run id, folder and job ids."""
    return slurm_mod.submit_run(spec, options)


def shard_states(run_dir: Path) -> list[dict[str, Any]] | None:
    """A Slurm run's shards (state, counts, reason; ``engine.slurm.shard_states``); None for a
    run that is not a Slurm run."""
    if not slurm_mod.is_slurm_run(run_dir):
        return None
    return slurm_mod.shard_states(run_dir)


@dataclass
class Cancelled:
    """What ``cancel`` did: the Slurm jobs cancelled, the local engines asked to stop (their
    pids), and the writers on other hosts it could not reach."""

    slurm_jobs: list[str] | None = None
    signalled: list[int] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)


def cancel(run_dir: Path, *, wait_s: float = 30.0) -> Cancelled:
    """Cancel a run: scancel its Slurm jobs, or SIGTERM its local engines (each stops after its
    batch; the rows computed are kept) and wait up to ``wait_s`` for them to let go."""
    if slurm_mod.is_slurm_run(run_dir):
        return Cancelled(slurm_jobs=[str(j) for j in slurm_mod.cancel_run(run_dir)])
    outcome = runs_mod.cancel_local(run_dir)
    if outcome["signalled"]:
        runs_mod.wait_unwritten(run_dir, wait_s)
    return Cancelled(signalled=list(outcome["signalled"]), elsewhere=list(outcome["elsewhere"]))


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
