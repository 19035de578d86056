"""The engine <-> front-end protocol: newline-delimited JSON over the engine's stdin/stdout.

Torch-free and textual-free: the CLI, the TUI and the engine server all speak it.

One JSON object per line, UTF-8, ``\\n``-terminated. Lines can be large (a front end must raise
its reader limit); bulk data travels as file paths, never inline.

Engine -> front end
    ``{"type": "hello", "protocol": 2, "device": "cuda:0", "cuda_devices": ["NVIDIA H100 ..."],
    "torch": "2.5.1", "transformers": "4.46.0", "python": "3.11.9", "pid": 123, "host": "gpu01"}``
        first line, once, as soon as the engine is ready for requests.
    ``{"type": "progress", "id": REQ, "run_id": ..., "done": 10, "total": 100, "rate": 3.2,
    "eta_s": 28.1, "phase": "loading"|"running"|"done"}``
        notification of a running ``run`` request; at least once a second while it runs. The
        fields after ``id`` are the runner's :class:`engine.events.Progress`, as it made them.
    ``{"type": "log", "id": REQ|null, "level": "info"|"warning"|..., "message": "..."}``
        notification; ``id`` is null for a message not tied to a request.
    ``{"type": "result", "id": REQ, "result": {...}}``
        the final answer of a request.
    ``{"type": "error", "id": REQ|null, "code": "OOM", "what": "...", "where": "..."|null,
    "line": N|null, "fix": "...", "data": {...}}``
        the final answer of a failed request (``id`` null when the request line itself could not
        be read): :class:`common.errors.AlignuqError` as its ``to_dict``; ``code`` is one of
        :data:`common.errors.CODES`.

Front end -> engine
    ``{"type": "request", "id": REQ, "method": "run"|"cancel"|"status"|"list_models",
    "params": {...}}``   (``type`` may be omitted)

Every request gets exactly one ``result`` or ``error``, after any notifications it causes.

Methods
    ``run``          params ``{"spec": RunSpec.to_dict()}``; result: ``RunSummary.to_dict()``.
                     A cancelled run answers ``error`` ``CANCELLED`` with ``data`` = the summary
                     so far (rows already computed are kept; the same spec resumes).
    ``cancel``       params ``{"id": REQ of the run}``; result ``{"cancelled": bool}``.
    ``status``       params ``{}``; result ``{"pid", "host", "uptime_s", "running": [{"id",
                     "method", "started", "progress"}]}``.
    ``list_models``  params ``{"workspace": path|null}``; result ``{"models": [dict, ...]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from common.errors import CODES, AlignuqError
from engine.events import Progress

PROTOCOL_VERSION = 2  # 2: errors carry what / where / fix (was message / suggestion)

METHODS = ("run", "cancel", "status", "list_models")
MESSAGE_TYPES = ("hello", "progress", "log", "result", "error")
LOG_LEVELS = ("debug", "info", "warning", "error")
CANCEL_ACK = "cancelling: stopping after the current batch"  # the log note that answers a cancel

RequestId = str | int

PROTOCOL_FIX = ("send one JSON object per line: {\"id\": ..., \"method\": ..., \"params\": {...}} "
                       "(see engine/protocol.py)")


class ProtocolError(AlignuqError):
    """A line that is not a valid protocol message (BAD_INPUT). Carries the request id when it
    was readable."""

    def __init__(self, what: str, request_id: RequestId | None = None):
        super().__init__(what, fix=PROTOCOL_FIX)
        self.request_id = request_id

    def to_message(self) -> Error:
        return Error.of(self, self.request_id)


# --------------------------------------------------------------------------- messages


@dataclass
class Hello:
    protocol: int
    device: str
    cuda_devices: list[str] = field(default_factory=list)
    torch: str | None = None
    transformers: str | None = None
    python: str = ""
    pid: int = 0
    host: str = ""
    type: str = "hello"


@dataclass
class Request:
    id: RequestId
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    type: str = "request"


@dataclass
class ProgressNote:
    """A running ``run`` request's progress; on the wire its fields sit next to ``id``."""

    id: RequestId
    progress: Progress
    type: str = "progress"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, **asdict(self.progress)}


@dataclass
class LogNote:
    level: str
    message: str
    id: RequestId | None = None
    type: str = "log"


@dataclass
class Result:
    id: RequestId
    result: Any = None
    type: str = "result"


@dataclass
class Error:
    """The final answer of a failed request: an :class:`AlignuqError`, field by field."""

    id: RequestId | None
    code: str
    what: str
    where: str | None = None
    line: int | None = None
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    type: str = "error"

    @classmethod
    def of(cls, err: AlignuqError, request_id: RequestId | None) -> Error:
        return cls(id=request_id, **err.to_dict())

    def to_error(self) -> AlignuqError:
        return AlignuqError.from_dict(asdict(self))


Message = Hello | Request | ProgressNote | LogNote | Result | Error


