"""The console's settings: one frozen object, built once at start-up and replaced (never mutated)
when the user changes something (the Models & measures screen, the Results screen's keys and
settings dialog, the exclusions marked on the Datasets screen).

What a researcher chooses (variant, measures, scale, the tables' other settings, exclusions) is
kept per workspace in ``console-settings.json`` at its root (written atomically on each change,
read back at start-up), so a restart shows the same tables. The engine command and the device are
not kept: they are where this console runs, given by its command line.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.errors import AlignuqError
from engine.lab.analyses import SETTINGS as TABLE_SETTINGS
from engine.lab.models import VARIANTS

ENGINE_CMD_ENV = "ALIGNUQ_ENGINE_CMD"
SCALES = TABLE_SETTINGS["scale"].choices
# the table settings with a field of their own (the others are in Settings.tables)
OWN_FIELDS = ("measures", "variant", "scale")
SAVED_FILE = "console-settings.json"     # at the workspace's root
SAVED_FIELDS = ("variant", "measures", "scale", "tables", "exclusions")


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
    # questions marked excluded on the Datasets screen and not yet written as a new version:
    # dataset name -> question ids
    exclusions: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    remember: bool = True                 # save each change to the workspace's SAVED_FILE

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

    def saved(self) -> dict[str, Any]:
        """What SAVED_FILE keeps of these settings (JSON)."""
        return {"variant": self.variant, "scale": self.scale,
                "measures": None if self.measures is None else list(self.measures),
                "tables": dict(self.tables),
                "exclusions": {name: list(ids) for name, ids in self.exclusions.items() if ids}}

    def save(self) -> None:
        """Write SAVED_FILE (atomically; nothing when ``remember`` is off)."""
        if self.remember:
            from engine.lab.workspaces import write_text

            write_text(self.workspace / SAVED_FILE,
                              json.dumps(self.saved(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def build(cls, workspace: str | Path | None = None, engine_cmd: str | None = None,
              variant: str | None = None, *, remember: bool = True) -> Settings:
        """``--workspace`` / ``$ALIGNUQ_WORKSPACE`` / ./alignuq-workspace, and the engine prefix
        from ``--engine-cmd`` or ``$ALIGNUQ_ENGINE_CMD`` (empty: the engine runs locally); the
        settings saved in the workspace (with ``remember``), ``variant`` winning where given."""
        from common.errors import BadInput
        from engine.lab.workspaces import workspace_to_write

        if variant is not None and variant not in VARIANTS:
            raise BadInput(f"unknown variant {variant!r}",
                           fix=f"use --variant {' or --variant '.join(VARIANTS)}")
        ws = workspace_to_write(workspace)
        cmd = engine_cmd if engine_cmd is not None else os.environ.get(ENGINE_CMD_ENV, "")
        kept = saved_settings(ws.root) if remember else {}
        if variant is not None:
            kept["variant"] = variant
        return cls(workspace=ws.root, engine_prefix=parse_prefix(cmd), remember=remember, **kept)


def saved_settings(root: Path) -> dict[str, Any]:
    """The settings SAVED_FILE keeps, as ``Settings`` fields; a value that is not valid (any
    more: a setting renamed, a choice removed) is left out, so the console still starts."""
    try:
        data = json.loads((root / SAVED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    kept: dict[str, Any] = {}
    for name in SAVED_FIELDS:
        if name not in data:
            continue
        value = _as_field(name, data[name])
        try:
            Settings(workspace=root, **{name: value})
        except (ValueError, TypeError, AttributeError, AlignuqError):
            continue
        kept[name] = value
    return kept


def _as_field(name: str, value: Any) -> Any:
    if name == "measures" and isinstance(value, list):
        return tuple(str(m) for m in value)
    if name == "exclusions" and isinstance(value, dict):
        return {str(ds): tuple(str(q) for q in ids) for ds, ids in value.items()
                if isinstance(ids, list)}
    return value


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
