"""The one error type a user can act on.

Every refusal of bad input raises :class:`BadInput` with a one-line message that says what is
wrong, where (file, line, column, question id) and what to do. Front ends print the message and
exit with code 2; they never show a traceback for it.
"""

from __future__ import annotations

import errno
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Input the user can fix. ``str(err)`` is the whole one-line message."""

    def __init__(self, what: str, *, where: str | Path | None = None, line: int | None = None,
                 fix: str | None = None):
        self.what = what
        self.where = str(where) if where is not None else None
        self.line = line
        self.fix = fix
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
