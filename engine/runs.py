"""The runs of a workspace: listing, status, local cancellation, deletion.
Torch-free (the TUI and the CLI use it).

Status of a run (``run_status``):

- ``running``: a writer holds a results store's lock (``results/<writer>.sqlite.lock``), or a
  Slurm shard of the run is pending or running;
- ``done``: every question of the run is in the store (an imported run always: ``runs import``
  writes it whole, every row of its file, at once);
- ``failed``: the last terminal event of a writer is an ``error`` (reason: ``CODE: message``);
- ``incomplete``: anything else (cancelled, or the engine was killed): running the same
  command again resumes it.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.errors import CANCELLED, BadInput
from datasets_io.atomic import remove_dir
from datasets_io.dataset import delete_dataset
from datasets_io.workspace import Workspace
from engine import store as store_mod
from engine.events import ErrorEvent, event_files, terminal_events

RUNNING, DONE, INCOMPLETE, FAILED = "running", "done", "incomplete", "failed"
STATUSES = (RUNNING, DONE, INCOMPLETE, FAILED)


@dataclass
class RunStatus:
    status: str
    reason: str = ""
    n_done: int = 0
    n_total: int | None = None
    holders: list[store_mod.WriterLock] = field(default_factory=list)
    slurm: bool = False


@dataclass
class RunInfo:
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
    n_dataset: int | None = None  # questions in the dataset; more than n_total for a --limit run
    task: str = "score"           # "score" | "generate" (free recall)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------- finding runs


def is_run_dir(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and not path.name.startswith(".") and (
        (path / store_mod.MANIFEST_FILE).exists() or bool(event_files(path))
        or (path / store_mod.RESULTS_DIR).is_dir())


def run_dirs(ws: Workspace) -> list[Path]:
    if not ws.runs.is_dir():
        return []
    return sorted(p for p in ws.runs.iterdir() if is_run_dir(p))


def find_run(ws: Workspace, ref: str) -> Path:
    """A run folder from a run id, a unique prefix of one, or a path."""
    direct = ws.runs / ref
    if ref and is_run_dir(direct):
        return direct
    as_path = Path(ref).expanduser()
    if ref and ("/" in ref or ref.startswith(".")) and is_run_dir(as_path):
        return as_path.resolve()
    matches = [p for p in run_dirs(ws) if p.name.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches[:5])
        raise BadInput(f"run {ref!r} is ambiguous ({len(matches)} runs: {names})",
                       fix="give more of the run id")
    raise BadInput(f"no run {ref!r} in {ws.runs}", fix="run `alignuq runs list` to see the runs")


def read_manifest_or_empty(run_dir: Path) -> dict[str, Any]:
    try:
        return store_mod.read_manifest(run_dir)
    except BadInput:
        return {}


# ---------------------------------------------------------------------- status


def _count_done(run_dir: Path) -> int:
    try:
        return store_mod.count_done(run_dir)
    except BadInput:  # a corrupt store: `runs show` and `export` name it
        return 0


def _slurm_status(run_dir: Path, base: RunStatus) -> RunStatus:
    """A Slurm run's status from all its shards (a shard's manifest knows only its own share)."""
    from engine import slurm

    try:
        state = slurm.run_state(run_dir)
    except BadInput as err:
        base.status, base.reason = FAILED, err.message
        return base
    base.n_done, base.n_total = state["n_done"], state["n_total"]
    word = state["status"]
    base.status = {"running": RUNNING, "done": DONE, "failed": FAILED}.get(word, INCOMPLETE)
    base.reason = state["reason"] if word != "cancelled" else f"cancelled: {state['reason']}"
    return base


def run_status(run_dir: Path, *, manifest: dict[str, Any] | None = None,
               slurm: bool = True) -> RunStatus:
    """running | done | incomplete | failed, with a reason, counts and the lock holders."""
    run_dir = Path(run_dir)
    if manifest is None:
        manifest = read_manifest_or_empty(run_dir)
    from engine.slurm import is_slurm_run

    is_slurm = is_slurm_run(run_dir)
    n_done = _count_done(run_dir)
    n_total = manifest.get("n_total")
    holders = store_mod.writer_locks(run_dir)
    base = RunStatus(status=INCOMPLETE, n_done=n_done, n_total=n_total, holders=holders,
                     slurm=is_slurm)
    held = [h for h in holders if h.held]
    if held:
        base.status = RUNNING
        base.reason = ", ".join(f"{h.writer}: {h.holder}" for h in held)
        return base
    if manifest.get("source") == "import":
        base.status, base.n_total = DONE, n_total if n_total is not None else n_done
        return base
    if is_slurm and slurm:
        return _slurm_status(run_dir, base)
    if n_total is not None and n_done >= int(n_total) and (n_total or manifest.get("status") == DONE):
        base.status = DONE
        return base
    errors = [e for e in terminal_events(run_dir).values() if isinstance(e, ErrorEvent)]
    failures = [e for e in errors if e.code != CANCELLED]
    if failures:
        last = max(failures, key=lambda e: e.time)
        base.status = FAILED
        base.reason = f"{last.code}: {last.message}"
        return base
    cancelled = any(e.code == CANCELLED for e in errors) or manifest.get("status") == "cancelled"
    base.reason = "cancelled" if cancelled else "stopped before the end (engine killed?)"
    if n_total is None and not manifest:
        base.reason = "no manifest yet"
    return base


def run_info(run_dir: Path, *, slurm: bool = True) -> RunInfo:
    run_dir = Path(run_dir)
    manifest = read_manifest_or_empty(run_dir)
    st = run_status(run_dir, manifest=manifest, slurm=slurm)
    model = manifest.get("model")
    model_name = model.get("name") if isinstance(model, dict) else model
    return RunInfo(run_id=manifest.get("run_id", run_dir.name), dataset=manifest.get("dataset"),
                   model=model_name, n_done=st.n_done, n_total=st.n_total, status=st.status,
                   reason=st.reason, variant=manifest.get("variant"), run_dir=str(run_dir),
                   updated=manifest.get("updated"), slurm=st.slurm,
                   n_dataset=manifest.get("n_questions"), task=manifest.get("task") or "score")


def list_runs(ws: Workspace, *, slurm: bool = True) -> list[RunInfo]:
    """Every run of the workspace, most recently updated first."""
    infos = [run_info(d, slurm=slurm) for d in run_dirs(ws)]
    infos.sort(key=lambda r: (r.updated or "", r.run_id), reverse=True)
    return infos


# ---------------------------------------------------------------------- cancel


def cancel_local(run_dir: Path) -> dict[str, Any]:
    """SIGTERM every local writer of a run (the engine stops after its batch, keeping its rows).

    Returns ``{"signalled": [pid...], "elsewhere": ["pid N on HOST"...]}``.
    """
    signalled, elsewhere = [], []
    for lock in store_mod.writer_locks(run_dir):
        if not lock.held:
            continue
        if lock.pid is None or not lock.local:
            elsewhere.append(lock.holder)
            continue
        try:
            os.kill(lock.pid, signal.SIGTERM)
            signalled.append(lock.pid)
        except ProcessLookupError:
            continue
    return {"signalled": signalled, "elsewhere": elsewhere}


def wait_unwritten(run_dir: Path, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for every writer of the run to let go; True if they did."""
    deadline = time.monotonic() + timeout_s
    while any(lock.held for lock in store_mod.writer_locks(run_dir)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


# ---------------------------------------------------------------------- delete


def delete_run(ws: Workspace, run_dir: Path) -> None:
    """Remove a run of the workspace (store, manifest, events, Slurm files); refused while it
    runs. Exported tables are kept: they are records of what was published."""
    run_dir = Path(run_dir)
    if run_dir.resolve().parent != ws.runs.resolve():
        raise BadInput(f"{run_dir} is not a run of the workspace {ws.root}", where=run_dir,
                       fix="delete runs of this workspace only (see `alignuq runs list`)")
    st = run_status(run_dir)
    if st.status == RUNNING:
        raise BadInput(f"run {run_dir.name} is running ({st.reason or 'Slurm shards active'})",
                       where=run_dir, fix=f"cancel it first (`alignuq runs cancel {run_dir.name}`)")
    remove_dir(run_dir)


def dataset_runs(ws: Workspace, name: str) -> list[RunInfo]:
    """The runs of dataset ``name``, with their status."""
    return [r for r in list_runs(ws) if r.dataset == name]


def _refuse_running(name: str, runs: list[RunInfo]) -> None:
    running = [r.run_id for r in runs if r.status == RUNNING]
    if running:
        raise BadInput(f"run {running[0]} of dataset {name!r} is running",
                       fix=f"cancel it first (`alignuq runs cancel {running[0]}`)")


def _run_ids(runs: list[RunInfo]) -> str:
    return ", ".join(r.run_id for r in runs[:5]) + (" ..." if len(runs) > 5 else "")


def runs_to_replace(ws: Workspace, name: str, with_runs: bool) -> list[RunInfo]:
    """The runs of dataset ``name`` that replacing it would leave computed on other questions:
    refused unless ``with_runs`` (the caller deletes them once the new dataset is written), and
    refused while one of them runs."""
    runs = dataset_runs(ws, name)
    if runs and not with_runs:
        raise BadInput(f"dataset {name!r} has {len(runs)} run(s) ({_run_ids(runs)}), which "
                       "replacing it would leave computed on other data",
                       fix="pass --with-runs to delete them with it, or choose another --name")
    _refuse_running(name, runs)
    return runs


def delete_runs(ws: Workspace, runs: list[RunInfo]) -> None:
    for r in runs:
        delete_run(ws, Path(r.run_dir))


def delete_dataset_and_runs(ws: Workspace, name: str, runs: list[RunInfo]) -> None:
    """Delete ``runs`` (the dataset's, from ``dataset_runs``), then dataset ``name``; nothing at
    all while one of the runs is running."""
    _refuse_running(name, runs)
    delete_runs(ws, runs)
    delete_dataset(ws, name)
