"""The workspace a front end works in: made where a command writes, never where it only reads.

A command that writes (import, run, the console) creates its workspace; one that only reads (or
changes what is there) refuses a folder that does not exist, so a mistyped path is said, not
answered with an empty workspace left behind.
"""

from __future__ import annotations

from pathlib import Path

from datasets_io.workspace import Workspace, resolve_workspace

__all__ = ["Workspace", "workspace_at", "workspace_to_read", "workspace_to_write"]


def workspace_at(path: str | Path | None) -> Workspace:
    """``--workspace`` / ``$ALIGNUQ_WORKSPACE`` / ``./alignuq-workspace``, looked at only."""
    return resolve_workspace(path)


def workspace_to_write(path: str | Path | None) -> Workspace:
    """The workspace, created with its folders if it does not exist (a clear error if it cannot)."""
    return resolve_workspace(path).ensure()


def workspace_to_read(path: str | Path | None) -> Workspace:
    """The workspace, refused if it does not exist."""
    return resolve_workspace(path).existing()


def write_text(path: Path, text: str) -> None:
    """Write ``path`` atomically (a temporary sibling renamed over it; never half-written), with
    the mode the umask gives: the console's settings file."""
    from datasets_io.atomic import write_text_atomic

    write_text_atomic(path, text)
