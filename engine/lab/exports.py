"""Files a front end writes into the workspace's ``exports/`` folder: new names that never
overwrite an earlier export, and the console's tables with their provenance sidecar.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets_io.workspace import Workspace
from engine.analysis.numbers import format_number  # light: the console's tables use it

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "chosen_path", "export_table", "format_number", "new_export_path"]

FORMATS = {"csv": ("csv", ".csv"), "md": ("markdown", ".md"), "tex": ("latex", ".tex")}


def new_export_path(ws: Workspace, stem: str, suffix: str) -> Path:
    """``exports/<stem>-<time><suffix>``, with ``-2``, ``-3`` ... where that name is taken."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "table"
    stamped = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = ws.exports / f"{stamped}{suffix}", 1
    while path.exists():
        n += 1
        path = ws.exports / f"{stamped}-{n}{suffix}"
    return path


def chosen_path(ws: Workspace, typed: str, suffixes: tuple[str, ...]) -> Path:
    """The file a user typed for an export: ``~`` expanded, a relative path under ``exports/``,
    the first of ``suffixes`` added when it has none. Another suffix, a folder that does not
    exist and a file already there are refused (BadInput): an export never overwrites."""
    from common.errors import BadInput

    path = Path(typed.strip()).expanduser()
    path = path if path.is_absolute() else ws.exports / path
    if not path.suffix:
        path = path.with_suffix(suffixes[0])
    if path.suffix.lower() not in suffixes:
        raise BadInput(f"{path.name} does not end in {' or '.join(suffixes)}", where=path,
                       fix="end the file name with " + " or ".join(suffixes) + " (or leave the "
                           "path empty for a new name in exports/)")
    if not path.parent.is_dir():
        raise BadInput("no such folder", where=path.parent, fix="type a path in a folder that exists")
    if path.exists():
        raise BadInput("the file exists already (an export never overwrites)", where=path,
                       fix="type another name, or leave the path empty for a new one in exports/")
    return path


def export_table(ws: Workspace, frame: pd.DataFrame, name: str, fmt: str,
                 provenance: dict[str, Any], *, command: list[str],
                 settings: dict[str, Any], path: Path | None = None) -> list[Path]:
    """Write ``frame`` into ``exports/`` as CSV, Markdown or LaTeX (``fmt``: csv, md, tex) with
    its ``.provenance.json`` (at ``path`` where given: ``chosen_path``). An analysis table
    brings its own provenance; any other table (the questions, the models, the jobs) gets one
    saying what it is and with which ``settings``."""
    from engine.analysis.provenance import package_versions, write_with_provenance

    render_fmt, suffix = FORMATS[fmt]
    path = path or new_export_path(ws, name, suffix)
    prov = dict(provenance)
    if "versions" not in prov:
        prov.update(table=name, workspace=str(ws.root), versions=package_versions(),
                    command=command,
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    settings={**settings, **prov.get("settings", {})})
    side = write_with_provenance(frame.reset_index(drop=True), path, render_fmt, prov)
    return [path, side]
