"""Workers: everything slow runs here, off the UI loop, and reports through ``tui.messages``.

Two kinds: thread workers for blocking work (pandas, parquet, SQLite, analysis), and async workers
that talk to the engine process through ``engine.client.EngineClient``. Neither touches a widget;
they post typed messages. Failures go to one place: the app's central handler
(``AlignUQApp.show_failure``), as :func:`common.errors.as_error` makes them.

Heavy modules (pandas, pyarrow, the analysis) are imported inside the functions, so the first
screen paints before they load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# ---------------------------------------------------------------- the workspace

def workspace(root: Path) -> Any:
    """The console's workspace (``engine.lab.workspaces``): made if it does not exist."""
    from engine.lab.workspaces import workspace_to_write

    return workspace_to_write(root)


# ---------------------------------------------------------------- runs on disk (thread workers)

def delete_run(root: Path, run_dir: str | Path) -> None:
    """Delete a run of the workspace (refused while it runs)."""
    from engine.lab.runs import delete

    delete(workspace(root), run_dir)


def scan_runs(root: Path) -> list[dict[str, Any]]:
    """Every run of the workspace, newest first, with its manifest (``engine.lab.runs``)."""
    from engine.lab.runs import listing

    return listing(workspace(root))


# ---------------------------------------------------------------- analysis and export

CONSOLE_ARGV = ["alignuq", "tui"]   # the command line in the provenance of the console's files


def analysis_runs(root: Path) -> list[dict[str, Any]]:
    """The runs with results, for the Results screen's run picker: ``scan_runs``' dicts, each
    with its ``coverage`` (``engine.analysis.coverage.RunCoverage``: stale, partial)."""
    from common.errors import BadInput
    from datasets_io.dataset import load_dataset
    from engine.analysis.coverage import RunCoverage, is_stale

    ws = workspace(root)
    hashes: dict[str, str] = {}
    out = []
    for r in scan_runs(root):
        if not r.get("n_done"):
            continue
        name = r.get("dataset")
        if name and name not in hashes:
            try:
                hashes[name] = load_dataset(ws, name).report_hash()
            except BadInput:
                hashes[name] = ""       # the table says what is wrong with it
        stale = is_stale(r["manifest"], hashes.get(name, ""))
        out.append({**r, "coverage": RunCoverage(r["run_id"], r["status"], r["n_done"],
                                                 r["n_total"], stale)})
    return out


def compute_table(settings: Any, dataset: str, run_ids: list[str] | None, key: str,
                  cache: dict[str, Any] | None = None, *,
                  allow_partial: bool = False) -> dict[str, Any]:
    """Table ``key`` of the registry (``engine.lab.tables.compute``) with every setting the app
    has for it (``Settings.table_settings``), its extra frames, its notes, and the provenance of
    each (as `alignuq analyze` writes it, but for the command line and the time).

    ``cache`` keeps the load (``engine.lab.tables.load``) between tables of the same dataset and
    runs. The measures chosen on the Models screen that these runs lack are left out."""
    from engine.lab import tables

    cache_key = (dataset, tuple(run_ids or ()), allow_partial)
    if cache is not None and cache.get("key") == cache_key:
        loaded = cache["loaded"]
    else:
        loaded = tables.load(workspace(settings.workspace), dataset, run_ids,
                             allow_partial=allow_partial)
        if cache is not None:
            cache.update(key=cache_key, loaded=loaded)
    chosen = settings.table_settings()
    if chosen["measures"] is not None:
        chosen["measures"] = [m for m in chosen["measures"] if m in loaded.measures] or None
    table = tables.compute(loaded, key, chosen)
    return {"table": table.frame(), "extra": table.result.extra, "notes": table.notes,
            "provenance": table.provenance(argv=CONSOLE_ARGV),
            "extra_provenance": {extra.key: table.provenance(extra.key, argv=CONSOLE_ARGV)
                                 for extra in table.spec.extras}}


EXPORT_FORMATS = {"csv": ("csv", ".csv"), "md": ("markdown", ".md"), "tex": ("latex", ".tex")}


def export_table(settings: Any, frame: Any, name: str, fmt: str,
                 provenance: dict[str, Any]) -> list[Path]:
    """Write ``frame`` under ``workspace/exports/`` as CSV, Markdown or LaTeX with its
    ``.provenance.json`` sidecar (``engine.analysis.provenance.write_with_provenance``)."""
    import re
    import time

    from engine.analysis.provenance import package_versions, write_with_provenance

    render_fmt, suffix = EXPORT_FORMATS[fmt]
    ws = workspace(settings.workspace)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "table"
    path = ws.exports / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    n = 1
    while path.exists():
        n += 1
        path = ws.exports / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{n}{suffix}"
    prov = dict(provenance)
    if "versions" not in prov:  # a table made by the console itself (questions, models, jobs)
        from datetime import datetime, timezone

        prov.update(table=name, workspace=str(ws.root), versions=package_versions(),
                    command=CONSOLE_ARGV,
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    settings={"variant": settings.variant, "scale": settings.scale,
                              "engine": settings.where, **prov.get("settings", {})})
    side = write_with_provenance(frame.reset_index(drop=True), path, render_fmt, prov)
    return [path, side]
