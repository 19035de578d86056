"""engine.events: typed run events written to and read back from real events files (several
writers, partial lines, old files), and the progress meter that computes the one rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.events import (
    ErrorEvent,
    EventTail,
    FinishedEvent,
    LogEvent,
    Progress,
    ProgressEvent,
    ProgressMeter,
    append_event,
    decode_event,
    eta_for,
    events_path,
    last_events,
    terminal_events,
    writer_of,
)
from engine.run_spec import RunSummary

SUMMARY = RunSummary(run_id="ds-m-1", run_dir="/ws/runs/ds-m-1", n_done=4, n_total=4, n_new=3,
                     wall_s=2.5, device="cpu")


def _every_kind(writer: str = "main") -> list:
    return [ProgressEvent(Progress.loading(), writer=writer, time=1.0),
            ProgressEvent(Progress("ds-m-1", 2, 4, 1.5, 1.3), writer=writer, time=2.0),
            LogEvent("warning", "label spelling ' A' dropped", writer=writer, time=3.0),
            ErrorEvent("OOM", "question q7 does not fit", writer=writer, time=4.0),
            FinishedEvent(SUMMARY, writer=writer, time=5.0)]


def test_every_kind_of_event_round_trips_through_its_writers_file(tmp_path: Path) -> None:
    for writer in ("main", "shard-0003"):
        for event in _every_kind(writer):
            append_event(tmp_path, event)
    assert events_path(tmp_path).is_file() and events_path(tmp_path, "shard-0003").is_file()
    assert (tmp_path / "events-shard-0003.jsonl").is_file()
    events = EventTail(tmp_path).read()
    assert [e for e in events if e.writer == "main"] == _every_kind("main")
    assert [e for e in events if e.writer == "shard-0003"] == _every_kind("shard-0003")
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_the_file_format_is_one_flat_json_object_a_line(tmp_path: Path) -> None:
    append_event(tmp_path, ProgressEvent(Progress("r", 2, 4, 1.5, 1.3), time=7.0))
    append_event(tmp_path, FinishedEvent(SUMMARY, writer="shard-0001", time=8.0))
    (line,) = events_path(tmp_path).read_text().splitlines()
    assert json.loads(line) == {"time": 7.0, "writer": "main", "type": "progress", "run_id": "r",
                                "done": 2, "total": 4, "rate": 1.5, "eta_s": 1.3,
                                "phase": "running"}
    finished = json.loads(events_path(tmp_path, "shard-0001").read_text())
    assert finished == {"time": 8.0, "writer": "shard-0001", "type": "finished", **SUMMARY.to_dict()}


def test_a_partial_last_line_is_kept_for_the_next_read(tmp_path: Path) -> None:
    append_event(tmp_path, LogEvent("info", "one"))
    append_event(tmp_path, LogEvent("info", "shard", writer="shard-0001"))
    tail = EventTail(tmp_path)
    assert [e.message for e in tail.read()] == ["one", "shard"]
    with open(events_path(tmp_path), "a") as f:
        f.write('{"type": "log", "level": "info", "message": "par')
    assert tail.read() == []
    with open(events_path(tmp_path), "a") as f:
        f.write('tial"}\n')
    (event,) = tail.read()
    assert event == LogEvent("info", "partial", writer="main", time=0.0)
    assert tail.read() == []
    append_event(tmp_path, LogEvent("info", "later", writer="shard-0001"))
    assert [(e.writer, e.message) for e in tail.read()] == [("shard-0001", "later")]


def test_a_replaced_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    append_event(tmp_path, LogEvent("info", "a long first line, longer than its replacement"))
    tail = EventTail(tmp_path)
    assert len(tail.read()) == 1
    events_path(tmp_path).write_text('{"type": "log", "message": "new"}\n')
    assert [e.message for e in tail.read()] == ["new"]


def test_old_and_odd_lines(tmp_path: Path) -> None:
    """Files of older versions (no writer or time, fewer fields) still read; lines that are not
    events, and events of unknown types, are skipped."""
    lines = ['{"type": "progress", "run_id": "", "done": 0, "total": 0, "rate": 0.0, '
             '"eta_s": null, "phase": "loading"}',
             '{"type": "finished", "n_done": 2}',
             'not json at all',
             '[1, 2]',
             '{"type": "checkpoint", "n": 3}',
             '{"type": ["log"]}',
             '{"type": "progress", "done": "many"}',
             '{"time": 12.5, "type": "error", "code": "BAD_MODEL", "message": "/m: no config.json"}']
    (tmp_path / "events-shard-0002.jsonl").write_text("\n".join(lines) + "\n")
    loading, finished, error = EventTail(tmp_path).read()
    assert loading == ProgressEvent(Progress.loading(), writer="shard-0002", time=0.0)
    assert isinstance(finished, FinishedEvent) and finished.summary.n_done == 2
    assert finished.writer == "shard-0002" and finished.summary.status == "done"
    assert error == ErrorEvent("BAD_MODEL", "/m: no config.json", writer="shard-0002", time=12.5)
    assert decode_event(b"  \n") is None and decode_event(b"\xff\xfe") is None


def test_terminal_and_last_events_read_each_writers_tail(tmp_path: Path) -> None:
    for event in _every_kind("shard-0000"):
        append_event(tmp_path, event)
    append_event(tmp_path, ErrorEvent("CANCELLED", "cancelled", writer="shard-0001", time=6.0))
    append_event(tmp_path, LogEvent("info", "submitted", time=0.5))
    terminal = terminal_events(tmp_path)
    assert terminal == {"shard-0000": FinishedEvent(SUMMARY, writer="shard-0000", time=5.0),
                        "shard-0001": ErrorEvent("CANCELLED", "cancelled", writer="shard-0001",
                                                 time=6.0)}
    last = last_events(tmp_path, 3)
    assert [e.time for e in last] == [4.0, 5.0, 6.0]
    assert last_events(tmp_path, 0) == []
    assert writer_of(events_path(tmp_path)) == "main"
    assert writer_of(events_path(tmp_path, "shard-0001")) == "shard-0001"


def test_the_meter_computes_the_rate_over_its_window_and_the_eta_from_it() -> None:
    clock = [0.0]
    meter = ProgressMeter("r", done=0, total=100, window_s=10.0, clock=lambda: clock[0])
    meter.start()
    for _ in range(10):         # 1 question/s for 10 s
        clock[0] += 1.0
        p = meter.add(1)
    assert p.rate == pytest.approx(1.0) and p.eta_s == pytest.approx(90.0)
    for _ in range(10):         # then 5 questions/s: the window forgets the slow start
        clock[0] += 1.0
        p = meter.add(5)
    assert p.rate == pytest.approx(5.0) and p.eta_s == pytest.approx((100 - 60) / 5.0)
    assert eta_for(0, 0.0) == 0.0 and eta_for(5, 0.0) is None
