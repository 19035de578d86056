"""Start the engine process and talk to it (see ``engine.protocol``). Imports neither torch nor
textual, so a front end on a login node stays light.

The engine command is an argv *prefix* setting:

- ``None`` / ``""``: the local engine, ``[sys.executable, "-m", "engine.server", "--stdio"]``
  (the same Python and installation as the front end);
- ``"ssh gpu-node"`` or ``"srun --gres=gpu:1 -n1"``: the prefix, then ``alignuq-engine --stdio``
  (``alignuq-engine`` must be on that machine's PATH);
- a prefix ending with an ``alignuq-engine`` executable (``"ssh gpu-node
  /opt/venv/bin/alignuq-engine"``): the prefix, then ``--stdio``; one ending with an ``alignuq``
  executable: the prefix, then ``engine serve --stdio``.

The environment variable ``ALIGNUQ_ENGINE_CMD`` gives the default prefix.

Async API (for Textual workers)::

    client = EngineClient("ssh gpu-node")
    hello = await client.start()                       # protocol.Hello
    summary = await client.run(spec, on_progress=..., on_log=...)   # RunSummary as a dict
    # or, to be able to cancel it:
    pending = await client.start_run(spec, on_progress=..., on_log=...)
    await client.cancel(pending.id)
    summary = await pending.result()                   # raises AlignuqError (code CANCELLED)
    models = await client.list_models()
    await client.close()

Every failure is a :class:`common.errors.AlignuqError`: the engine's own (as it sent it), or
``ENGINE_START`` / ``ENGINE_DIED`` for the process itself. :class:`SyncEngineClient` wraps the
same API for blocking callers (the CLI).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import shlex
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import ENGINE_DIED, ENGINE_START, AlignuqError
from engine.protocol import (
    PROTOCOL_VERSION,
    Error,
    Hello,
    LogNote,
    ProgressNote,
    ProtocolError,
    Request,
    Result,
    decode_message,
    encode,
)

ENV_ENGINE_CMD = "ALIGNUQ_ENGINE_CMD"
ENGINE_PROGRAM = "alignuq-engine"
SERVE_ARGS = ["--stdio"]
CLI_SERVE_ARGS = ["engine", "serve", "--stdio"]  # the same engine through `alignuq`
READER_LIMIT = 256 * 1024 * 1024      # protocol lines can be large
STDERR_KEEP = 40                      # stderr lines kept for error messages

Callback = Callable[[Any], Any]


def close_process_transport(proc: Any) -> None:
    """Close an asyncio subprocess's transport (killing the process if it still runs).

    asyncio leaves a finished subprocess's transport open until it is closed; one closed only by
    the garbage collector, after its event loop has stopped, raises 'Event loop is closed'."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.close()


def default_argv() -> list[str]:
    return [sys.executable, "-m", "engine.server", *SERVE_ARGS]


def engine_argv(prefix: str | Sequence[str] | None = None) -> list[str]:
    """The full engine command for an argv prefix setting (see the module docstring)."""
    if prefix is None:
        prefix = os.environ.get(ENV_ENGINE_CMD) or None
    parts = shlex.split(prefix) if isinstance(prefix, str) else list(prefix or [])
    if not parts:
        return default_argv()
    if parts[-1] == "--stdio":                          # a whole command was given
        return parts
    if Path(parts[-1]).name == ENGINE_PROGRAM:
        return parts + SERVE_ARGS
    if Path(parts[-1]).name == "alignuq":
        return parts + CLI_SERVE_ARGS
    return parts + [ENGINE_PROGRAM, *SERVE_ARGS]


@dataclass
class PendingRequest:
    """A request sent to the engine; ``await result()`` for its one answer."""

    id: str
    method: str
    future: asyncio.Future
    on_notification: Callback | None = None
    notifications: int = 0
    last_progress: ProgressNote | None = field(default=None, repr=False)

    async def result(self) -> Any:
        return await asyncio.shield(self.future)

    def done(self) -> bool:
        return self.future.done()