# --------------------------------------------------------------------------- encoding


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become null, tuples lists, numpy scalars plain numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        try:
            return _clean(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def encode(message: Message | dict[str, Any]) -> str:
    """One protocol line, ``\\n`` included. Never raises on odd values (they become strings/null)."""
    if isinstance(message, dict):
        data = message
    else:
        data = message.to_dict() if isinstance(message, ProgressNote) else asdict(message)
    if "type" in data:  # the type first: easier to read in a log
        data = {"type": data["type"], **{k: v for k, v in data.items() if k != "type"}}
    return json.dumps(_clean(data), ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def _load(line: str | bytes) -> dict[str, Any]:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ProtocolError(f"line is not UTF-8 ({err.reason} at byte {err.start})") from None
    text = line.strip()
    if not text:
        raise ProtocolError("empty line")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"line is not JSON ({err.msg} at column {err.colno})") from None
    except RecursionError:
        raise ProtocolError("line is nested too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"a message must be a JSON object, not {type(data).__name__}")
    return data


def _id(data: dict[str, Any], *, required: bool) -> RequestId | None:
    rid = data.get("id")
    if rid is None and not required:
        return None
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
        raise ProtocolError(f"'id' must be a non-empty string or an integer, not {rid!r}")
    return rid


def decode_request(line: str | bytes) -> Request:
    """Parse and validate one front-end -> engine line. Raises :class:`ProtocolError`."""
    data = _load(line)
    rid = None
    try:
        rid = _id(data, required=True)
    except ProtocolError as err:
        raise ProtocolError(err.what) from None
    kind = data.get("type", "request")
    if kind != "request":
        raise ProtocolError(f"expected a request, got type {kind!r}", rid)
    method = data.get("method")
    if not isinstance(method, str):
        raise ProtocolError("'method' must be a string", rid)
    if method not in METHODS:
        raise ProtocolError(f"unknown method {method!r} (known: {', '.join(METHODS)})", rid)
    params = data.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("'params' must be an object", rid)
    return Request(id=rid, method=method, params=params)


def _need(data: dict[str, Any], key: str, types: type | tuple[type, ...], kind: str,
          rid: RequestId | None = None, *, optional: bool = False) -> Any:
    if key not in data or data[key] is None:
        if optional:
            return None
        raise ProtocolError(f"{kind} message lacks {key!r}", rid)
    value = data[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ProtocolError(f"{kind}.{key} has the wrong type ({type(value).__name__})", rid)
    if not isinstance(value, types):
        raise ProtocolError(f"{kind}.{key} has the wrong type ({type(value).__name__})", rid)
    return value


def decode_message(line: str | bytes) -> Message:
    """Parse and validate one engine -> front-end line. Raises :class:`ProtocolError`."""
    data = _load(line)
    kind = data.get("type")
    if kind == "hello":
        proto = _need(data, "protocol", int, "hello")
        return Hello(protocol=proto, device=str(data.get("device", "")),
                     cuda_devices=list(data.get("cuda_devices") or []),
                     torch=data.get("torch"), transformers=data.get("transformers"),
                     python=str(data.get("python", "")), pid=int(data.get("pid") or 0),
                     host=str(data.get("host", "")))
    if kind == "progress":
        rid = _id(data, required=True)
        return ProgressNote(id=rid, progress=Progress(
            run_id=data.get("run_id"),
            done=int(_need(data, "done", (int, float), "progress", rid)),
            total=int(_need(data, "total", (int, float), "progress", rid)),
            rate=float(data.get("rate") or 0.0),
            eta_s=None if data.get("eta_s") is None else float(data["eta_s"]),
            phase=str(data.get("phase", "running"))))
    if kind == "log":
        rid = _id(data, required=False)
        return LogNote(id=rid, level=str(data.get("level", "info")),
                       message=str(_need(data, "message", str, "log", rid)))
    if kind == "result":
        rid = _id(data, required=True)
        return Result(id=rid, result=data.get("result"))
    if kind == "error":
        rid = _id(data, required=False)
        code = _need(data, "code", str, "error", rid)
        if code not in CODES:
            raise ProtocolError(f"unknown error code {code!r}", rid)
        line_no = data.get("line")
        return Error(id=rid, code=code, what=str(_need(data, "what", str, "error", rid)),
                     where=None if data.get("where") is None else str(data["where"]),
                     line=line_no if isinstance(line_no, int) else None,
                     fix=str(data.get("fix") or ""),
                     data=data["data"] if isinstance(data.get("data"), dict) else {})
    if kind == "request":
        return decode_request(line)
    raise ProtocolError(f"unknown message type {kind!r}", data.get("id") if isinstance(
        data.get("id"), (str, int)) else None)


def is_final(message: Message) -> bool:
    """True for the one message that ends a request (``result`` or ``error``)."""
    return isinstance(message, (Result, Error))
