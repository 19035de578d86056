"""The one error a user can act on: what went wrong, where, and what to do.

Every failure that reaches a person is an :class:`AlignuqError`: a stable ``code`` (the engine
protocol's ``error.code``), ``what`` went wrong, ``where`` (a file, line, question id, run), and
the ``fix``. ``message`` is the whole one-line text; front ends print it (the CLI on stderr, exit
code :attr:`AlignuqError.exit_code`; the console in its error dialog) and never a traceback.

:class:`BadInput` is the same error with the code ``BAD_INPUT``: the name importers and commands
raise when the user's input is at fault. Each boundary translates once: the engine's server
sends :meth:`AlignuqError.to_dict` as the protocol's error, the client turns it back with
:meth:`AlignuqError.from_dict`, and :func:`as_error` turns any other exception into one.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130

BAD_INPUT = "BAD_INPUT"
MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
BAD_MODEL = "BAD_MODEL"
OOM = "OOM"
CANCELLED = "CANCELLED"
INTERNAL = "INTERNAL"
ENGINE_START = "ENGINE_START"  # the engine could not be started, or never said hello
ENGINE_DIED = "ENGINE_DIED"    # the engine exited while requests were pending
CODES = (BAD_INPUT, MODEL_NOT_FOUND, BAD_MODEL, OOM, CANCELLED, INTERNAL, ENGINE_START, ENGINE_DIED)

DEFAULT_FIXES = {
    BAD_INPUT: "check the dataset name and the run settings",
    MODEL_NOT_FOUND: "run `alignuq models list` to see the models found locally",
    BAD_MODEL: "the path must hold a causal LM with its tokenizer (config.json, weights, "
               "tokenizer files) or be a .gguf file",
    OOM: "lower --batch-tokens, or use a smaller model or dtype",
    CANCELLED: "run the same command again to resume where it stopped",
    INTERNAL: "this is a bug: please report it with the run's events.jsonl",
    ENGINE_START: "check the engine command (--engine-cmd / ALIGNUQ_ENGINE_CMD) and that "
                  "`alignuq-engine --stdio` works there",
    ENGINE_DIED: "see the engine's last stderr lines above; run the same command again to resume",
}
_EXIT_CODES = {BAD_INPUT: EXIT_BAD_INPUT, MODEL_NOT_FOUND: EXIT_BAD_INPUT,
               BAD_MODEL: EXIT_BAD_INPUT, CANCELLED: EXIT_CANCELLED}


class AlignuqError(Exception):
    """What went wrong (``what``), where, and what to do (``fix``), under a stable ``code``.

    ``fix`` defaults to the code's; ``data`` carries facts a front end may use (e.g. the run id
    and counts of a cancelled run). ``str(err)`` is the whole one-line message."""

    def __init__(self, what: str, *, code: str = BAD_INPUT, where: str | Path | None = None,
                 line: int | None = None, fix: str | None = None,
                 data: dict[str, Any] | None = None):
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.what = what
        self.where = str(where) if where is not None else None
        self.line = line
        self.fix = fix if fix is not None else DEFAULT_FIXES.get(code, "")
        self.data = dict(data or {})
        super().__init__(self.message)

    @property
    def message(self) -> str:
        place = ""
        if self.where:
            place = f"{self.where}:{self.line}: " if self.line else f"{self.where}: "
        text = f"{place}{self.what}"
        if self.fix:
            text += f"; {self.fix}"
        return text.replace("\n", " ")

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES.get(self.code, EXIT_FAILURE)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "what": self.what, "where": self.where, "line": self.line,
                "fix": self.fix, "data": self.data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlignuqError:
        code = data.get("code")
        return cls(str(data.get("what") or ""), code=code if code in CODES else INTERNAL,
                   where=data.get("where"), line=data.get("line"), fix=data.get("fix"),
                   data=data.get("data") if isinstance(data.get("data"), dict) else None)


class BadInput(AlignuqError):
    """Input the user can fix (code ``BAD_INPUT``, exit code 2)."""

    def __init__(self, what: str, *, where: str | Path | None = None, line: int | None = None,
                 fix: str | None = None, data: dict[str, Any] | None = None):
        super().__init__(what, code=BAD_INPUT, where=where, line=line, fix=fix or "", data=data)


def write_failure(err: OSError, where: str | Path | None = None, *,
                  kept: str | None = None) -> BadInput | None:
    """A full or read-only disk as the error a user can act on (None for any other error).

    ``where`` names the place when the error itself names no file; ``kept`` says what survives
    (e.g. the rows already stored), appended to the fix.
    """
    place = err.filename or where
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space or choose a folder on another disk, then run the same command again"
        return BadInput("no space left on the disk that holds it (or the disk quota is used up)",
                        where=place, fix=f"{fix} ({kept})" if kept else fix)
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return BadInput(f"cannot write here ({err.strerror or 'permission denied'})", where=place,
                        fix="choose a folder you can write to (for the workspace: --workspace DIR "
                            "or ALIGNUQ_WORKSPACE)")
    return None


def as_error(err: BaseException) -> AlignuqError:
    """Any exception as the error a person sees: an AlignuqError as it is; a full or read-only
    disk or a missing file as bad input; out of memory as OOM; anything else as INTERNAL."""
    if isinstance(err, AlignuqError):
        return err
    if isinstance(err, OSError):
        if (bad := write_failure(err)) is not None:
            return bad
        if isinstance(err, FileNotFoundError):
            return BadInput("no such file", where=err.filename or str(err), fix="check the path")
        return AlignuqError(f"{err.strerror or err}", code=INTERNAL, where=err.filename,
                            fix="check the path, the permissions and the free space")
    if is_out_of_memory(err):
        return AlignuqError(f"out of memory: {first_line(err)}", code=OOM)
    return AlignuqError(f"{type(err).__name__}: {first_line(err)}", code=INTERNAL)


def is_out_of_memory(err: BaseException) -> bool:
    """Host or GPU memory exhausted (torch's OutOfMemoryError is recognised by name: torch-free)."""
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
