"""Write files and folders so that nothing half-written is ever left behind.

Every file and folder is created the way a plain ``open()``/``mkdir()`` would create it, so it
gets the mode the umask (or the folder's default ACL) gives: a group project folder stays
readable by the group. ``tempfile.mkstemp``/``mkdtemp`` would make them private (0600/0700).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from common.errors import write_failure


@contextlib.contextmanager
def _write_failures_name(final: Path) -> Iterator[None]:
    """A full or read-only disk surfaces as BadInput naming ``final`` (``write_failure``): the
    error itself names a temporary file that is gone by then, or no file at all (pyarrow's)."""
    try:
        yield
    except OSError as err:
        bad = write_failure(OSError(err.errno, err.strerror), final)
        if bad is None:
            raise
        raise bad from None


def _create_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _fresh_sibling(final: Path, suffix: str, create: Callable[[Path], None]) -> Path:
    """Create a new hidden sibling of ``final`` (``.NAME.RANDOM.SUFFIX``) with ``create``."""
    for _ in range(100):
        candidate = final.with_name(f".{final.name}.{secrets.token_hex(4)}{suffix}")
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(final))


def _move_dir_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; FileExistsError if another process put a folder there first."""
    try:
        os.rename(tmp, final)
    except OSError as err:
        if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
        raise


@contextlib.contextmanager
def atomic_dir(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to ``final`` only if the block succeeds.

    Without ``replace``, a ``final`` that exists (or that another process creates meanwhile)
    raises FileExistsError and is left as it is."""
    with _write_failures_name(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _fresh_sibling(final, ".tmp", os.mkdir)
        try:
            yield tmp
            if final.exists():
                if not replace:
                    raise FileExistsError(final)
                trash = final.with_name(f".{final.name}.old")
                shutil.rmtree(trash, ignore_errors=True)
                os.replace(final, trash)
                os.replace(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                _move_dir_into_place(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it over ``final`` only if the block succeeds."""
    final = Path(final)
    with _write_failures_name(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _fresh_sibling(final, ".tmp", _create_file)
        try:
            yield tmp
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_text_atomic(final: Path, text: str) -> None:
    with atomic_file(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_dir(path: Path) -> None:
    """Remove a folder without ever leaving a half-removed copy under its name: it is first
    moved into a hidden sibling (readers skip hidden names), which is then removed."""
    path = Path(path)
    trash = _fresh_sibling(path, ".deleting", os.mkdir)
    os.replace(path, trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)
