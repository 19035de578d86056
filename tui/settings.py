"""The console's settings: one frozen object, built once at start-up and replaced (never mutated)
when the user changes something on the Models & measures screen.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.lab.models import VARIANTS, measure_names

ENGINE_CMD_ENV = "ALIGNUQ_ENGINE_CMD"
SCALES = ("raw", "normalized", "paper")


@dataclass(frozen=True)
class Settings:
    """Everything the console needs to know before it paints its first screen."""

    workspace: Path
    engine_prefix: tuple[str, ...] = ()   # argv prefix: () local, ("ssh", "gpu1"), ("srun", ...)
    variant: str = "corrected"
    measures: tuple[str, ...] = field(default_factory=lambda: tuple(measure_names()))
    device: str = "auto"
    scale: str = "raw"                    # the Results screen's scale switch

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, not {self.scale!r}")

    @property
    def engine_cmd(self) -> str:
        """The prefix as the user typed it ('' for local)."""
        return shlex.join(self.engine_prefix)

    @property
    def where(self) -> str:
        return self.engine_cmd or "local"

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def build(cls, workspace: str | Path | None = None, engine_cmd: str | None = None,
              variant: str = "corrected") -> Settings:
        """``--workspace`` / ``$ALIGNUQ_WORKSPACE`` / ./alignuq-workspace, and the engine prefix
        from ``--engine-cmd`` or ``$ALIGNUQ_ENGINE_CMD`` (empty: the engine runs locally)."""
        from common.errors import BadInput
        from engine.lab.workspaces import workspace_to_write

        if variant not in VARIANTS:
            raise BadInput(f"unknown variant {variant!r}",
                           fix=f"use --variant {' or --variant '.join(VARIANTS)}")
        ws = workspace_to_write(workspace)
        cmd = engine_cmd if engine_cmd is not None else os.environ.get(ENGINE_CMD_ENV, "")
        return cls(workspace=ws.root, engine_prefix=parse_prefix(cmd), variant=variant)


def parse_prefix(cmd: str) -> tuple[str, ...]:
    """'ssh gpu-node' -> ('ssh', 'gpu-node'); 'local' or '' -> ()."""
    cmd = (cmd or "").strip()
    if cmd in ("", "local"):
        return ()
    try:
        return tuple(shlex.split(cmd))
    except ValueError as err:
        from common.errors import BadInput
        raise BadInput(f"cannot parse the engine command {cmd!r} ({err})",
                       fix="quote it as you would in a shell, e.g. --engine-cmd \"ssh gpu-node\"") from None
