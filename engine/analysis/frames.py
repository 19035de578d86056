"""Join a dataset's questions with one or more runs' stored results into one tidy frame.

One row per (run, question). Columns: ``run_id, model, vocab_size, question_id, n_choices,
human_share, human_entropy, human_top`` (all tied top answers, as a list), ``human_first_top``
(lowest index among them), ``human_tied`` (more than one top answer), ``correct``, ``subject``,
``cloze``, ``label_probs``, ``choice_mass``, then every measure any of the runs has (NaN where a
run lacks it). Human columns are NaN/None where the dataset has no shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import Dataset, load_dataset
from datasets_io.workspace import Workspace
from engine.analysis.coverage import (
    RunCoverage,
    coverage_notes,
    refuse_partial,
    refuse_stale,
    run_coverage,
)
from engine.analysis.stats_util import entropy
from engine.measure_names import measure_names, parse_measure
from engine.runs import find_run, run_dirs
from engine.store import read_manifest, read_results

BASE_RESULT_COLUMNS = ("question_id", "cloze", "label_probs", "choice_mass", "prompt_tokens")
MEASURE_KINDS = {"top1_prob", "total_entropy", "topk_entropy", "topp_size", "topp_entropy",
                 "choice_entropy", "choice_top1", "choice_margin"}


@dataclass
class Analysis:
    """What every table needs: the tidy frame, the dataset, and each run's manifest."""

    frame: pd.DataFrame
    dataset: Dataset
    manifests: dict[str, dict[str, Any]]
    measures: list[str]
    notes: list[str] = field(default_factory=list)
    coverage: dict[str, RunCoverage] = field(default_factory=dict)   # by run id (load_analysis)

    @property
    def has_human(self) -> bool:
        return bool(self.frame["human_entropy"].notna().any())

    @property
    def has_correct(self) -> bool:
        return bool(self.frame["correct"].notna().any())

    def models(self) -> list[str]:
        return list(dict.fromkeys(self.frame["model"]))


def is_measure(name: str) -> bool:
    kind, _ = parse_measure(name)
    return kind in MEASURE_KINDS


def order_measures(names: list[str]) -> list[str]:
    """Export order of SCIENCE.md §2 (default k/p first), then any others by name."""
    default = measure_names()
    known = [m for m in default if m in names]
    return known + sorted(m for m in names if m not in default)


def human_columns(questions: pd.DataFrame) -> pd.DataFrame:
    """``human_entropy``, tie-aware ``human_top``, ``human_first_top``, ``human_tied``.

    Ties are exact equality of the (renormalised) shares."""
    ent, top, first, tied = [], [], [], []
    for share in questions["human_share"]:
        if share is None or (not isinstance(share, list | np.ndarray)) or len(share) == 0:
            ent.append(np.nan), top.append(None), first.append(np.nan), tied.append(False)
            continue
        h = np.asarray(share, float)
        best = np.flatnonzero(h == h.max()).tolist()
        ent.append(entropy(h))
        top.append(best)
        first.append(best[0])
        tied.append(len(best) > 1)
    return pd.DataFrame({"human_entropy": ent, "human_top": top, "human_first_top": first,
                         "human_tied": tied}, index=questions.index)


def list_runs(ws: Workspace, dataset: str) -> list[str]:
    """Run ids in the workspace whose manifest names ``dataset`` (sorted)."""
    out = []
    for path in run_dirs(ws):
        try:
            if read_manifest(path).get("dataset") == dataset:
                out.append(path.name)
        except BadInput:
            continue
    return out


def model_label(manifest: dict[str, Any], run_id: str) -> str:
    model = manifest.get("model")
    if isinstance(model, dict):
        return str(model.get("name") or model.get("path") or run_id)
    return str(model or run_id)


