"""A queue of runs for a front end that stays open (the console): model × dataset jobs run one
after the other in one engine process, started with the engine command when the first job runs
and closed when the queue empties. A job can be cancelled (its rows are kept) and resumed (the
engine skips the questions already done).

The queue touches no screen: it tells a :class:`JobListener` what happens (from the event loop
that runs :meth:`JobQueue.run`), and the front end shows it its own way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from common.errors import CANCELLED, ENGINE_DIED, ENGINE_START, AlignuqError
from engine.events import Progress
from engine.run_spec import RunSpec

QUEUED, STARTING, LOADING, RUNNING = "queued", "starting", "loading", "running"
DONE, CANCELLED_STATUS, FAILED = "done", "cancelled", "failed"
ATTACHED, DETACHED = "attached", "detached"  # a run followed, not run, by the front end
ACTIVE = (STARTING, LOADING, RUNNING, ATTACHED)


@dataclass
class Job:
    """One model × dataset run as a front end follows it: queued here, or a run started
    elsewhere that it follows (``attached``; it ends as the run does: done, failed, incomplete)."""

    id: str
    model_label: str
    model: str
    dataset: str
    limit: int | None = None
    device: str = "auto"
    variant: str = "corrected"
    protocol: str | None = None
    chat_template: bool = False
    status: str = QUEUED
    done: int = 0
    total: int = 0
    rate: float = 0.0
    eta_s: float | None = None
    run_id: str | None = None
    run_dir: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # RunSummary.to_dict() once ended
    error: AlignuqError | None = None
    request_id: str | None = None  # the engine request while it runs
    log: list[str] = field(default_factory=list)  # the front end's lines about it

    @property
    def attached(self) -> bool:
        return self.status == ATTACHED

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def show(self, progress: Progress) -> None:
        """Take the counts, rate and ETA of ``progress``."""
        self.done, self.total = progress.done, progress.total
        self.rate, self.eta_s = progress.rate, progress.eta_s


class JobListener(Protocol):
    def job_changed(self, job: Job) -> None:
        """``job.status`` changed (queued, starting, loading, running, done, cancelled,
        failed); an ended job has its ``summary`` or its ``error``."""

    def job_progress(self, job: Job, progress: Progress) -> None:
        """The run's progress, as the engine sends it (at least once a second); the front end
        shows it (``Job.show``) when it paints."""

    def job_log(self, job: Job, line: str) -> None:
        """A line for the job's log: the engine's log notes and the queue's own."""


class JobQueue:
    """Jobs in the order they were added; :meth:`run` runs the queued ones."""

    def __init__(self, workspace: Path, listener: JobListener):
        self.workspace = Path(workspace)
        self.listener = listener
        self.jobs: dict[str, Job] = {}
        self.client: Any = None  # the EngineClient while the queue runs
        self._ids = itertools.count(1)

    def add(self, model_label: str, model: str, dataset: str, *, limit: int | None = None,
            device: str = "auto", variant: str = "corrected") -> Job:
        job = Job(self.new_id(), model_label, model, dataset, limit, device, variant)
        self.jobs[job.id] = job
        return job

    def new_id(self) -> str:
        return f"j{next(self._ids)}"

    @property
    def has_queued(self) -> bool:
        return any(j.status == QUEUED for j in self.jobs.values())

    def resume(self, job: Job) -> None:
        """Queue a cancelled or failed job again; the engine skips what it has done."""
        self._set(job, QUEUED)

    async def cancel(self, job: Job) -> bool:
        """Take a queued job out of the queue, or ask the engine to stop a running one after its
        batch (the rows computed are kept). False when the job is neither."""
        if job.status == QUEUED:
            self._set(job, CANCELLED_STATUS)
            return True
        if job.request_id is None or self.client is None:
            return False
        await self.client.cancel(job.request_id)
        return True

    async def run(self, engine_prefix: tuple[str, ...] = (), where: str = "local") -> bool:
        """Run the queued jobs one at a time in one engine process (``engine_prefix``: the
        engine command's argv prefix; empty for a local child). True once none is queued; False
        when the engine cannot start or dies (the rest stays queued: fix the engine command,
        then resume)."""
        from engine.lab.engines import client_for, close

        client = None
        try:
            while (job := next((j for j in self.jobs.values() if j.status == QUEUED), None)):
                self._set(job, STARTING)
                if client is None or not client.running:
                    client = self.client = client_for(engine_prefix)
                    if not await self._start(client, job, where):
                        return False
                if not await self._run_one(client, job):
                    return False
            return True
        finally:
            self.client = None
            if client is not None:
                await close(client)

    async def _start(self, client: Any, job: Job, where: str) -> bool:
        self.listener.job_log(job, f"starting the engine ({where})")
        try:
            hello = await client.start()
        except AlignuqError as err:
            self._fail(job, err)
            return False
        self.listener.job_log(job, f"engine ready on {hello.host or '?'}: device {hello.device}, "
                                   f"torch {hello.torch}")
        return True

    async def _run_one(self, client: Any, job: Job) -> bool:
        """Run ``job``; False when the engine itself failed (the queue stops)."""
        spec = RunSpec(workspace=str(self.workspace), dataset=job.dataset, model=job.model,
                       variant=job.variant, limit=job.limit, device=job.device,
                       protocol=job.protocol, chat_template=job.chat_template)
        try:
            pending = await client.start_run(spec, on_progress=lambda n: self._progress(job, n),
                                             on_log=lambda n: self.listener.job_log(
                                                 job, f"[{n.level}] {n.message}"))
            job.request_id = pending.id
            job.summary = await pending.result()
            self._end(job, DONE)
        except AlignuqError as err:
            if err.code == CANCELLED:
                job.summary = err.data
                self._end(job, CANCELLED_STATUS)
            else:
                self._fail(job, err)
                return err.code not in (ENGINE_START, ENGINE_DIED)
        finally:
            job.request_id = None
        return True

    def _progress(self, job: Job, note: Any) -> None:
        progress: Progress = note.progress
        if progress.run_id and not job.run_id:
            job.run_id = progress.run_id
            job.run_dir = str(self.workspace / "runs" / progress.run_id)
            self.listener.job_log(job, f"run {job.run_id}")
        self._set(job, LOADING if progress.phase == "loading" else RUNNING)
        self.listener.job_progress(job, progress)

    def _end(self, job: Job, status: str) -> None:
        job.run_id = job.summary.get("run_id") or job.run_id
        job.run_dir = job.summary.get("run_dir") or job.run_dir
        self._set(job, status, always=True)

    def _fail(self, job: Job, err: AlignuqError) -> None:
        job.error = err
        self._set(job, FAILED, always=True)

    def _set(self, job: Job, status: str, *, always: bool = False) -> None:
        if always or job.status != status:
            job.status = status
            self.listener.job_changed(job)

