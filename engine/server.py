"""``alignuq-engine --stdio``: the engine process behind the protocol of ``engine.protocol``.

Stdout carries protocol lines only. At start the real stdout file descriptor is kept for the
protocol and fd 1 / ``sys.stdout`` are pointed at stderr, so prints, warnings, logging and
progress bars of any library end up on stderr. Requests are read from stdin (lines of any length);
every request runs in its own thread (``cancel`` is answered at once); a ticker re-sends the latest
progress of every running ``run`` at least once a second, as the runner made it (the rate and ETA
are computed there, once: ``engine.events.ProgressMeter``). When stdin closes (or on
SIGTERM/SIGINT) running work is cancelled, allowed to stop cleanly (its rows are committed batch
by batch), and the process exits.

torch is imported lazily: for ``hello`` (versions, devices) and by the runner.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, BinaryIO

from common.errors import CANCELLED, INTERNAL, AlignuqError, BadInput, as_error
from engine.events import LogEvent, Progress, ProgressEvent, RunEvent
from engine.protocol import (
    CANCEL_ACK,
    PROTOCOL_VERSION,
    Error,
    Hello,
    LogNote,
    ProgressNote,
    ProtocolError,
    Request,
    Result,
    decode_request,
    encode,
)

log = logging.getLogger("alignuq.engine.server")

TICK_S = 0.25            # how often the ticker looks
HEARTBEAT_S = 0.9        # re-send the latest progress when nothing was sent for this long
MIN_FORWARD_S = 0.1      # forward runner progress at most this often (the ticker catches up)
SHUTDOWN_GRACE_S = 60.0  # after stdin closes, how long running work may take to stop


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def hello_message() -> Hello:
    """Versions and devices of this engine (imports torch)."""
    device, names = "cpu", []
    try:
        import torch

        if torch.cuda.is_available():
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            device = "cuda"
        torch_version = torch.__version__
    except Exception as err:  # noqa: BLE001 - a broken torch still says hello, then fails runs
        print(f"alignuq engine: torch unavailable: {err}", file=sys.stderr)
        torch_version = None
    return Hello(protocol=PROTOCOL_VERSION, device=device, cuda_devices=names,
                 torch=torch_version, transformers=_version("transformers"),
                 python=platform.python_version(), pid=os.getpid(), host=socket.gethostname())


def error_for(exc: BaseException, request_id: Any) -> Error:
    """The protocol's error for an exception (its traceback goes to stderr when it is a bug)."""
    err = as_error(exc)
    if err.code == INTERNAL and not isinstance(exc, AlignuqError):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return Error.of(err, request_id)


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


