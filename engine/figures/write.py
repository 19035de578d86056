"""A figure's file, written atomically (a temporary sibling renamed into place; the mode the
umask gives), and its ``FILE.provenance.json``: the table's provenance (dataset, runs, settings,
command line) plus what was drawn."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from datasets_io.atomic import atomic_file, write_text_atomic
from engine.analysis.provenance import sidecar_path
from engine.figures import draw, style


def write_figure(table: Any, kind: Any, path: Path, fmt: str, options: Any, *,
                 argv: list[str]) -> Path:
    """Draw ``kind`` from ``table`` into ``path`` as ``fmt``; returns the sidecar."""
    style.check_format(fmt)
    with style.paper_style():
        drawn = getattr(draw, kind.draw)(table, kind, options)
        with atomic_file(path) as tmp:
            style.save(drawn.figure, tmp, fmt)
    meta = figure_provenance(table, kind, options, drawn.picked, argv=argv)
    meta.update(file=path.name, format=fmt, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    side = sidecar_path(path)
    write_text_atomic(side, json.dumps(meta, indent=2, default=str) + "\n")
    return side


def figure_provenance(table: Any, kind: Any, options: Any, picked: dict[str, Any], *,
                      argv: list[str]) -> dict[str, Any]:
    """The table's sidecar with the figure: its kind, its options and what it drew."""
    meta = table.provenance(argv=argv)
    meta["figure"] = {"kind": kind.name, "drawn_from": table.label(kind.extra),
                      **options.as_dict(), **picked}
    return meta
