"""The workspace: one folder holding everything a table depends on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.errors import BadInput

ENV_VAR = "ALIGNUQ_WORKSPACE"
DEFAULT_DIR = "alignuq-workspace"
SUBDIRS = ("datasets", "runs", "exports", "cache")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def ensure(self) -> Workspace:
        """Create the folder layout; a clear error if the place is not writable."""
        try:
            for name in SUBDIRS:
                (self.root / name).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BadInput(f"cannot create the workspace ({err.strerror})", where=self.root,
                           fix="pass --workspace DIR pointing to a writable folder") from None
        if not os.access(self.root, os.W_OK):
            raise BadInput("the workspace is not writable", where=self.root,
                           fix="pass --workspace DIR pointing to a writable folder")
        return self

    def existing(self) -> Workspace:
        """The workspace a command that only reads (or changes what is there) works on: a folder
        that does not exist is refused, never created (a mistyped path would leave an empty
        workspace behind, and report that it holds nothing)."""
        if not self.root.is_dir():
            raise BadInput(f"no workspace at {self.root}",
                           fix="check the path (--workspace or ALIGNUQ_WORKSPACE), or create one "
                               "by importing a dataset (`alignuq import ...`)")
        return self


def resolve_workspace(path: str | Path | None = None) -> Workspace:
    """``--workspace`` wins, then ``$ALIGNUQ_WORKSPACE``, then ``./alignuq-workspace``."""
    chosen = path or os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Workspace(Path(chosen).expanduser().resolve())
