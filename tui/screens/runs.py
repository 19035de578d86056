"""Runs: queue model × dataset jobs and watch them: progress bar, questions/s, ETA, a log pane;
cancel, resume, and attach to a detached run (Slurm, another console) through its events files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Log

from engine.lab.jobs import (
    ATTACHED,
    CANCELLED_STATUS,
    DETACHED,
    DONE,
    FAILED,
    QUEUED,
    Job,
    JobQueue,
)
from tui.messages import JobChanged, RunLog, RunProgress, WorkerFailed
from tui.screens.base import SectionScreen
from tui.widgets.frame_table import FrameTable
from tui.widgets.job_status import JobStatus

if TYPE_CHECKING:
    from engine.events import Progress
    from engine.lab.run_export import ExportedRun
    from engine.lab.runs import RunListing

# width None: as wide as the widest entry (a run's label is never cut)
COLUMNS = (("job", "job", 3), ("model", "run", None), ("dataset", "dataset", None),
           ("status", "status", 9), ("progress", "progress", 14), ("rate", "q/s", 5),
           ("eta", "ETA", 6))
RUN_COLUMNS = (("label", "run"), ("dataset", "dataset"), ("status", "status"),
               ("progress", "done"), ("rate", "q/s"), ("run_id", "run id"))
LOG_KEEP = 2000
POLL_S = 2.0     # how often the workspace's run list is read again (manifests and row counts)


def progress_text(done: int, total: int, width: int = 6) -> str:
    frac = done / total if total else 0.0
    filled = round(frac * width)
    return f"{'█' * filled}{'░' * (width - filled)} {done}/{total}" if total else "—"


def eta_text(eta_s: float | None) -> str:
    if eta_s is None or eta_s != eta_s:
        return ""
    eta_s = int(eta_s)
    if eta_s >= 3600:
        return f"{eta_s // 3600}h{eta_s % 3600 // 60:02d}m"
    return f"{eta_s // 60}m{eta_s % 60:02d}s" if eta_s >= 60 else f"{eta_s}s"


def job_label(model: str, variant: str, protocol: str | None, chat_template: bool) -> str:
    """A queued job's name before its run exists: the model, and the settings that are not the
    defaults (what ``engine.lab.run_labels`` names once the run has a manifest)."""
    from engine.lab.run_labels import DEFAULT_VARIANT

    parts = [model] + ([variant] if variant != DEFAULT_VARIANT else [])
    parts += [f"protocol {protocol}"] if protocol else []
    return " · ".join(parts + (["chat"] if chat_template else []))


class RunsScreen(SectionScreen):
    SECTION = "runs"
    TITLE = "Runs"
    HELP = """\
Jobs (model × dataset) run one after the other in an engine process started with the engine
command of the Models screen (local, `ssh HOST`, `srun …`).

* `n` queues jobs: pick models and datasets (every pair becomes a job), optionally the first N
  questions and a device.
* The highlighted job shows its progress bar, questions/s, ETA and log below the table.
* `c` cancels the highlighted job (rows already computed are kept; an attached run is only
  detached from); `u` resumes a cancelled, failed or incomplete job (the engine skips the
  questions already done).