class EngineClient:
    """One engine child process. All methods are coroutines of the loop that called ``start``."""

    def __init__(self, prefix: str | Sequence[str] | None = None, *, argv: Sequence[str] | None = None,
                 env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 hello_timeout: float | None = 900.0, on_stderr: Callable[[str], Any] | None = None,
                 on_log: Callable[[LogNote], Any] | None = None):
        self.argv = list(argv) if argv is not None else engine_argv(prefix)
        self.env = env
        self.cwd = str(cwd) if cwd is not None else None
        self.hello_timeout = hello_timeout
        self.on_stderr = on_stderr
        self.on_log = on_log           # log notes not tied to a request
        self.hello: Hello | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_KEEP)
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[str, PendingRequest] = {}
        self._ids = itertools.count(1)
        self._hello_future: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []
        self._write_lock: asyncio.Lock | None = None
        self._closed = False

    # ------------------------------------------------------------------ life cycle

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> Hello:
        """Start the engine and wait for its ``hello``."""
        if self._proc is not None:
            raise RuntimeError("the engine was already started")
        loop = asyncio.get_running_loop()
        self._hello_future = loop.create_future()
        self._write_lock = asyncio.Lock()
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=READER_LIMIT, env=env, cwd=self.cwd,
                start_new_session=True)  # Ctrl-C in the terminal reaches the front end only
        except OSError as err:
            raise AlignuqError(f"cannot start the engine `{shlex.join(self.argv)}` "
                                    f"({err.strerror or err})", code=ENGINE_START) from None
        self._tasks = [asyncio.create_task(self._read_stdout(), name="engine-stdout"),
                       asyncio.create_task(self._read_stderr(), name="engine-stderr")]
        try:
            self.hello = await asyncio.wait_for(asyncio.shield(self._hello_future), self.hello_timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise AlignuqError(f"the engine said nothing for {self.hello_timeout:g} s"
                                    f"{self._stderr_suffix()}", code=ENGINE_START) from None
        except AlignuqError:
            await self.kill()
            raise
        return self.hello

    async def close(self, timeout: float = 60.0) -> int | None:
        """Close the engine's stdin (it cancels running work and exits); kill it if it lingers."""
        if self._proc is None or self._closed:
            return self.returncode
        self._closed = True
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
            with contextlib.suppress(Exception):
                await self._proc.stdin.wait_closed()
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except asyncio.TimeoutError:
            await self.kill()
        await self._drain_tasks()
        close_process_transport(self._proc)
        return self._proc.returncode

    async def kill(self) -> None:
        """Stop the engine now (SIGTERM, then SIGKILL). Committed rows are kept."""
        if self._proc is None or self._proc.returncode is not None:
            await self._drain_tasks()
            close_process_transport(self._proc)
            return
        for sig_fn, wait in ((self._proc.terminate, 5.0), (self._proc.kill, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                sig_fn()
            try:
                await asyncio.wait_for(self._proc.wait(), wait)
                break
            except asyncio.TimeoutError:
                continue
        await self._drain_tasks()
        close_process_transport(self._proc)

    async def _drain_tasks(self) -> None:
        for task in self._tasks:
            if not task.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), 5.0)
            if not task.done():
                task.cancel()

    async def __aenter__(self) -> EngineClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ requests

    async def submit(self, method: str, params: dict[str, Any] | None = None,
                     on_notification: Callback | None = None) -> PendingRequest:
        """Send a request; returns at once with a :class:`PendingRequest`."""
        if not self.running or self._proc is None or self._proc.stdin is None:
            raise AlignuqError(f"the engine is not running{self._stderr_suffix()}", code=ENGINE_DIED)
        rid = f"r{next(self._ids)}"
        pending = PendingRequest(id=rid, method=method,
                                 future=asyncio.get_running_loop().create_future(),
                                 on_notification=on_notification)
        self._pending[rid] = pending
        line = encode(Request(id=rid, method=method, params=params or {})).encode("utf-8")
        assert self._write_lock is not None
        try:
            async with self._write_lock:
                self._proc.stdin.write(line)
                await self._proc.stdin.drain()
        except (ConnectionError, OSError) as err:
            self._pending.pop(rid, None)
            raise AlignuqError(f"cannot write to the engine ({err})"
                                    f"{self._stderr_suffix()}", code=ENGINE_DIED) from None
        return pending

    async def request(self, method: str, params: dict[str, Any] | None = None,
                      on_notification: Callback | None = None) -> Any:
        """Send a request and wait for its result (raises :class:`common.errors.AlignuqError`)."""
        pending = await self.submit(method, params, on_notification)
        return await pending.result()

    async def start_run(self, spec: Any, on_progress: Callable[[ProgressNote], Any] | None = None,
                        on_log: Callable[[LogNote], Any] | None = None) -> PendingRequest:
        """Start a run (``spec``: a RunSpec or its dict); ``await pending.result()`` for the summary."""
        spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)

        def on_note(note: Any) -> None:
            if isinstance(note, ProgressNote) and on_progress is not None:
                on_progress(note)
            elif isinstance(note, LogNote) and on_log is not None:
                on_log(note)

        return await self.submit("run", {"spec": spec_dict}, on_note)

    async def run(self, spec: Any, on_progress: Callable[[ProgressNote], Any] | None = None,
                  on_log: Callable[[LogNote], Any] | None = None) -> dict[str, Any]:
        """Run to the end; returns the RunSummary dict. Cancelled: AlignuqError (code CANCELLED)."""
        pending = await self.start_run(spec, on_progress, on_log)
        return await pending.result()

    async def cancel(self, request_id: str) -> bool:
        """Ask the engine to cancel a running request; its own answer will be CANCELLED."""
        result = await self.request("cancel", {"id": request_id})
        return bool(result and result.get("cancelled"))

    async def status(self) -> dict[str, Any]:
        return await self.request("status")

    async def list_models(self, workspace: str | Path | None = None) -> list[dict[str, Any]]:
        params = {"workspace": str(workspace)} if workspace is not None else {}
        result = await self.request("list_models", params)
        return list(result.get("models", []))

    @property
    def pending_ids(self) -> list[str]:
        return [rid for rid, p in self._pending.items() if not p.done()]

    # ------------------------------------------------------------------ readers

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError) as err:
                self.stderr_tail.append(f"[client] protocol line over the reader limit: {err}")
                continue
            if not line:
                break
            try:
                message = decode_message(line)
            except ProtocolError as err:
                text = line.decode("utf-8", "replace").rstrip()
                self.stderr_tail.append(f"[stdout, not protocol: {err.what}] {text[:500]}")
                continue
            self._dispatch(message)
        rc = await self._proc.wait()
        await self._stderr_done()
        self._fail_all(rc)

    async def _stderr_done(self) -> None:
        if len(self._tasks) > 1 and not self._tasks[1].done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._tasks[1]), 2.0)

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            try:
                line = await self._proc.stderr.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.stderr_tail.append(text)
            if self.on_stderr is not None:
                _call(self.on_stderr, text)

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, Hello):
            fut = self._hello_future
            if fut is None or fut.done():
                return
            if message.protocol != PROTOCOL_VERSION:
                fut.set_exception(AlignuqError(f"the engine speaks protocol {message.protocol}, this front end "
                    f"{PROTOCOL_VERSION}", code=ENGINE_START, fix="install the same alignuq version on both sides"))
            else:
                fut.set_result(message)
            return
        if isinstance(message, Request):  # a terminal echoing our own line back: not for us
            return
        rid = getattr(message, "id", None)
        pending = self._pending.get(rid) if rid is not None else None
        if isinstance(message, (Result, Error)):
            if pending is None:
                if isinstance(message, Error) and rid is None:
                    self.stderr_tail.append(f"[engine error] {message.code}: {message.what}")
                return
            self._pending.pop(rid, None)
            if pending.future.done():
                return
            if isinstance(message, Result):
                pending.future.set_result(message.result)
            else:
                pending.future.set_exception(message.to_error())
            return
        if pending is not None:
            pending.notifications += 1
            if isinstance(message, ProgressNote):
                pending.last_progress = message
            if pending.on_notification is not None:
                _call(pending.on_notification, message)
        elif isinstance(message, LogNote) and self.on_log is not None:
            _call(self.on_log, message)

    def _fail_all(self, rc: int | None) -> None:
        if self._hello_future is not None and not self._hello_future.done():
            self._hello_future.set_exception(AlignuqError(f"the engine exited with code {rc} before saying hello"
                f"{self._stderr_suffix()}", code=ENGINE_START))
        for rid, pending in list(self._pending.items()):
            self._pending.pop(rid, None)
            if not pending.future.done():
                pending.future.set_exception(AlignuqError(f"the engine exited with code {rc} during request {rid} "
                    f"({pending.method}){self._stderr_suffix()}", code=ENGINE_DIED))
                # nobody may be awaiting it; don't warn about an unretrieved exception
                pending.future.add_done_callback(lambda f: f.exception())

    def _stderr_suffix(self, n: int = 5) -> str:
        lines = [s for s in self.stderr_tail if s.strip()][-n:]
        return ("; engine stderr: " + " | ".join(s.strip() for s in lines)) if lines else ""