@dataclass
class Job:
    """One request being served."""

    id: Any
    method: str
    params: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None
    progress: Progress | None = None       # the latest progress of a run
    last_sent: float = 0.0
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Server:
    """The stdio engine. ``out`` is the protocol stream (binary), ``inp`` the request stream."""

    def __init__(self, out: BinaryIO, inp: BinaryIO):
        self._out = out
        self._inp = inp
        self._out_lock = threading.Lock()
        self._out_dead = False
        self._jobs: dict[Any, Job] = {}
        self._jobs_lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = time.time()

    # ------------------------------------------------------------------ output

    def send(self, message: Any) -> None:
        line = encode(message).encode("utf-8")
        with self._out_lock:
            if self._out_dead:
                return
            try:
                self._out.write(line)
                self._out.flush()
            except (OSError, ValueError):  # the front end went away
                self._out_dead = True

    # ------------------------------------------------------------------ main loop

    def serve(self) -> int:
        self.send(hello_message())
        ticker = threading.Thread(target=self._tick, name="progress-ticker", daemon=True)
        ticker.start()
        while not self._stopping.is_set():
            try:
                line = self._inp.readline()
            except (OSError, ValueError):
                break
            if not line:
                break  # stdin closed
            if not line.strip():
                continue
            self.handle_line(line)
        self.shutdown()
        return 0

    def handle_line(self, line: bytes | str) -> None:
        try:
            req = decode_request(line)
        except ProtocolError as err:
            self.send(err.to_message())
            return
        if req.method == "cancel":
            self._answer(req, self._cancel)
            return
        if req.method == "status":
            self._answer(req, self._status)
            return
        with self._jobs_lock:
            if req.id in self._jobs:
                self.send(error_for(BadInput(f"request id {req.id!r} is already in use by a "
                                             "running request"), req.id))
                return
            job = Job(id=req.id, method=req.method, params=req.params)
            self._jobs[req.id] = job
        target = self._run_job if req.method == "run" else self._list_models_job
        job.thread = threading.Thread(target=target, args=(job,), name=f"{req.method}-{req.id}",
                                      daemon=True)
        job.thread.start()

    def _answer(self, req: Request, fn) -> None:
        try:
            self.send(Result(id=req.id, result=fn(req.params)))
        except BaseException as exc:  # noqa: BLE001
            self.send(error_for(exc, req.id))

    # ------------------------------------------------------------------ methods

    def _cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        target = params.get("id")
        if target is None:
            raise ProtocolError("cancel needs params.id: the id of the run request to cancel")
        with self._jobs_lock:
            job = self._jobs.get(target)
        if job is None or job.finished:
            return {"cancelled": False, "reason": f"no running request with id {target!r}"}
        job.cancel.set()
        self.send(LogNote(id=job.id, level="info", message=CANCEL_ACK))
        return {"cancelled": True}

    def _status(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._jobs_lock:
            jobs = [j for j in self._jobs.values() if not j.finished]
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "uptime_s": round(time.time() - self._started, 3),
                "running": [{"id": j.id, "method": j.method, "started": j.started,
                             "cancelling": j.cancel.is_set(),
                             "progress": asdict(j.progress) if j.progress else None}
                            for j in jobs]}

    def _finish(self, job: Job, message: Any) -> None:
        with job.lock:  # no progress of this request may follow its final message
            with self._jobs_lock:
                job.finished = True
                self._jobs.pop(job.id, None)
            self.send(message)

    def _list_models_job(self, job: Job) -> None:
        try:
            result = list_models(job.params)
            self._finish(job, Result(id=job.id, result=result))
        except BaseException as exc:  # noqa: BLE001
            self._finish(job, error_for(exc, job.id))

    def _run_job(self, job: Job) -> None:
        try:
            spec = spec_from_params(job.params)
            from engine.runner import execute_run

            self._progress(job, Progress.loading(), force=True)
            summary = execute_run(spec, on_event=lambda ev: self._on_event(job, ev),
                                  cancel=job.cancel)
            data = _plain(summary)
            if isinstance(data, dict) and data.get("status") == "cancelled":
                done, total = data.get("n_done"), data.get("n_total")
                cancelled = AlignuqError(f"run {data.get('run_id')} cancelled at {done}/{total} "
                                         "questions", code=CANCELLED, data=data)
                self._finish(job, error_for(cancelled, job.id))
            else:
                self._finish(job, Result(id=job.id, result=data))
        except AlignuqError as exc:
            if exc.code == CANCELLED:
                exc.data = _summary_from_progress(job) or {}
            self._finish(job, error_for(exc, job.id))
        except BaseException as exc:  # noqa: BLE001
            self._finish(job, error_for(exc, job.id))

    # ------------------------------------------------------------------ events / progress

    def _on_event(self, job: Job, event: RunEvent) -> None:
        if isinstance(event, ProgressEvent):
            self._progress(job, event.progress)
        elif isinstance(event, LogEvent):
            self.send(LogNote(id=job.id, level=event.level, message=event.message))

    def _progress(self, job: Job, progress: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        previous, job.progress = job.progress, progress
        changed_phase = previous is None or previous.phase != progress.phase
        if force or changed_phase or progress.done >= progress.total or \
                now - job.last_sent >= MIN_FORWARD_S:
            self._send_progress(job, now)

    def _send_progress(self, job: Job, now: float) -> None:
        with job.lock:
            if job.finished or job.progress is None:
                return
            job.last_sent = now
            self.send(ProgressNote(id=job.id, progress=job.progress))

    def _tick(self) -> None:
        while not self._stopping.wait(TICK_S):
            now = time.monotonic()
            with self._jobs_lock:
                jobs = [j for j in self._jobs.values() if j.method == "run" and not j.finished]
            for job in jobs:
                if job.progress is not None and now - job.last_sent >= HEARTBEAT_S:
                    self._send_progress(job, now)

    # ------------------------------------------------------------------ shutdown

    def cancel_all(self) -> None:
        with self._jobs_lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()

    def shutdown(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Cancel running work and wait (bounded) for it to stop."""
        self.cancel_all()
        deadline = time.monotonic() + grace_s
        with self._jobs_lock:
            threads = [j.thread for j in self._jobs.values() if j.thread is not None]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()


def _summary_from_progress(job: Job) -> dict[str, Any] | None:
    if job.progress is None:
        return None
    return {"run_id": job.progress.run_id, "n_done": job.progress.done,
            "n_total": job.progress.total, "status": "cancelled"}


def spec_from_params(params: dict[str, Any]):
    """The RunSpec of a ``run`` request (``params.spec``; a flat spec is accepted too)."""
    from engine.run_spec import RunSpec

    raw = params.get("spec", params if "dataset" in params else None)
    if not isinstance(raw, dict):
        raise ProtocolError("run needs params.spec: an object with RunSpec's fields")
    try:
        spec = RunSpec.from_dict(raw)
    except TypeError as err:
        raise ProtocolError(f"run spec is invalid ({err})") from None
    for key in ("workspace", "dataset", "model"):
        if not isinstance(getattr(spec, key), str) or not getattr(spec, key):
            raise ProtocolError(f"run spec needs a non-empty string {key!r}")
    return spec


def list_models(params: dict[str, Any]) -> dict[str, Any]:
    """Every model the engine can find (delegates to ``engine.models.resolve.discover_models``)."""
    from datasets_io.workspace import resolve_workspace
    from engine.models.resolve import discover_models

    ws = resolve_workspace(params.get("workspace"))
    extra = params.get("dirs") or []
    if not isinstance(extra, list) or not all(isinstance(d, str) for d in extra):
        raise ProtocolError("list_models: params.dirs must be a list of folder paths")
    found = discover_models(ws.cache, [Path(d) for d in extra])
    return {"models": [_plain(m) for m in found]}


def _plain_tty() -> None:
    """When started on a terminal (``srun --pty``, ``ssh -t``): no echo, no line editing (whose
    4096-byte line limit would cut large requests), no ``\\n`` -> ``\\r\\n`` on output."""
    try:
        import termios
    except ImportError:
        return
    for fd in (0, 1):
        try:
            if not os.isatty(fd):
                continue
            attrs = termios.tcgetattr(fd)
            if fd == 0:
                attrs[3] &= ~(termios.ECHO | termios.ICANON)
                attrs[6][termios.VMIN] = 1
                attrs[6][termios.VTIME] = 0
            else:
                attrs[1] &= ~termios.OPOST
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except (OSError, termios.error):
            continue


def serve_stdio() -> int:
    """Entry point: claim stdout for the protocol, send everything else to stderr, serve."""
    sys.stdout.flush()
    _plain_tty()
    proto_fd = os.dup(1)
    os.dup2(2, 1)                      # C-level writes to fd 1 now go to stderr
    sys.stdout = sys.stderr            # Python-level prints too
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = os.fdopen(proto_fd, "wb")
    server = Server(out, sys.stdin.buffer)

    def on_signal(signum, frame):  # noqa: ARG001
        print(f"alignuq engine: signal {signum}: cancelling running work", file=sys.stderr)
        server.cancel_all()

        def finish():
            server.shutdown()
            try:
                out.flush()
            except OSError:
                pass
            os._exit(128 + signum)

        threading.Thread(target=finish, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        code = server.serve()
    finally:
        try:
            out.flush()
        except OSError:
            pass
    # daemon threads that ignored cancellation must not keep the process alive
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """``alignuq-engine --stdio`` (or ``python -m engine.server --stdio``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="alignuq-engine", description="The alignuq engine: "
                                     "JSON lines on stdin, answers on stdout, logs on stderr "
                                     "(engine/protocol.py).")
    parser.add_argument("--stdio", action="store_true", required=True,
                        help="speak the protocol over stdin/stdout (the only transport)")
    parser.parse_args(argv)
    serve_stdio()


if __name__ == "__main__":
    main()
