"""A dataset's runs loaded once, as columns, and any set of tables computed from that load: what
the CLI and the console call for every table (the registry, :mod:`engine.lab.analyses`, says
which tables there are and what each takes).

- :func:`load`: the dataset and its runs (default: every run of it) in one frame. Stale runs are
  refused, partial ones unless allowed (``engine.analysis.coverage``).
- :func:`compute`: one table from a load, with the settings it takes (the registry's defaults
  for those not given); :func:`applicable`: the analyses a dataset has the data for.
- :class:`Table`: the table, its extra outputs, its notes, and what both front ends show and
  write of it: the title line, the provenance (one builder for both), files with their sidecar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import Dataset, load_dataset
from datasets_io.workspace import Workspace
from engine.activations import run_activations
from engine.analysis.coverage import (
    RunCoverage,
    coverage_notes,
    refuse_partial,
    refuse_stale,
    run_coverage,
)
from engine.analysis.frames import Analysis, combine, list_runs
from engine.analysis.provenance import build_provenance, write_with_provenance
from engine.analysis.render import SUFFIXES, format_for, render
from engine.analysis.tables import TableResult
from engine.lab.analyses import ANALYSES, SETTINGS, AnalysisSpec, analysis
from engine.lab.free_recall import add_free_recall_correctness
from engine.lab.runs import RunListing, listing
from engine.runs import find_run
from engine.store import read_manifest, read_results

TASK_MISSING = {"score": "no multiple-choice run among these runs",
                "generate": "no free-recall run among these runs (`alignuq run --task generate`)"}
TASK_FIX = {"score": "pick runs made without --task generate",
            "generate": "run `alignuq run --task generate`, or import the released answers "
                        "(`alignuq runs import --layout moore2026`)"}

# the settings a table's human title line names (where the table takes them)
TITLE_SETTINGS = ("variant", "scale", "target")


def load(ws: Workspace, dataset: str | Dataset, run_ids: Iterable[str] | None = None, *,
         allow_partial: bool = False, needs: Iterable[str] = ()) -> Analysis:
    """``dataset`` (a name, or a Dataset already loaded) and its runs (default: every run of that
    dataset), read once into an :class:`Analysis` that every table is computed from.

    The dataset must hold what the analyses named in ``needs`` use (checked before any run is
    read). A run of another dataset, a missing run, a run with no results, results lacking a
    needed column, a run made on another import of the dataset, and (unless ``allow_partial``)
    a partial run raise :class:`BadInput` (see :mod:`engine.analysis.coverage`)."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(ws, dataset)
    for name in needs:
        check_data(ds, analysis(name))
    ids = list(run_ids or ()) or list_runs(ws, ds.name)
    if not ids:
        raise BadInput(f"no runs of dataset {ds.name!r} in {ws.runs}",
                       fix="run `alignuq run` or `alignuq runs import` first")
    folders, manifests, coverages = _runs_of(ws, ds, ids)
    refuse_stale(coverages, ds.name)
    if not allow_partial:
        refuse_partial(coverages)
    loaded = combine(ds, manifests, {rid: _results(rid, path) for rid, path in folders.items()})
    if "generate" in loaded.tasks():
        add_free_recall_correctness(loaded, folders)
    answered = loaded.frame.groupby("run_id").size()
    loaded.coverage = {c.run_id: replace(c, n_answered=int(answered.get(c.run_id, 0)),
                                         n_dataset=len(ds.questions)) for c in coverages}
    loaded.notes += coverage_notes(list(loaded.coverage.values()), ds.name)
    loaded.allow_partial = allow_partial
    loaded.run_dirs = folders
    return loaded


def _runs_of(ws: Workspace, ds: Dataset, ids: list[str]
             ) -> tuple[dict[str, Path], dict[str, dict[str, Any]], list[RunCoverage]]:
    """Each run's folder, manifest and coverage (an id may be a unique prefix of one, or a path)."""
    dataset_hash = ds.report_hash()
    folders: dict[str, Path] = {}
    manifests: dict[str, dict[str, Any]] = {}
    coverages: list[RunCoverage] = []
    for ref in ids:
        run_dir = find_run(ws, ref)
        if run_dir.name in manifests:
            continue
        man = read_manifest(run_dir)
        if man.get("dataset") != ds.name:
            raise BadInput(f"run {run_dir.name!r} belongs to dataset {man.get('dataset')!r}, "
                           f"not {ds.name!r}", where=run_dir / "manifest.json",
                           fix=f"pick runs of {ds.name!r} (`alignuq runs list`)")
        folders[run_dir.name], manifests[run_dir.name] = run_dir, man
        coverages.append(run_coverage(run_dir, man, dataset_hash))
    return folders, manifests, coverages


def _results(rid: str, run_dir: Path) -> pd.DataFrame:
    res = read_results(run_dir)
    if res.empty:
        raise BadInput(f"run {rid!r} has no results yet", where=run_dir,
                       fix="wait for it to finish or leave it out of --runs")
    missing = [c for c in ("question_id", "cloze", "label_probs") if c not in res]
    if missing:
        raise BadInput(f"run {rid!r} lacks column(s) {', '.join(missing)}", where=run_dir)
    return res


def lacks(ds: Dataset, spec: AnalysisSpec) -> str:
    """Why ``ds`` cannot give table ``spec`` ('' when it can)."""
    q = ds.questions
    prefix = spec.needs.or_prefix
    if q[spec.needs.column].notna().any() or (
            prefix and any(q[c].notna().any() for c in q.columns if str(c).startswith(prefix))):
        return ""
    return f"dataset {ds.name!r} has no {spec.needs.lacks}; {spec.name} needs {spec.needs.kind}"


