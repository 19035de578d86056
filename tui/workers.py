"""Workers: everything slow runs here, off the UI loop, and reports through ``tui.messages``.

Two kinds: thread workers for blocking work (pandas, parquet, SQLite, analysis), and async workers
that talk to the engine process through ``engine.client.EngineClient``. Neither touches a widget;
they post typed messages. Failures go to one place: the app's central handler
(``AlignUQApp.show_failure``), as :func:`common.errors.as_error` makes them.

Heavy modules (pandas, pyarrow, the analysis) are imported inside the functions, so the first
screen paints before they load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.messages import Provenance, TableOutcome

if TYPE_CHECKING:
    import pandas as pd

    from engine.lab.runs import RunListing
    from engine.lab.tables import Analysis, RunToPick, Table
    from engine.lab.workspaces import Workspace
    from tui.settings import Settings

# ---------------------------------------------------------------- the workspace

def workspace(root: Path) -> Workspace:
    """The console's workspace (``engine.lab.workspaces``): made if it does not exist."""
    from engine.lab.workspaces import workspace_to_write

    return workspace_to_write(root)


# ---------------------------------------------------------------- runs on disk (thread workers)

def delete_run(root: Path, run_dir: str | Path) -> None:
    """Delete a run of the workspace (refused while it runs)."""
    from engine.lab.runs import delete

    delete(workspace(root), run_dir)


def scan_runs(root: Path) -> list[RunListing]:
    """Every run of the workspace, newest first, with its manifest (``engine.lab.runs``)."""
    from engine.lab.runs import listing

    return listing(workspace(root))


def workspace_signature(root: Path) -> tuple:
    """A cheap fingerprint of what the Results tables read: the name, size and modification time
    of every file directly in each run folder (results store, its journal, manifest, events,
    locks) and of each dataset folder. Equal fingerprints: no run appeared, grew, finished or
    went, no dataset was re-imported. Only ``os.scandir`` and ``stat``: no pandas, no SQLite,
    no torch, so it can run every couple of seconds."""
    import os

    out: list[tuple] = []
    for top in (root / "runs", root / "datasets"):
        try:
            folders = sorted((e for e in os.scandir(top) if e.is_dir()), key=lambda e: e.name)
        except OSError:
            continue
        for folder in folders:
            try:
                entries = sorted(os.scandir(folder.path), key=lambda e: e.name)
                out.append((top.name, folder.name, *[
                    (e.name, st.st_size, st.st_mtime_ns)
                    for e in entries if e.is_file() and (st := e.stat())]))
            except OSError:      # deleted while we looked: the next poll sees it gone
                continue
    return tuple(out)


# ---------------------------------------------------------------- analysis and export

CONSOLE_ARGV = ["alignuq", "tui"]   # the command line in the provenance of the console's files


def analysis_runs(root: Path) -> list[RunToPick]:
    """The runs with results, for the Results screen's run picker (``engine.lab.tables``)."""
    from engine.lab.tables import runs_to_pick

    return runs_to_pick(workspace(root))


@dataclass
class LoadCache:
    """The last load of a dataset's runs (``engine.lab.tables.load``), kept between tables."""

    key: tuple[str, tuple[str, ...], bool] | None = None   # dataset, runs, allow_partial
    loaded: Analysis | None = None

    def clear(self) -> None:
        self.key = self.loaded = None


def compute_table(settings: Settings, dataset: str, run_ids: list[str] | None, key: str,
                  generation: int, cache: LoadCache | None = None, *,
                  allow_partial: bool = False) -> TableOutcome:
    """Table ``key`` of the registry (``engine.lab.tables.compute``) with every setting the app
    has for it (``Settings.table_settings``), and the provenance of it and of each extra output
    (as `alignuq analyze` writes it, but for the command line and the time). An analysis that
    does not apply to these runs (a BadInput) says why in the outcome.

    ``cache`` keeps the load (``engine.lab.tables.load``) between tables of the same dataset and
    runs. The measures chosen on the Models screen that these runs lack are left out."""
    from common.errors import BAD_INPUT, as_error
    from engine.lab import tables
    from tui.advice import console_message

    try:
        cache_key = (dataset, tuple(run_ids or ()), allow_partial)
        if cache is not None and cache.key == cache_key and cache.loaded is not None:
            loaded = cache.loaded
        else:
            loaded = tables.load(workspace(settings.workspace), dataset, run_ids,
                                 allow_partial=allow_partial)
            if cache is not None:
                cache.key, cache.loaded = cache_key, loaded
        chosen = settings.table_settings()
        if chosen["measures"] is not None:
            chosen["measures"] = [m for m in chosen["measures"] if m in loaded.measures] or None
        table = tables.compute(loaded, key, chosen)
    except Exception as err:
        error = as_error(err)
        if error.code != BAD_INPUT:
            raise
        return TableOutcome(key, generation, error=console_message(error))
    provenance = {extra: table.provenance(extra, argv=CONSOLE_ARGV)
                  for extra in [None, *(e.key for e in table.spec.extras)]}
    return TableOutcome(key, generation, table, provenance)


def export_figure(settings: Settings, table: Table, typed: str = "") -> list[Path]:
    """The figures of ``table``'s tab as PDFs under ``workspace/exports/`` (or at the path the
    user ``typed``: ``engine.lab.exports.chosen_path``) with their sidecars
    (``engine.lab.figures``; matplotlib is imported here, not at start-up)."""
    from engine.lab.exports import chosen_path
    from engine.lab.figures import FORMATS
    from engine.lab.figures import export_figure as export

    ws = workspace(settings.workspace)
    path = chosen_path(ws, typed, tuple(FORMATS)) if typed.strip() else None
    return list(export(ws, table, argv=CONSOLE_ARGV, path=path))


def export_table(settings: Settings, frame: pd.DataFrame, name: str, fmt: str,
                 provenance: Provenance, typed: str = "") -> list[Path]:
    """Write ``frame`` under ``workspace/exports/`` (or at the path the user ``typed``) as CSV,
    Markdown or LaTeX with its ``.provenance.json`` sidecar (``engine.lab.exports``)."""
    from engine.lab.exports import FORMATS, chosen_path
    from engine.lab.exports import export_table as export

    ws = workspace(settings.workspace)
    path = chosen_path(ws, typed, (FORMATS[fmt][1],)) if typed.strip() else None
    return export(ws, frame, name, fmt, provenance, path=path,
                  command=CONSOLE_ARGV, settings={"variant": settings.variant,
                                                  "scale": settings.scale,
                                                  "engine": settings.where})
