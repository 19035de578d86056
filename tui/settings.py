"""The console's settings: one frozen object, built once at start-up and replaced (never mutated)
when the user changes something on the Models & measures screen.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.lab.analyses import SETTINGS as TABLE_SETTINGS
from engine.lab.models import VARIANTS

ENGINE_CMD_ENV = "ALIGNUQ_ENGINE_CMD"
SCALES = TABLE_SETTINGS["scale"].choices
# the table settings with a field of their own (the others are in Settings.tables)
OWN_FIELDS = ("measures", "variant", "scale")


@dataclass(frozen=True)
class Settings:
    """Everything the console needs to know before it paints its first screen."""

    workspace: Path
    engine_prefix: tuple[str, ...] = ()   # argv prefix: () local, ("ssh", "gpu1"), ("srun", ...)
    variant: str = "corrected"
    # the Results tables' measures; None: the registry's default (every measure the runs have;
    # ece and jsd: the uncertainties), as `alignuq analyze` without --measures
    measures: tuple[str, ...] | None = None
    device: str = "auto"
    scale: str = "raw"                    # the Results screen's scale switch
    # the other settings of the tables (seed, permutations, bins, ...): the registry's default
    # for each one not here
    tables: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, not {self.scale!r}")
        for key, value in self.tables.items():
            if key in OWN_FIELDS or key not in TABLE_SETTINGS:
                raise ValueError(f"tables cannot set {key!r}: one of "
                                 f"{', '.join(k for k in TABLE_SETTINGS if k not in OWN_FIELDS)}")
            TABLE_SETTINGS[key].check(value)

    def table_settings(self) -> dict[str, Any]:
        """Every setting of the Results tables, as `alignuq analyze` takes them."""
        return {**{key: s.default for key, s in TABLE_SETTINGS.items()}, **self.tables,
                "measures": None if self.measures is None else list(self.measures),
                "variant": self.variant, "scale": self.scale}

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
