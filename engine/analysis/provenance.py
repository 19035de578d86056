"""Write a table with a ``FILE.provenance.json`` sidecar that says exactly how it was made.

The sidecar holds: the table's name, format, the file's sha256, the dataset (name, import report
sha256, source), every run (id, coverage: status, ``n_done/n_total``, how many of the dataset's
questions it answered, partial or subset; full manifest), the settings (variant, scale, seed,
permutations, bins, CDF, adjustment, measures), package versions, the command line and the time.
Both files are written atomically (temp name, then rename).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from datasets_io.atomic import write_text_atomic
from engine.analysis.frames import Analysis
from engine.analysis.render import render

SIDECAR_SUFFIX = ".provenance.json"
PACKAGES = ("alignuq", "numpy", "scipy", "pandas", "pyarrow")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def build_provenance(analysis: Analysis, table: str, settings: dict[str, Any],
                     argv: list[str] | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """Everything a reader needs to trace a table back to its inputs."""
    ds = analysis.dataset
    return {
        "table": table,
        "dataset": {"name": ds.name, "import_report_sha256": ds.report_hash(),
                    "source": ds.source, "path": str(ds.path) if ds.path else None},
        "runs": [{"run_id": rid, "coverage": _coverage(analysis, rid), "manifest": man}
                 for rid, man in analysis.manifests.items()],
        "settings": settings,
        "notes": list(notes or []),
        "versions": package_versions(),
        "command": list(argv if argv is not None else sys.argv),
        "process_argv": list(sys.argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _coverage(analysis: Analysis, run_id: str) -> dict[str, Any] | None:
    """Status, n_done/n_total, questions answered of the dataset's, partial, subset."""
    cov = analysis.coverage.get(run_id)
    return cov.as_dict() if cov else None


def sidecar_path(path: Path) -> Path:
    return Path(str(path) + SIDECAR_SUFFIX)


def write_with_provenance(frame: pd.DataFrame, path: str | Path, fmt: str,
                          provenance: dict[str, Any]) -> Path:
    """Render ``frame`` as ``fmt`` into ``path`` and write ``path.provenance.json`` next to it.

    The sidecar also records the format and the sha256 of the written file. Returns the sidecar."""
    path = Path(path)
    text = render(frame, fmt)
    write_text_atomic(path, text)
    meta = {**provenance, "file": path.name, "format": fmt, "rows": int(len(frame)),
            "columns": [str(c) for c in frame.columns],
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    side = sidecar_path(path)
    write_text_atomic(side, json.dumps(meta, indent=2, default=str) + "\n")
    return side
