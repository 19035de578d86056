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
from engine.analysis.stats_util import entropy
from engine.lab.run_labels import run_labels

__all__ = ["DONE", "FAILED", "RUNNING", "Answer", "RunInfo", "RunStatus", "SlurmOptions",
           "answers_of", "cancel", "delete", "find", "infos", "listing", "manifest_of", "shard_states",
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
    task: str
    manifest: dict[str, Any]
    label: str                   # short and unique among the dataset's runs (run_labels)


def _known(info: RunInfo, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest, with what ``RunInfo`` knows where the manifest lacks it (a broken run)."""
    return {"model": info.model, "dataset": info.dataset, "variant": info.variant, **manifest}


def listing(ws: Workspace, *, slurm: bool = False) -> list[RunListing]:
    """Every run, newest first (``RunInfo`` as a dict), with its manifest and a ``label``, short
    and unique among the runs of its dataset (:func:`engine.lab.run_labels.run_labels`)."""
    infos_ = runs_mod.list_runs(ws, slurm=slurm)
    manifests = {i.run_id: runs_mod.read_manifest_or_empty(Path(i.run_dir)) for i in infos_}
    labels = run_labels({i.run_id: _known(i, manifests[i.run_id]) for i in infos_})
    return [RunListing(**i.to_dict(), manifest=manifests[i.run_id], label=labels[i.run_id])
            for i in infos_]


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


@dataclass(frozen=True)
class Answer:
    """One run's answer to a question: label probabilities, the choice it gives the most
    probability (its cloze answer, 0-based), and its entropy over the choices (nats,
    ``engine.analysis.stats_util.entropy``)."""

    run_id: str
    probs: list[float]
    cloze: int | None
    choice_entropy: float | None


def answers_of(ws: Workspace, dataset: str, question_id: str) -> dict[str, Answer]:
    """Each run of ``dataset`` that answered ``question_id``, under its run label, in run id
    order. A run that cannot be read is left out."""
    out: dict[str, Answer] = {}
    runs = sorted((r for r in listing(ws) if r["dataset"] == dataset), key=lambda r: r["run_id"])
    for run in runs:
        run_dir = Path(run["run_dir"])
        try:
            rows = store_mod.read_results(run_dir)
        except Exception:  # noqa: BLE001 - a broken run must not hide the others' answers
            continue
        hit = rows[rows["question_id"] == question_id] if len(rows) else rows
        if len(hit):
            out[run["label"]] = _answer(run["run_id"], hit.iloc[0])
    return out


def _answer(run_id: str, row: Any) -> Answer:
    probs = [float(x) for x in row["label_probs"]]
    cloze = row.get("cloze")
    cloze = int(cloze) if cloze is not None and cloze == cloze else None
    h = entropy(probs)
    return Answer(run_id, probs, cloze, h if h == h else None)