def load_analysis(ws: Workspace, dataset: str | Dataset, run_ids: list[str] | None = None, *,
                  allow_partial: bool = False) -> Analysis:
    """Load ``dataset`` (a name, or a Dataset already loaded) and the runs (default: every run of
    that dataset) into an :class:`Analysis`.

    A run of another dataset, a missing run, a run with no results, results lacking a needed
    column, a run made on another import of the dataset, and (unless ``allow_partial``) a
    partial run raise :class:`BadInput` (see :mod:`engine.analysis.coverage`)."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(ws, dataset)
    dataset = ds.name
    ids = list(run_ids) if run_ids else list_runs(ws, dataset)
    if not ids:
        raise BadInput(f"no runs of dataset {dataset!r} in {ws.runs}",
                       fix="run `alignuq run` or `alignuq runs import` first")
    dataset_hash = ds.report_hash()
    run_folders: dict[str, Path] = {}
    manifests: dict[str, dict[str, Any]] = {}
    coverages: list[RunCoverage] = []
    for ref in ids:
        run_dir = find_run(ws, ref)      # an id, a unique prefix of one, or a path
        if run_dir.name in manifests:
            continue
        man = read_manifest(run_dir)
        if man.get("dataset") != dataset:
            raise BadInput(f"run {run_dir.name!r} belongs to dataset {man.get('dataset')!r}, "
                           f"not {dataset!r}", where=run_dir / "manifest.json",
                           fix=f"pick runs of {dataset!r} (`alignuq runs list`)")
        run_folders[run_dir.name], manifests[run_dir.name] = run_dir, man
        coverages.append(run_coverage(run_dir, man, dataset_hash))
    refuse_stale(coverages, dataset)
    if not allow_partial:
        refuse_partial(coverages)
    analysis = combine(ds, manifests, {rid: _results(rid, path) for rid, path in run_folders.items()})
    answered = analysis.frame.groupby("run_id").size()
    analysis.coverage = {c.run_id: replace(c, n_answered=int(answered.get(c.run_id, 0)),
                                           n_dataset=len(ds.questions)) for c in coverages}
    analysis.notes += coverage_notes(list(analysis.coverage.values()), dataset)
    return analysis


def _results(rid: str, run_dir: Path) -> pd.DataFrame:
    res = read_results(run_dir)
    if res.empty:
        raise BadInput(f"run {rid!r} has no results yet", where=run_dir,
                       fix="wait for it to finish or leave it out of --runs")
    missing = [c for c in ("question_id", "cloze", "label_probs") if c not in res]
    if missing:
        raise BadInput(f"run {rid!r} lacks column(s) {', '.join(missing)}", where=run_dir)
    return res


def combine(ds: Dataset, manifests: dict[str, dict[str, Any]],
            results: dict[str, pd.DataFrame]) -> Analysis:
    """The tidy join (pure: no I/O). Results for ids the dataset lacks are dropped with a note."""
    q = ds.questions
    qcols = pd.concat([q[["question_id", "n_choices", "human_share", "correct", "subject"]],
                       human_columns(q)], axis=1)
    labels = {rid: model_label(m, rid) for rid, m in manifests.items()}
    dupes = {lab for lab in labels.values() if list(labels.values()).count(lab) > 1}
    parts, notes, measures = [], [], []
    for rid, res in results.items():
        model = f"{labels[rid]} ({rid})" if labels[rid] in dupes else labels[rid]
        measures += [c for c in res.columns if c not in BASE_RESULT_COLUMNS and is_measure(c)]
        joined = qcols.merge(res, on="question_id", how="inner", validate="one_to_one")
        if len(joined) < len(res):
            notes.append(f"run {rid}: {len(res) - len(joined)} result(s) for questions not in "
                         f"dataset {ds.name} ignored")
        model_info = manifests[rid].get("model")
        vocab = model_info.get("vocab_size") if isinstance(model_info, dict) else None
        joined.insert(0, "vocab_size", vocab)
        joined.insert(0, "model", model)
        joined.insert(0, "run_id", rid)
        parts.append(joined)
    frame = pd.concat(parts, ignore_index=True)
    measures = order_measures(list(dict.fromkeys(measures)))
    for m in measures:
        frame[m] = frame[m].astype(float) if m in frame else np.nan
    frame["correct"] = frame["correct"].astype("Int64")
    frame["cloze"] = frame["cloze"].astype(int)
    return Analysis(frame=frame, dataset=ds, manifests=manifests, measures=measures, notes=notes)


def load_analysis_frame(ws: Workspace, dataset: str, run_ids: list[str] | None = None, *,
                        allow_partial: bool = False) -> pd.DataFrame:
    """The tidy frame alone (see :func:`load_analysis`)."""
    return load_analysis(ws, dataset, run_ids, allow_partial=allow_partial).frame
