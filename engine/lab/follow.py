"""Follow a run from its folder: what ``alignuq runs watch`` and the console's attach show.

A run is followed through its events files (one per writer: a Slurm run has one per shard) and
its status (``engine.runs.run_status``: the writers' locks, and Slurm's word for a Slurm run).
Progress is merged over every writer: questions done and questions/s add up over the writers,
the total is the run's. A run that is not running when following starts has nothing to follow:
its history is left to ``alignuq runs show``, and the first update is the last.

    follower = RunFollower(run_dir)
    for update in follower.follow(stop=lambda: detached):
        update.progress   # merged Progress (None until a writer reported one)
        update.events     # new log, error and finished events, oldest first
        update.final      # the run's RunStatus once it no longer runs (the last update)

Torch-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from engine.events import (
    DONE,
    LOADING,
    MAIN_WRITER,
    RUNNING,
    ErrorEvent,
    EventTail,
    LogEvent,
    Progress,
    ProgressEvent,
    RunEvent,
    eta_for,
    is_terminal,
)
from engine.runs import DONE as RUN_DONE
from engine.runs import FAILED as RUN_FAILED
from engine.runs import RUNNING as RUN_RUNNING
from engine.runs import RunStatus, run_status

POLL_S = 0.5          # how often the events files are read
STATUS_EVERY_S = 2.0  # how often the run's status is asked (a Slurm run's asks squeue)


@dataclass(frozen=True)
class FollowUpdate:
    """What changed since the last update."""

    progress: Progress | None        # merged over every writer; None until one reported
    events: list[RunEvent]           # new log, error and finished events (not progress)
    final: RunStatus | None = None   # set once the run no longer runs: the last update


def merge_progress(run_id: str, by_writer: list[Progress], run_total: int | None) -> Progress:
    """One progress for writers that run side by side: their questions done and questions/s
    add up (the rates of the writers still running, or the final ones once the run is done),
    the total is the run's (``run_total``; their totals' sum when it is not known). It is done
    when every writer is and nothing is left (a shard still pending has reported nothing)."""
    running = [p for p in by_writer if p.phase == RUNNING]
    done = sum(p.done for p in by_writer)
    total = run_total if run_total is not None else sum(p.total for p in by_writer)
    if running:
        phase = RUNNING
    elif all(p.phase == DONE for p in by_writer) and done >= total:
        phase = DONE
    else:  # loading, or waiting for a shard that has not started
        phase = LOADING
    rate = sum(p.rate for p in (running or (by_writer if phase == DONE else [])))
    return Progress(run_id, done, total, rate, eta_for(total - done, rate), phase)


class RunFollower:
    """Follows one run; :meth:`poll` once per look, or iterate :meth:`follow`."""

    def __init__(self, run_dir: Path, *, status_every_s: float = STATUS_EVERY_S):
        self.run_dir = Path(run_dir)
        self.status_every_s = status_every_s
        self._tail = EventTail(self.run_dir)
        self._by_writer: dict[str, Progress] = {}
        self.status = run_status(self.run_dir)
        self._asked = time.monotonic()
        if self.status.status != RUN_RUNNING:
            self._tail.read()  # nothing to follow; `runs show` has its history

    @property
    def progress(self) -> Progress | None:
        if not self._by_writer:
            return None
        # a shard's own manifest knows only its share: a Slurm run's total is its status's
        run_total = self.status.n_total if self.status.slurm else None
        return merge_progress(self.run_dir.name, list(self._by_writer.values()), run_total)

    def poll(self) -> FollowUpdate:
        events = self._take(self._tail.read())
        if self.status.status == RUN_RUNNING and self._status_due(events):
            self.status = run_status(self.run_dir)
            self._asked = time.monotonic()
            if self.status.status != RUN_RUNNING:  # what the writers wrote before they let go
                events += self._take(self._tail.read())
        final = self.status if self.status.status != RUN_RUNNING else None
        return FollowUpdate(self.progress, events, final)

    def follow(self, poll_s: float = POLL_S,
               stop: Callable[[], bool] = lambda: False) -> Iterator[FollowUpdate]:
        """An update per look until the run ends (the last update has ``final``) or ``stop()``
        is true."""
        while not stop():
            update = self.poll()
            yield update
            if update.final is not None:
                return
            time.sleep(poll_s)

    def _status_due(self, events: list[RunEvent]) -> bool:
        return any(is_terminal(e) for e in events) or \
            time.monotonic() - self._asked >= self.status_every_s

    def _take(self, events: list[RunEvent]) -> list[RunEvent]:
        """Keep each writer's latest progress; return the other events."""
        others = []
        for event in events:
            if not isinstance(event, ProgressEvent):
                others.append(event)
                continue
            progress, before = event.progress, self._by_writer.get(event.writer)
            if progress.phase == LOADING and before is not None:
                # a writer started again (requeued, resumed) counts what it had until it runs
                progress = replace(before, rate=0.0, eta_s=None, phase=LOADING)
            self._by_writer[event.writer] = progress
        return others


def event_text(event: RunEvent) -> str:
    """One line for an event, with its writer unless it is the main one (no time)."""
    who = "" if event.writer == MAIN_WRITER else f"[{event.writer}] "
    if isinstance(event, ProgressEvent):
        p = event.progress
        eta = "" if p.eta_s is None else f", ETA {p.eta_s:.0f} s"
        body = f"progress {p.phase}: {p.done}/{p.total}, {p.rate:.2f} q/s{eta}"
    elif isinstance(event, LogEvent):
        body = f"{event.level}: {event.message}"
    elif isinstance(event, ErrorEvent):
        body = f"error {event.code}: {event.message}"
    else:
        s = event.summary
        body = f"finished: {s.n_done}/{s.n_total} ({s.n_new} new) in {s.wall_s:.1f} s on {s.device}"
    return who + body


def end_text(run_name: str, status: RunStatus) -> str:
    """How a followed run ended, in one line."""
    counts = f"{status.n_done}/{'?' if status.n_total is None else status.n_total} questions"
    if status.status == RUN_DONE:
        return f"run {run_name}: done, {counts}"
    if status.status == RUN_FAILED:
        return f"run {run_name}: failed ({status.reason}), {counts}"
    return (f"run {run_name}: {status.status} ({status.reason}), {counts}; run the same "
            "`alignuq run` command again to resume")