* The lower table lists every run of the workspace, live (read again every 2 s): its label
  (model, variant, and what tells it apart from the model's other runs on the dataset), status,
  questions done, questions/s while it runs, and its full id. `enter` there attaches to the run;
  `i` shows the highlighted run's full id and folder.
* `a` attaches to a run started elsewhere (a Slurm array, another console) and follows it as
  `alignuq runs watch` does: through its `events*.jsonl` files, a Slurm run's shards adding up.
  In that list, `x` exports the highlighted run's per-question results (as `alignuq export run`:
  a CSV in the workspace's `exports/` with its `.provenance.json`), and `delete` deletes it after
  a confirmation (refused while it runs; exported tables are kept).
"""

    BINDINGS = [
        Binding("n", "new_jobs", "New jobs"),
        Binding("c", "cancel_job", "Cancel"),
        Binding("u", "resume_job", "Resume"),
        Binding("a", "attach", "Attach"),
        Binding("i", "run_id", "Run id"),
    ]
    def __init__(self) -> None:
        super().__init__()
        self.queue: JobQueue | None = None   # made on mount (it needs the app's workspace)
        self.pumping = False
        self.selected: str | None = None
        self.progress_handled = 0        # progress messages that reached the handler
        self._dirty: set[str] = set()    # jobs whose row changed since the last repaint
        self._pending_log: dict[str, list[str]] = {}
        self.max_paint_s = 0.0           # the longest _flush so far (the responsiveness test)
        self.workspace_runs: dict[str, RunListing] = {}   # the live list, by run id
        self._seen: dict[str, tuple[int, float]] = {}     # run id -> (n_done, when) last poll
        self._rates: dict[str, float] = {}
        self._polling = False
        self.polls = 0                   # polls finished (tests wait on it)

    def compose_body(self) -> ComposeResult:
        with Vertical(id="runs-body"):
            yield FrameTable(export_name="jobs", id="jobs")
            yield JobStatus(id="job-status")
            yield FrameTable(export_name="runs", id="ws-runs")
            yield Log(id="job-log", max_lines=LOG_KEEP)

    @property
    def jobs(self) -> dict[str, Job]:
        return self.queue.jobs if self.queue is not None else {}

    def on_mount(self) -> None:
        self.queue = JobQueue(self.app.settings.workspace, _Listener(self))
        # Repaint at most 10 times a second, whatever rate the engine streams at.
        self.set_interval(0.1, self._flush)
        table = self.query_one("#jobs", FrameTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        runs_table = self.query_one("#ws-runs", FrameTable)
        runs_table.border_title = "runs of the workspace, live · enter attaches · i: full id"
        for key, label in RUN_COLUMNS:
            runs_table.add_column(label, key=key)
        self.set_interval(POLL_S, self.poll_runs)
        self.poll_runs()
        self.query_one("#job-log", Log).write_line(
            "No jobs yet: press n to queue model × dataset runs, a to attach to one.")
        self.run_worker(self._count_existing_runs(), exit_on_error=False, name="count runs")

    async def _count_existing_runs(self) -> None:
        """Say what the workspace already holds, so an empty queue does not look like no runs."""
        from tui.workers import scan_runs

        runs = await _to_thread(scan_runs, self.app.settings.workspace)
        if runs and not self.jobs:
            by_status: dict[str, int] = {}
            for run in runs:
                by_status[str(run.get("status"))] = by_status.get(str(run.get("status")), 0) + 1
            counts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
            self.query_one("#job-log", Log).write_line(
                f"{len(runs)} run(s) in this workspace ({counts}): a attaches, u then resumes.")

    # ------------------------------------------------------------------ workspace runs
    def poll_runs(self) -> None:
        """Read the workspace's runs again in a thread (torch-free: manifests and row counts)."""
        if self._polling:
            return
        self._polling = True
        from tui.workers import scan_runs

        root = self.app.settings.workspace

        def work() -> None:
            try:
                runs = scan_runs(root)
            except Exception:  # noqa: BLE001 - a workspace caught mid-write: the next poll reads it
                runs = None
            self.app.call_from_thread(self._show_runs, runs)

        self.run_worker(work, thread=True, exit_on_error=False, name="poll runs",
                        group="poll-runs")

    def _show_runs(self, runs: list[RunListing] | None) -> None:
        self._polling = False
        self.polls += 1
        if runs is None:
            return
        now = time.monotonic()
        for run in runs:
            self._rates[run["run_id"]] = self._rate(run, now)
        table = self.query_one("#ws-runs", FrameTable)
        if [r["run_id"] for r in runs] != list(self.workspace_runs):
            self._relist(table, runs)   # a run came or went: newest first, cursor kept
        else:
            for run in runs:
                for (key, _), value in zip(RUN_COLUMNS, self._run_row(run), strict=True):
                    table.update_cell(run["run_id"], key, value, update_width=True)
        self.workspace_runs = {r["run_id"]: r for r in runs}
        self._sync_runs_frame()

    def _relist(self, table: FrameTable, runs: list[RunListing]) -> None:
        on = None
        if table.row_count:
            on = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for run in runs:
            table.add_row(*self._run_row(run), key=run["run_id"])
        ids = [r["run_id"] for r in runs]
        if on in ids:
            table.move_cursor(row=ids.index(on))

    def _rate(self, run: RunListing, now: float) -> float:
        """Questions per second between the last two polls that saw new rows, while the run runs
        (rows are written a batch at a time: a poll that saw none keeps the last rate)."""
        run_id, last = run["run_id"], self._rates.get(run["run_id"], 0.0)
        before = self._seen.get(run_id)
        if run["status"] != "running":
            self._seen.pop(run_id, None)
            return 0.0
        if before is None or run["n_done"] <= before[0]:
            self._seen.setdefault(run_id, (run["n_done"], now))
            return last
        self._seen[run_id] = (run["n_done"], now)
        return (run["n_done"] - before[0]) / (now - before[1])

    def _run_row(self, run: RunListing) -> list[Any]:
        style = {"done": "green", "failed": "red", "running": "bold cyan"}.get(run["status"],
                                                                              "yellow")
        total = run["n_total"] or run["manifest"].get("n_total") or 0
        rate = self._rates.get(run["run_id"], 0.0)
        return [run["label"], str(run["dataset"]), Text(run["status"], style=style),
                progress_text(run["n_done"], int(total)), f"{rate:.1f}" if rate else "",
                Text(run["run_id"], style="dim")]

    def _sync_runs_frame(self) -> None:
        import pandas as pd

        self.query_one("#ws-runs", FrameTable).frame = pd.DataFrame([{
            "label": r["label"], "dataset": r["dataset"], "status": r["status"],
            "done": r["n_done"], "total": r["n_total"], "rate_q_per_s": self._rates.get(rid),
            "run_id": rid, "run_dir": r["run_dir"]} for rid, r in self.workspace_runs.items()])

    @on(DataTable.RowSelected, "#ws-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        run = self.workspace_runs.get(str(event.row_key.value))
        if run is not None:
            self.attach(run)

    def action_run_id(self) -> None:
        """The full id and folder of the highlighted run: the job's when the job table has the
        focus, else the run list's."""
        run_id, run_dir = self._highlighted_run()
        if run_id:
            self.notify(f"{run_id}\n{run_dir}", title="Run id", timeout=15)
        else:
            self.notify("No run highlighted", severity="warning")

    def _highlighted_run(self) -> tuple[str, str]:
        job = self.highlighted_job()
        if self.query_one("#jobs", FrameTable).has_focus and job is not None and job.run_id:
            return job.run_id, str(job.run_dir or "")
        table = self.query_one("#ws-runs", FrameTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            run = self.workspace_runs[str(key)]
            return run["run_id"], run["run_dir"]
        return "", ""

    # ------------------------------------------------------------------ table
    def _row(self, job: Job) -> list[Any]:
        style = {"done": "green", "failed": "red", "cancelled": "yellow",
                 "incomplete": "yellow"}.get(job.status, "")
        return [job.id, job.model_label, job.dataset,
                Text(job.status, style=style),
                progress_text(job.done, job.total), f"{job.rate:.1f}" if job.rate else "",
                eta_text(job.eta_s) if job.active else ""]

    def _add_job(self, job: Job) -> None:
        self.queue.jobs[job.id] = job
        table = self.query_one("#jobs", FrameTable)
        table.add_row(*self._row(job), key=job.id)
        self._sync_frame()
        if self.selected is None:
            self._select(job.id)

    def _update_row(self, job: Job) -> None:
        table = self.query_one("#jobs", FrameTable)
        for (key, _, width), value in zip(COLUMNS, self._row(job), strict=True):
            table.update_cell(job.id, key, value, update_width=width is None)
        if job.id == self.selected:
            self._show_progress(job)

    def _sync_frame(self) -> None:
        """What `e` exports from this screen: the job list with its numbers."""
        import pandas as pd

        table = self.query_one("#jobs", FrameTable)
        table.frame = pd.DataFrame([{
            "job": j.id, "model": j.model, "dataset": j.dataset, "status": j.status,
            "done": j.done, "total": j.total, "rate_q_per_s": j.rate, "run_id": j.run_id,
            "run_dir": j.run_dir} for j in self.jobs.values()])

    def _select(self, job_id: str) -> None:
        self.selected = job_id
        job = self.jobs[job_id]
        log = self.query_one("#job-log", Log)
        log.clear()
        self._pending_log.clear()  # job.log holds them all
        log.write_lines(job.log[-LOG_KEEP:])
        self._show_progress(job)

    def _show_progress(self, job: Job) -> None:
        stats = f"{job.model_label} × {job.dataset}"
        if job.total:
            stats += f" · {job.done}/{job.total}"
        if job.rate:
            stats += f" · {job.rate:.2f} q/s"
        if job.active and job.eta_s is not None:
            stats += f" · ETA {eta_text(job.eta_s)}"
        if job.run_id:
            stats += f" · run {job.run_id}"
        self.query_one(JobStatus).set_job(f"[b]{job.id}[/b] {job.status}", escape(stats),
                                          job.done, job.total)

    @on(DataTable.RowHighlighted, "#jobs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.jobs:
            self._select(str(event.row_key.value))

    def highlighted_job(self) -> Job | None:
        return self.jobs.get(self.selected or "")

    def _log(self, job: Job, line: str, now: bool = True) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        job.log.append(stamped)
        if len(job.log) > LOG_KEEP:
            del job.log[: len(job.log) - LOG_KEEP]
        if job.id == self.selected:
            if now:
                self.query_one("#job-log", Log).write_line(stamped)
            else:
                self._pending_log.setdefault(job.id, []).append(stamped)

    def _flush(self) -> None:
        """Paint what streamed in since the last tick: changed rows and new log lines."""
        started = time.perf_counter()
        for job_id in list(self._dirty):
            job = self.jobs.get(job_id)
            if job is not None:
                self._update_row(job)
        self._dirty.clear()
        pending, self._pending_log = self._pending_log, {}
        lines = pending.get(self.selected or "", [])
        if lines:
            self.query_one("#job-log", Log).write_lines(lines[-LOG_KEEP:])
        self.max_paint_s = max(self.max_paint_s, time.perf_counter() - started)

    # ------------------------------------------------------------------ queue
    def queue_jobs(self, models: list[tuple[str, str]], datasets: list[str],
                   limit: int | None = None, device: str = "auto", protocol: str | None = None,
                   chat_template: bool = False) -> list[Job]:
        """Add one job per model × dataset and start the queue (also used by tests)."""
        added = []
        for label, ref in models:
            for dataset in datasets:
                job = Job(self.queue.new_id(), job_label(label, self.app.settings.variant,
                                                          protocol, chat_template),
                          ref, dataset, limit, device,
                          variant=self.app.settings.variant, protocol=protocol,
                          chat_template=chat_template)
                self._add_job(job)
                self._log(job, f"queued: {ref} on {dataset}" + (f", first {limit}" if limit else "")
                          + (f", protocol {protocol}" if protocol else "")
                          + (", chat template" if chat_template else ""))
                added.append(job)
        self._pump()
        return added

    def action_new_jobs(self) -> None:
        from tui.dialogs.new_jobs import JobRequest, NewJobsDialog

        self.run_worker(self._open_new_jobs(NewJobsDialog, JobRequest), exit_on_error=False,
                        name="new jobs")

    async def _open_new_jobs(self, dialog_cls: Any, _req: Any) -> None:
        from engine.lab.datasets import names
        from engine.lab.models import discover_in_child
        from tui.workers import workspace

        settings = self.app.settings
        models = self.app.models_found
        if not models and not settings.engine_prefix:
            self.notify("Looking for models…", timeout=3)
            models = await discover_in_child(settings.workspace)
            self.app.models_found = models
        model_choices = [(m.name or m.path, m.path or m.name) for m in models]
        datasets = await _to_thread(lambda: names(workspace(settings.workspace)))
        if not datasets:
            self.notify("No datasets yet: import one on the Datasets screen (d, then i).",
                        severity="warning")
            return
        ds_screen = self.app.section("datasets")
        current = getattr(ds_screen, "current", None)

        def chosen(req: Any) -> None:
            if req is not None:
                self.queue_jobs(list(req.models), list(req.datasets), req.limit, req.device,
                                req.protocol, req.chat_template)

        self.app.push_screen(dialog_cls(model_choices, datasets, current), chosen)

    def _pump(self) -> None:
        if not self.pumping and self.queue.has_queued:
            self.pumping = True
            settings = self.app.settings
            self.run_worker(self._run_queue(settings.engine_prefix, settings.where),
                            group="queue", exit_on_error=False, name="run queue")

    async def _run_queue(self, prefix: tuple[str, ...], where: str) -> None:
        try:
            finished = await self.queue.run(prefix, where)
        finally:
            self.pumping = False
        if finished and self.queue.has_queued:  # resumed while the engine was being closed
            self._pump()

    # ------------------------------------------------------------------ messages
    def on_run_progress(self, message: RunProgress) -> None:
        self.progress_handled += 1
        job = self.jobs.get(message.job_id)
        if job is None:
            return
        job.show(message.progress)
        self._dirty.add(job.id)  # painted by the next tick of _flush

    def on_run_log(self, message: RunLog) -> None:
        job = self.jobs.get(message.job_id)
        if job is not None:
            for line in message.lines:
                self._log(job, line, now=False)

    def on_job_changed(self, message: JobChanged) -> None:
        job = self.jobs.get(message.job_id)
        if job is None:
            return
        if job.status == DONE:
            self._done(job)
        elif job.status == CANCELLED_STATUS and job.summary:
            self._log(job, f"cancelled at {job.done}/{job.total}; u resumes")
        elif job.status == FAILED and job.error is not None:
            err = job.error
            self._log(job, f"failed: {err.code}: {f'{err.where}: ' if err.where else ''}{err.what}")
            if err.fix:
                self._log(job, f"what to do: {err.fix}")
            self.app.post_message(WorkerFailed(err, f"job {job.id}"))
        if not job.active:
            job.eta_s = None
        self._update_row(job)
        self._sync_frame()

    def _done(self, job: Job) -> None:
        s = job.summary
        job.done = int(s.get("n_done") or job.done)
        job.total = int(s.get("n_total") or job.total)
        if s.get("wall_s") is not None:  # an attached run's log has its end line already
            self._log(job, f"done: {job.done}/{job.total} questions in {s['wall_s']:.1f} s"
                           + (f" on {s['device']}" if s.get("device") else ""))
        self.notify(f"{job.id} done: {job.model_label} × {job.dataset}", title="Run finished")
        if (results := self.app.section("results")) is not None:
            results.runs_changed()

    # ------------------------------------------------------------------ actions
    def action_cancel_job(self) -> None:
        job = self.highlighted_job()
        if job is None:
            return
        if job.attached:
            job.status = DETACHED  # the following thread sees it and stops; the run goes on
            self._update_row(job)
            return
        if job.status == QUEUED:
            self._log(job, "removed from the queue")
        elif job.request_id:
            self._log(job, "cancelling…")
        else:
            self.notify(f"{job.id} is not running", severity="warning")
            return
        self.run_worker(self.queue.cancel(job), exit_on_error=False, name="cancel")

    def action_resume_job(self) -> None:
        job = self.highlighted_job()
        if job is None:
            return
        if job.status not in ("cancelled", "failed", "incomplete", "detached"):
            self.notify(f"{job.id} is {job.status}; only a cancelled, failed or incomplete job "
                        "resumes", severity="warning")
            return
        self._log(job, "resumed: queued again (questions already done are skipped)")
        self.queue.resume(job)
        self._pump()

    def action_attach(self) -> None:
        from tui.dialogs.attach import AttachDialog, RunChoice
        from tui.workers import scan_runs

        async def pick() -> None:
            runs = await _to_thread(scan_runs, self.app.settings.workspace)
            if not runs:
                self.notify("No runs in this workspace yet.", severity="warning")
                return

            def chosen(choice: RunChoice | None) -> None:
                if choice is None:
                    return
                {"export": self._export_run, "delete": self._confirm_delete,
                 "attach": self.attach}[choice.action](choice.run)

            self.app.push_screen(AttachDialog(runs), chosen)

        self.run_worker(pick(), exit_on_error=False, name="list runs")

    def _export_run(self, run: RunListing) -> None:
        """`alignuq export run` into the workspace's exports folder (engine.lab.run_export)."""
        from engine.lab.run_export import export_run

        root = self.app.settings.workspace

        def work() -> None:
            done = export_run(root, str(run["run_dir"]), command="alignuq tui")
            self.app.call_from_thread(self._run_exported, done)

        self.run_worker(work, thread=True, exit_on_error=False, name="export run")

    def _run_exported(self, done: ExportedRun) -> None:
        for note in done.notes:
            self.notify(note, severity="warning", timeout=10)
        self.notify(f"{done.provenance['rows']} rows to {done.path} (+ .provenance.json)",
                    title="Run exported", timeout=10)

    def _confirm_delete(self, run: RunListing) -> None:
        from tui.dialogs.ask import Confirm

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete_run(run)

        total = run["n_total"] or "?"
        self.app.push_screen(Confirm("Delete run", (
            f"Delete run {run['run_id']} ({run['n_done']}/{total} questions, "
            f"{run['status']})?\nIts results, manifest and events go; exported tables "
            "are kept.")), answered)

    def _delete_run(self, run: RunListing) -> None:
        from tui.workers import delete_run

        root = self.app.settings.workspace

        def work() -> None:
            delete_run(root, run["run_dir"])  # refused (a notification) while the run runs
            self.app.call_from_thread(self._run_deleted, str(run["run_id"]))

        self.run_worker(work, thread=True, exit_on_error=False, name="delete run")

    def _run_deleted(self, run_id: str) -> None:
        self.notify(f"Deleted run {run_id}", title="Run deleted", timeout=6)
        if (results := self.app.section("results")) is not None:
            results.runs_changed()

    def attach(self, run: RunListing) -> Job:
        """Follow a run started elsewhere through its events files and its status, as
        `alignuq runs watch` does (``engine.lab.follow``: a Slurm run's shards add up)."""
        manifest = run["manifest"]
        model = manifest.get("model", "")
        if isinstance(model, dict):  # resume needs what the engine resolves: the origin or path
            model = model.get("origin") or model.get("path") or model.get("name") or ""
        job = Job(self.queue.new_id(), run["label"], str(model),
                  str(run["dataset"] or "?"), status=ATTACHED,
                  variant=str(manifest.get("variant") or "corrected"),
                  limit=_limit_of(manifest),
                  run_id=run["run_id"], run_dir=run["run_dir"],
                  total=int(run["n_total"] or manifest.get("n_total") or 0),
                  done=run["n_done"])
        self._add_job(job)
        self._log(job, f"attached to {run['run_dir']}")
        self._select(job.id)
        self.query_one("#jobs", FrameTable).find_row(job.id)   # where it is (sorted, filtered)
        run_dir = Path(run["run_dir"])
        self.run_worker(lambda: self._follow(job, run_dir), thread=True, exit_on_error=False,
                        name=f"attach {job.id}", group=f"attach-{job.id}")
        return job

    def _follow(self, job: Job, run_dir: Path) -> None:
        """(thread worker) Post the run's merged progress and new events until it ends or the
        job is detached (``c``)."""
        from engine.lab.follow import RunFollower, end_text, event_text

        for update in RunFollower(run_dir).follow(stop=lambda: not job.attached):
            if update.progress is not None:
                self.post_message(RunProgress(job.id, update.progress))
            lines = [event_text(e) for e in update.events]
            if update.final is not None:
                lines.append(end_text(run_dir.name, update.final))
            if lines:
                self.post_message(RunLog(job.id, lines))
            if update.final is not None:
                st = update.final
                job.summary = {"n_done": st.n_done, "n_total": st.n_total}
                job.status = st.status
                self.post_message(JobChanged(job.id))
                return
        self.post_message(JobChanged(job.id))


class _Listener:
    """What the job queue says, as the screen's messages (painted at most 10 times a second)."""

    def __init__(self, screen: RunsScreen):
        self.screen = screen

    def job_changed(self, job: Job) -> None:
        self.screen.post_message(JobChanged(job.id))

    def job_progress(self, job: Job, progress: Progress) -> None:
        self.screen.post_message(RunProgress(job.id, progress))

    def job_log(self, job: Job, line: str) -> None:
        self.screen.post_message(RunLog(job.id, [line]))


def _limit_of(manifest: dict[str, Any]) -> int | None:
    """A run over the first N questions resumes over the same N."""
    total, size = manifest.get("n_total"), manifest.get("n_questions")
    if isinstance(total, int) and isinstance(size, int) and total < size:
        return total
    return None


async def _to_thread(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args)
