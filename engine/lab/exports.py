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

__all__ = ["FORMATS", "export_table", "format_number", "new_export_path"]

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


def export_table(ws: Workspace, frame: pd.DataFrame, name: str, fmt: str,
                 provenance: dict[str, Any], *, command: list[str],
                 settings: dict[str, Any]) -> list[Path]:
    """Write ``frame`` into ``exports/`` as CSV, Markdown or LaTeX (``fmt``: csv, md, tex) with
    its ``.provenance.json``. An analysis table brings its own provenance; any other table (the
    questions, the models, the jobs) gets one saying what it is and with which ``settings``."""
    from engine.analysis.provenance import package_versions, write_with_provenance

    render_fmt, suffix = FORMATS[fmt]
    path = new_export_path(ws, name, suffix)
    prov = dict(provenance)
    if "versions" not in prov:
        prov.update(table=name, workspace=str(ws.root), versions=package_versions(),
                    command=command,
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    settings={**settings, **prov.get("settings", {})})
    side = write_with_provenance(frame.reset_index(drop=True), path, render_fmt, prov)
    return [path, side]
