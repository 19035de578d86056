"""Run events: what a run's writers report as it goes (its progress, log lines, its error or its
end), typed, and the one place that writes and reads a run's ``events*.jsonl`` files.

Each writer of a run appends to its own file in the run folder: ``events.jsonl`` for the main
writer (a local engine), ``events-<writer>.jsonl`` for a Slurm shard
(``events-shard-0003.jsonl``). One JSON object a line, each written with a single ``write()`` so
that concurrent appenders keep their lines whole::

    {"time": 1.7e9, "writer": "main", "type": "progress", "run_id": "...", "done": 10,
     "total": 100, "rate": 3.2, "eta_s": 28.1, "phase": "loading" | "running" | "done"}
    {"time": ..., "writer": ..., "type": "log", "level": "info", "message": "..."}
    {"time": ..., "writer": ..., "type": "error", "code": "OOM", "message": "..."}
    {"time": ..., "writer": ..., "type": "finished", "run_id": ..., "run_dir": ..., "n_done": ...,
     "n_total": ..., "n_new": ..., "wall_s": ..., "device": ..., "status": "done"}

Readers skip what they cannot read: a partly written last line (left for the next read), a line
that is not an event, an event of an unknown type. A field missing from an older file takes its
default. Torch-free.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from common.errors import AlignuqError
from engine.run_spec import RunSummary

MAIN_WRITER = "main"
EVENTS_FILE = "events.jsonl"
LOADING, RUNNING, DONE = "loading", "running", "done"
RATE_WINDOW_S = 30.0            # questions/s over this recent window
_TAIL_BYTES = 256 * 1024        # how much of a file's end holds its last events


# ---------------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    """Questions done of a total, questions per second over the recent window and the ETA that
    follows; ``run_id`` is None while the run is still being planned (phase ``loading``)."""

    run_id: str | None
    done: int
    total: int
    rate: float = 0.0
    eta_s: float | None = None
    phase: str = RUNNING            # LOADING | RUNNING | DONE

    @classmethod
    def loading(cls) -> Progress:
        return cls(run_id=None, done=0, total=0, phase=LOADING)


def eta_for(remaining: int, rate: float) -> float | None:
    """Seconds left at ``rate`` questions/s (None while there is no rate yet)."""
    if remaining <= 0:
        return 0.0
    return remaining / rate if rate > 0 else None


class ProgressMeter:
    """A writer's progress as its questions get done: the one place a rate is computed (every
    reader passes the :class:`Progress` on as it is). The rate counts from :meth:`start` (when
    questions start running), not from the model load."""

    def __init__(self, run_id: str, done: int, total: int, *, window_s: float = RATE_WINDOW_S,
                 clock: Callable[[], float] = time.time):
        self.run_id, self.done, self.total = run_id, done, total
        self.window_s = window_s
        self._clock = clock
        self._points: deque[tuple[float, int]] = deque()

    def start(self) -> Progress:
        self._sample()
        return self._progress(0.0, RUNNING)

    def add(self, n: int) -> Progress:
        self.done += n
        return self._progress(self._sample(), RUNNING)

    def finish(self) -> Progress:
        return self._progress(self._sample(), DONE)

    def _sample(self) -> float:
        """Record ``done`` now; questions/s over the window."""
        now = self._clock()
        self._points.append((now, self.done))
        while len(self._points) > 2 and now - self._points[0][0] > self.window_s:
            self._points.popleft()
        (t0, d0), (t1, d1) = self._points[0], self._points[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    def _progress(self, rate: float, phase: str) -> Progress:
        return Progress(self.run_id, self.done, self.total, rate,
                        eta_for(self.total - self.done, rate), phase)


# ---------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True)
class _Stamped:
    """Who wrote an event (the writer's name: ``main``, ``shard-0003``) and when (epoch s)."""

    writer: str = MAIN_WRITER
    time: float = field(default_factory=time.time)

    type: ClassVar[str]

    def body(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("writer", "time")}

    @classmethod
    def from_body(cls, data: dict[str, Any], **stamp: Any) -> _Stamped:
        raise NotImplementedError


@dataclass(frozen=True)
class ProgressEvent(_Stamped):
    progress: Progress
    type: ClassVar[str] = "progress"

    def body(self) -> dict[str, Any]:
        return asdict(self.progress)

    @classmethod
    def from_body(cls, data: dict[str, Any], **stamp: Any) -> ProgressEvent:
        eta = data.get("eta_s")
        run_id = data.get("run_id")
        return cls(Progress(run_id=str(run_id) if run_id else None, done=int(data.get("done") or 0),
                            total=int(data.get("total") or 0), rate=float(data.get("rate") or 0.0),
                            eta_s=None if eta is None else float(eta),
                            phase=str(data.get("phase") or RUNNING)), **stamp)


@dataclass(frozen=True)
class LogEvent(_Stamped):
    level: str
    message: str
    type: ClassVar[str] = "log"

    @classmethod
    def from_body(cls, data: dict[str, Any], **stamp: Any) -> LogEvent:
        return cls(str(data.get("level") or "info"), str(data.get("message") or ""), **stamp)


@dataclass(frozen=True)
class ErrorEvent(_Stamped):
    """How a writer's run ended when it failed or was cancelled (code ``CANCELLED``)."""

    code: str
    message: str
    type: ClassVar[str] = "error"

    @classmethod
    def of(cls, err: AlignuqError, writer: str) -> ErrorEvent:
        return cls(err.code, err.message, writer=writer)

    @classmethod
    def from_body(cls, data: dict[str, Any], **stamp: Any) -> ErrorEvent:
        return cls(str(data.get("code") or ""), str(data.get("message") or ""), **stamp)


@dataclass(frozen=True)
class FinishedEvent(_Stamped):
    """A writer's run that did every question it was given."""

    summary: RunSummary
    type: ClassVar[str] = "finished"

    def body(self) -> dict[str, Any]:
        return self.summary.to_dict()

    @classmethod
    def from_body(cls, data: dict[str, Any], **stamp: Any) -> FinishedEvent:
        summary = RunSummary(run_id=str(data.get("run_id") or ""),
                             run_dir=str(data.get("run_dir") or ""),
                             n_done=int(data.get("n_done") or 0),
                             n_total=int(data.get("n_total") or 0),
                             n_new=int(data.get("n_new") or 0),
                             wall_s=float(data.get("wall_s") or 0.0),
                             device=str(data.get("device") or ""),
                             status=str(data.get("status") or "done"))
        return cls(summary, **stamp)


RunEvent = ProgressEvent | LogEvent | ErrorEvent | FinishedEvent
TerminalEvent = ErrorEvent | FinishedEvent
_TYPES: dict[str, type[_Stamped]] = {c.type: c for c in (ProgressEvent, LogEvent, ErrorEvent,
                                                           FinishedEvent)}


def is_terminal(event: RunEvent) -> bool:
    """The last event of a writer's run: its ``finished`` or its ``error``."""
    return isinstance(event, (ErrorEvent, FinishedEvent))


def event_to_dict(event: RunEvent) -> dict[str, Any]:
    return {"time": event.time, "writer": event.writer, "type": event.type, **event.body()}


def encode_event(event: RunEvent) -> str:
    """One line of an events file, ``\\n`` included."""
    return json.dumps(event_to_dict(event), default=str) + "\n"


def event_from_dict(data: Any, writer: str = MAIN_WRITER) -> RunEvent | None:
    """The event a dict holds (None for anything else); ``writer`` where it names none."""
    kind = data.get("type") if isinstance(data, dict) else None
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:
        return cls.from_body(data, writer=str(data.get("writer") or writer),  # type: ignore[return-value]
                             time=float(data.get("time") or 0.0))
    except (TypeError, ValueError):
        return None


def decode_event(line: bytes | str, writer: str = MAIN_WRITER) -> RunEvent | None:
    """The event of one line (None for a blank, unreadable or unknown one)."""
    line = line.strip()
    if not line:
        return None
    try:
        return event_from_dict(json.loads(line), writer)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


# ---------------------------------------------------------------------- files


def events_path(run_dir: Path, writer: str = MAIN_WRITER) -> Path:
    """``events.jsonl`` for the main writer, ``events-<writer>.jsonl`` for a shard."""
    name = EVENTS_FILE if writer == MAIN_WRITER else f"events-{writer}.jsonl"
    return Path(run_dir) / name


def event_files(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob("events*.jsonl"))


def writer_of(path: Path) -> str:
    """The writer whose events file ``path`` is."""
    return MAIN_WRITER if path.name == EVENTS_FILE else path.stem.removeprefix("events-")


def append_event(run_dir: Path, event: RunEvent) -> None:
    """Append one event to its writer's file (a single write() keeps concurrent lines whole)."""
    with open(events_path(run_dir, event.writer), "a", encoding="utf-8") as f:
        f.write(encode_event(event))


class EventTail:
    """Follows every events file of a run: each :meth:`read` returns the events appended since
    the last one, oldest first. A partly written last line is left for the next read; a file
    that shrank (replaced) is read again from its start."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._offsets: dict[str, int] = {}

    def read(self) -> list[RunEvent]:
        events: list[RunEvent] = []
        for path in event_files(self.run_dir):
            events += self._read_file(path)
        events.sort(key=lambda e: e.time)
        return events

    def _read_file(self, path: Path) -> list[RunEvent]:
        start = self._offsets.get(path.name, 0)
        try:
            size = path.stat().st_size
            if size < start:
                start = 0
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(max(size - start, 0))
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # complete lines only
        self._offsets[path.name] = start + end
        writer = writer_of(path)
        return [e for line in data[:end].split(b"\n") if (e := decode_event(line, writer))]


def _tail_of(path: Path, nbytes: int = _TAIL_BYTES) -> list[RunEvent]:
    """The events in the last ``nbytes`` of a file."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - nbytes))
            data = f.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if size > nbytes:
        lines = lines[1:]  # the first one is probably cut
    writer = writer_of(path)
    return [e for line in lines if (e := decode_event(line, writer))]


def last_events(run_dir: Path, n: int = 10) -> list[RunEvent]:
    """The ``n`` latest events of all writers, oldest first."""
    events = [e for path in event_files(run_dir) for e in _tail_of(path, 64 * 1024)]
    events.sort(key=lambda e: e.time)
    return events[-n:] if n else []


def terminal_events(run_dir: Path) -> dict[str, TerminalEvent]:
    """The last ``finished`` or ``error`` event of each writer of the run."""
    out: dict[str, TerminalEvent] = {}
    for path in event_files(run_dir):
        for event in _tail_of(path):
            if is_terminal(event):
                out[event.writer] = event  # type: ignore[assignment]
    return out