def _call(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001 - a broken callback must not kill the reader
        print(f"alignuq: engine client callback failed: {err!r}", file=sys.stderr)


# ---------------------------------------------------------------------- blocking wrapper


class SyncRun:
    """A run started through :class:`SyncEngineClient`; ``wait()`` blocks for its summary."""

    def __init__(self, client: SyncEngineClient, pending: PendingRequest):
        self._client = client
        self.pending = pending
        self.id = pending.id

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        return self._client._call(self.pending.result(), timeout)

    def cancel(self) -> bool:
        return self._client.cancel(self.id)


class SyncEngineClient:
    """The async client on a private event loop thread, for blocking callers (the CLI).

    Waits poll, so Ctrl-C (KeyboardInterrupt) reaches the caller promptly; callbacks run on the
    loop's thread.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine-client",
                                        daemon=True)
        self._thread.start()
        self.client = EngineClient(*args, **kwargs)

    def _call(self, coro: Awaitable[Any], timeout: float | None = None) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        waited = 0.0
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                waited += 0.2
                if timeout is not None and waited >= timeout:
                    future.cancel()
                    raise TimeoutError(f"no answer from the engine in {timeout:g} s") from None

    def start(self) -> Hello:
        return self._call(self.client.start())

    def start_run(self, spec: Any, on_progress: Callable[[ProgressNote], Any] | None = None,
                  on_log: Callable[[LogNote], Any] | None = None) -> SyncRun:
        return SyncRun(self, self._call(self.client.start_run(spec, on_progress, on_log)))

    def run(self, spec: Any, on_progress: Callable[[ProgressNote], Any] | None = None,
            on_log: Callable[[LogNote], Any] | None = None) -> dict[str, Any]:
        return self.start_run(spec, on_progress, on_log).wait()

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self._call(self.client.request(method, params))

    def cancel(self, request_id: str) -> bool:
        return self._call(self.client.cancel(request_id), timeout=60)

    def status(self) -> dict[str, Any]:
        return self._call(self.client.status())

    def list_models(self, workspace: str | Path | None = None) -> list[dict[str, Any]]:
        return self._call(self.client.list_models(workspace))

    def kill(self) -> None:
        self._call(self.client.kill())

    def close(self, timeout: float = 60.0) -> int | None:
        try:
            return self._call(self.client.close(timeout))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._loop.is_running():
                self._loop.close()

    @property
    def stderr_tail(self) -> list[str]:
        return list(self.client.stderr_tail)

    def __enter__(self) -> SyncEngineClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
