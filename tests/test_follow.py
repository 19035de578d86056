"""engine.lab.follow: following a run through real events files, store locks and (faked) Slurm
answers, with progress merged over every writer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.events import (
    ErrorEvent,
    FinishedEvent,
    LogEvent,
    Progress,
    ProgressEvent,
    append_event,
)
from engine.lab.follow import RunFollower, end_text, event_text, merge_progress
from engine.run_spec import RunSummary
from engine.runs import DONE, INCOMPLETE, RUNNING, RunStatus
from engine.store import ResultRow, ResultStore, write_manifest
from tests.test_slurm_unit import _fake_bin, _slurm_run


def _progress(done: int, total: int, rate: float, phase: str = "running") -> Progress:
    return Progress("r", done, total, rate, (total - done) / rate if rate else None, phase)


def _rows(writer: str, n: int) -> list[ResultRow]:
    return [ResultRow(f"{writer}-q{i}", 0, [0.5, 0.5], 1.0, {}) for i in range(n)]


def _finished(writer: str, n: int) -> FinishedEvent:
    return FinishedEvent(RunSummary("r", "", n, n, n, 1.0, "cpu"), writer=writer)


def test_writers_side_by_side_add_up() -> None:
    merged = merge_progress("r", [_progress(4, 10, 2.0), _progress(6, 10, 1.0)], None)
    assert (merged.run_id, merged.done, merged.total, merged.rate) == ("r", 10, 20, 3.0)
    assert merged.eta_s == pytest.approx(10 / 3.0) and merged.phase == "running"
    # the run's total wins over the writers' (a pending shard has reported nothing yet)
    assert merge_progress("r", [_progress(4, 10, 2.0)], 30).eta_s == pytest.approx(13.0)
    # a writer that is done no longer adds its rate while others run ...
    merged = merge_progress("r", [_progress(10, 10, 5.0, "done"), _progress(6, 10, 1.0)], None)
    assert (merged.done, merged.rate, merged.phase) == (16, 1.0, "running")
    # ... and once all are, their final rates add up
    merged = merge_progress("r", [_progress(10, 10, 5.0, "done"), _progress(10, 10, 1.0, "done")], 20)
    assert (merged.done, merged.total, merged.rate, merged.eta_s, merged.phase) == (
        20, 20, 6.0, 0.0, "done")
    assert merge_progress("r", [Progress.loading()], None).phase == "loading"
    # every writer that reported is done, but a shard has not started: not done yet
    merged = merge_progress("r", [_progress(10, 10, 5.0, "done")], 20)
    assert (merged.done, merged.rate, merged.eta_s, merged.phase) == (10, 0.0, None, "loading")


def test_one_writer_shows_as_the_runner_made_it() -> None:
    mine = _progress(7, 40, 1.5)
    assert merge_progress("r", [mine], None) == mine


@pytest.fixture
def two_writers(tmp_path: Path):
    """A run written by two writers at once (both holding their store's lock)."""
    run_dir = tmp_path / "runs" / "r"
    write_manifest(run_dir, {"run_id": "r", "n_total": 6, "status": "running"})
    stores = {w: ResultStore(run_dir / "results" / f"{w}.sqlite", "r")
              for w in ("shard-0000", "shard-0001")}
    yield run_dir, stores
    for store in stores.values():
        store.close()


def test_the_follower_merges_writers_and_ends_with_the_run(two_writers) -> None:
    run_dir, stores = two_writers
    append_event(run_dir, LogEvent("info", "submitted"))
    follower = RunFollower(run_dir, status_every_s=0.0)
    first = follower.poll()
    assert first.progress is None and first.final is None
    assert [event_text(e) for e in first.events] == ["info: submitted"]  # the history too
    append_event(run_dir, ProgressEvent(_progress(1, 3, 1.0), writer="shard-0000"))
    append_event(run_dir, ProgressEvent(_progress(2, 3, 2.0), writer="shard-0001"))
    append_event(run_dir, LogEvent("warning", "slow", writer="shard-0001"))
    update = follower.poll()
    assert (update.progress.done, update.progress.total, update.progress.rate) == (3, 6, 3.0)
    assert [event_text(e) for e in update.events] == ["[shard-0001] warning: slow"]
    assert update.final is None and follower.poll().events == []

    for writer, store in stores.items():
        store.add(_rows(writer, 3))
        append_event(run_dir, ProgressEvent(_progress(3, 3, 1.0, "done"), writer=writer))
        append_event(run_dir, _finished(writer, 3))
        store.close()
    last = follower.poll()
    assert last.final is not None and last.final.status == DONE
    assert (last.progress.done, last.progress.total, last.progress.phase) == (6, 6, "done")
    assert [e.writer for e in last.events] == ["shard-0000", "shard-0001"]
    assert end_text("r", last.final) == "run r: done, 6/6 questions"


def test_follow_stops_when_asked_and_when_the_run_ends(two_writers) -> None:
    run_dir, stores = two_writers
    follower = RunFollower(run_dir, status_every_s=0.0)
    looks = []
    updates = list(follower.follow(poll_s=0.01, stop=lambda: len(looks) >= 3 or looks.append(1)))
    assert len(updates) == 3 and all(u.final is None for u in updates)  # detached, still running
    for store in stores.values():
        store.close()  # the writers died: nothing stored, no last event
    (update,) = list(RunFollower(run_dir).follow(poll_s=0.01))
    assert update.final.status == INCOMPLETE
    assert end_text("r", update.final).endswith(
        "0/6 questions; run the same `alignuq run` command again to resume")


def test_a_run_not_running_has_nothing_to_follow(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    write_manifest(run_dir, {"run_id": "r", "n_total": 2, "status": "done"})
    with ResultStore(run_dir / "results" / "main.sqlite", "r") as store:
        store.add(_rows("main", 2))
    append_event(run_dir, ProgressEvent(_progress(2, 2, 1.0, "done")))
    append_event(run_dir, _finished("main", 2))
    (update,) = list(RunFollower(run_dir).follow(poll_s=0.01))
    assert update.final.status == DONE and update.events == [] and update.progress is None


def test_a_requeued_writer_keeps_its_count_while_it_loads(two_writers) -> None:
    run_dir, _ = two_writers
    follower = RunFollower(run_dir, status_every_s=60.0)
    append_event(run_dir, ProgressEvent(_progress(2, 3, 1.0), writer="shard-0000"))
    assert follower.poll().progress.done == 2
    append_event(run_dir, ProgressEvent(Progress.loading(), writer="shard-0000"))
    progress = follower.poll().progress
    assert (progress.done, progress.total, progress.rate, progress.phase) == (2, 3, 0.0, "loading")


def test_a_slurm_runs_total_is_the_runs_not_one_shards(tmp_path: Path, monkeypatch) -> None:
    """A shard knows only its share; the run's total comes from slurm.json, also for shards
    that have not started."""
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 2, 3)
    write_manifest(run_dir, {"run_id": "r", "n_total": 3})  # as the first shard writes it
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "printf '77_0|RUNNING|None\\n77_1|PENDING|Priority\\n'")
    _fake_bin(fake, "sacct", "exit 1")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    follower = RunFollower(run_dir)
    assert follower.status.slurm and follower.status.status == RUNNING
    append_event(run_dir, ProgressEvent(_progress(2, 3, 1.0), writer="shard-0000"))
    progress = follower.poll().progress
    assert (progress.done, progress.total, progress.eta_s) == (2, 6, 4.0)


def test_event_and_end_lines() -> None:
    assert event_text(ErrorEvent("OOM", "q7 does not fit", writer="shard-0002")) == \
        "[shard-0002] error OOM: q7 does not fit"
    assert event_text(ProgressEvent(_progress(3, 10, 0.5))) == \
        "progress running: 3/10, 0.50 q/s, ETA 14 s"
    assert event_text(_finished("main", 4)) == "finished: 4/4 (4 new) in 1.0 s on cpu"
    failed = RunStatus("failed", "OOM: q7 does not fit", 3, None)
    assert end_text("r", failed) == "run r: failed (OOM: q7 does not fit), 3/? questions"