def check_data(ds: Dataset, spec: AnalysisSpec) -> None:
    if why := lacks(ds, spec):
        raise BadInput(why, fix=spec.needs.fix)


def applicable(loaded: Analysis) -> tuple[list[str], list[str]]:
    """The analyses the dataset has the data for, and a note on each of the others."""
    names, notes = [], []
    captured = any(run_activations(folder) for folder in loaded.run_dirs.values())
    tasks = loaded.tasks()
    for name, spec in ANALYSES.items():
        if why := lacks(loaded.dataset, spec):
            notes.append(f"{name} left out: {why}")
        elif spec.task not in tasks:
            notes.append(f"{name} left out: {TASK_MISSING[spec.task]}")
        elif spec.needs_activations and not captured:
            notes.append(f"{name} left out: no run captured activations (`alignuq run ... "
                         "--capture-activations`)")
        else:
            names.append(name)
    return names, notes


def settings_for(spec: AnalysisSpec, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings table ``spec`` takes, from ``settings`` (the registry's defaults for the
    others), each checked (``--bins 0`` is a BadInput)."""
    used = spec.used(settings)
    for key, value in used.items():
        if value is not None:
            SETTINGS[key].check(value)
    return used


def compute(loaded: Analysis, name: str, settings: Mapping[str, Any]) -> Table:
    """Table ``name`` from ``loaded`` with the settings it takes (others in ``settings`` are not
    its business)."""
    spec = analysis(name)
    check_data(loaded.dataset, spec)
    if spec.task not in loaded.tasks():
        raise BadInput(TASK_MISSING[spec.task], fix=TASK_FIX[spec.task])
    used = settings_for(spec, settings)
    runs_of_task = loaded.for_task(spec.task)
    return Table(spec, runs_of_task, used, spec.table_function()(runs_of_task, **used))


@dataclass
class Table:
    """One computed table and what is shown and written of it. ``extra`` names an extra output
    (``strata``, ``bins``, ``null``); None is the table itself."""

    spec: AnalysisSpec
    loaded: Analysis
    settings: dict[str, Any]     # every setting it takes, as used (measures: None for all)
    result: TableResult

    @property
    def notes(self) -> list[str]:
        return self.loaded.notes + self.result.notes

    def frame(self, extra: str | None = None) -> pd.DataFrame:
        return self.result.extra[extra] if extra else self.result.table

    def label(self, extra: str | None = None) -> str:
        return self.spec.extra(extra).label if extra else self.spec.name

    def title(self, extra: str | None = None) -> str:
        """The human table's first line: only the settings that made this table."""
        shown = [f"{key} {self.settings[key]}" for key in TITLE_SETTINGS if key in self.settings]
        return " | ".join([self.label(extra), f"dataset {self.loaded.dataset.name}", *shown])

    def provenance(self, extra: str | None = None, *, argv: list[str],
                   ignored: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What the sidecar of this table (or of its ``extra``) says, the same from both front
        ends but for ``argv``, the time and ``ignored`` (options the user gave that this table
        does not use)."""
        # the analysis is the table a command shows: its own, or the extra shown instead
        shown = extra if extra and self.spec.extra(extra).replaces_table else None
        settings = {"analysis": self.label(shown), "dataset": self.loaded.dataset.name,
                    "runs": list(self.loaded.manifests),
                    "allow_partial": self.loaded.allow_partial, **self.settings,
                    **({"measures": self.settings["measures"] or "all"}
                       if "measures" in self.settings else {}),
                    **({"ignored": dict(ignored)} if ignored else {})}
        return build_provenance(self.loaded, self.label(extra), settings, argv, self.notes)

    def render(self, fmt: str, extra: str | None = None, *, titled: bool = False) -> str:
        """The table as text in ``fmt``; ``titled``: with its title line (human only)."""
        return render(self.frame(extra), fmt, self.title(extra) if titled else None)

    def write(self, path: Path, fmt: str, extra: str | None = None, *, argv: list[str],
              ignored: Mapping[str, Any] | None = None) -> Path:
        """Write it as ``fmt`` to ``path`` with ``path.provenance.json``; returns the sidecar."""
        return write_with_provenance(self.frame(extra), path, fmt,
                                     self.provenance(extra, argv=argv, ignored=ignored))


def file_format(path: str | Path, default: str | None = None, *, given: str | None = None) -> str:
    """The format of table file ``path``: its suffix's, else ``given``, else ``default``; a
    suffix naming another format than ``given`` (or none known) is a BadInput."""
    return format_for(path, default, given=given)


def suffix_for(fmt: str) -> str:
    """The file suffix of a table in ``fmt`` (``.csv``, ``.md``, ``.tex``, ...)."""
    return next(suffix for suffix, named in SUFFIXES.items() if named == fmt)


class RunToPick(RunListing):
    """A run with results (``engine.lab.runs.listing``) and what a table would say of it."""

    coverage: RunCoverage


def runs_to_pick(ws: Workspace) -> list[RunToPick]:
    """The runs with results, for a picker of the runs a table takes: ``engine.lab.runs``'
    listing, each with its ``coverage`` (``RunCoverage``: stale, partial), so that a front end
    can say which ones a table would refuse before asking for it."""
    from engine.analysis.coverage import is_stale

    hashes: dict[str, str] = {}
    out: list[RunToPick] = []
    for r in listing(ws):
        if not r.get("n_done"):
            continue
        name = r.get("dataset")
        if name and name not in hashes:
            try:
                hashes[name] = load_dataset(ws, name).report_hash()
            except BadInput:
                hashes[name] = ""       # the table says what is wrong with it
        stale = is_stale(r["manifest"], hashes.get(name, ""))
        out.append(RunToPick(**r, coverage=RunCoverage(r["run_id"], r["status"], r["n_done"],
                                                       r["n_total"], stale)))
    return out
