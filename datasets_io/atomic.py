"""Write files and folders so that nothing half-written is ever left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from datasets_io.errors import write_failure


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


@contextlib.contextmanager
def atomic_dir(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to ``final`` only if the block succeeds."""
    with _write_failures_name(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
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
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it over ``final`` only if the block succeeds."""
    final = Path(final)
    with _write_failures_name(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(name)
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
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".deleting", dir=path.parent))
    os.replace(path, trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)
