"""Join a dataset's questions with one or more runs' stored results into one tidy frame.

One row per (run, question). Columns: ``run_id, model, vocab_size, question_id, n_choices,
human_share, human_entropy, human_top`` (all tied top answers, as a list), ``human_first_top``
(lowest index among them), ``human_tied`` (more than one top answer), ``correct``, ``subject``,
``cloze``, ``label_probs``, ``choice_mass``, the dataset's human variables (``human:NAME``), then
every measure any of the runs has (NaN where a run lacks it). Human columns are NaN/None where the
dataset has no shares. ``task`` says what each run did: ``score`` (the label probabilities of a
multiple-choice question) or ``generate`` (a free-recall answer: ``cloze`` -1, no labels, the
free-recall measures); each table takes the runs of its own task (:meth:`Analysis.for_task`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import Dataset
from datasets_io.dataset import human_columns as variable_columns
from datasets_io.workspace import Workspace
from engine.analysis.coverage import RunCoverage
from engine.analysis.stats_util import entropy
from engine.free_recall_names import free_recall_measures
from engine.lab.run_labels import model_name, run_labels
from engine.measure_names import base_name, measure_names, parse_measure
from engine.runs import run_dirs
from engine.store import read_manifest

BASE_RESULT_COLUMNS = ("question_id", "cloze", "label_probs", "choice_mass", "prompt_tokens")
MEASURE_KINDS = {"top1_prob", "total_entropy", "topk_entropy", "topp_size", "topp_entropy",
                 "choice_entropy", "choice_top1", "choice_margin",
                 "first_token_entropy", "perplexity"}     # the last two: free recall only
TASKS = ("score", "generate")


@dataclass
class Analysis:
    """What every table needs: the tidy frame, the dataset, and each run's manifest."""

    frame: pd.DataFrame
    dataset: Dataset
    manifests: dict[str, dict[str, Any]]
    measures: list[str]
    notes: list[str] = field(default_factory=list)
    coverage: dict[str, RunCoverage] = field(default_factory=dict)   # by run id (lab.tables.load)
    allow_partial: bool = False      # whether partial runs were let in
    run_dirs: dict[str, Path] = field(default_factory=dict)   # by run id (lab.tables.load)

    def tasks(self) -> set[str]:
        return set(self.frame["task"]) if "task" in self.frame else {"score"}

    def for_task(self, task: str) -> Analysis:
        """The runs of ``task`` only, with the measures they have values for (the same object
        where every run is of that task)."""
        if self.tasks() == {task}:
            return self
        frame = self.frame[self.frame["task"] == task].reset_index(drop=True)
        ids = set(frame["run_id"])
        return replace(self, frame=frame,
                       manifests={k: v for k, v in self.manifests.items() if k in ids},
                       measures=[m for m in self.measures if frame[m].notna().any()],
                       coverage={k: v for k, v in self.coverage.items() if k in ids},
                       run_dirs={k: v for k, v in self.run_dirs.items() if k in ids})


def run_task(manifest: dict[str, Any]) -> str:
    return str(manifest.get("task") or "score")


def is_measure(name: str) -> bool:
    kind, _ = parse_measure(base_name(name))
    return kind in MEASURE_KINDS


def order_measures(names: list[str]) -> list[str]:
    """Export order of SCIENCE.md §2 (default k/p first), then the free-recall measures
    (SCIENCE-successor.md §5.3), then any others by name."""
    default = measure_names() + free_recall_measures()
    known = [m for m in default if m in names]
    return known + sorted(m for m in names if m not in default)


def human_columns(questions: pd.DataFrame) -> pd.DataFrame:
    """``human_entropy``, tie-aware ``human_top``, ``human_first_top``, ``human_tied``.

    Ties are exact equality of the (renormalised) shares. Questions with the same number of
    options are taken together; each entropy is still summed question by question."""
    shares = questions["human_share"].tolist()
    sizes = np.array([len(s) if isinstance(s, list | np.ndarray) else 0 for s in shares])
    ent, first = np.full(sizes.size, np.nan), np.full(sizes.size, np.nan)
    tied, top = np.zeros(sizes.size, bool), [None] * sizes.size
    for n in np.unique(sizes[sizes > 0]):
        rows = np.flatnonzero(sizes == n)
        h = np.array([shares[i] for i in rows], float)
        best = h == h.max(axis=1, keepdims=True)
        ent[rows] = [entropy(row) for row in h]
        first[rows] = best.argmax(axis=1)
        tied[rows] = best.sum(axis=1) > 1
        for i, row in zip(rows, best, strict=True):
            top[i] = np.flatnonzero(row).tolist()
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
    return model_name(manifest, run_id)


def _join(qcols: pd.DataFrame, ids: pd.Index, res: pd.DataFrame) -> pd.DataFrame:
    """The questions that have a result, in dataset order, beside their result (an inner join on
    question_id; both sides hold each id once)."""
    row_of = pd.Index(res["question_id"]).get_indexer(ids)
    have = row_of >= 0
    return pd.concat([qcols[have].reset_index(drop=True),
                      res.drop(columns="question_id").iloc[row_of[have]].reset_index(drop=True)],
                     axis=1)


def combine(ds: Dataset, manifests: dict[str, dict[str, Any]],
            results: dict[str, pd.DataFrame]) -> Analysis:
    """The tidy join (pure: no I/O). Results for ids the dataset lacks are dropped with a note."""
    q = ds.questions
    qcols = pd.concat([q[["question_id", "n_choices", "human_share", "correct", "subject",
                          *variable_columns(q)]], human_columns(q)], axis=1)
    ids = pd.Index(q["question_id"])
    labels = {rid: model_label(m, rid) for rid, m in manifests.items()}
    # a model's free-recall run and its scoring run share a name: they never share a table
    keys = [(labels[rid], run_task(m)) for rid, m in manifests.items()]
    dupes = {lab for lab, task in keys if keys.count((lab, task)) > 1}
    unique = {}
    for task in {run_task(m) for m in manifests.values()}:
        unique.update(run_labels({rid: {**m, "dataset": ds.name} for rid, m in manifests.items()
                                  if run_task(m) == task}))
    parts, notes, measures = [], [], []
    for rid, res in results.items():
        # a model with one run keeps its name; runs of one model are told apart (run_labels)
        model = unique[rid] if labels[rid] in dupes else labels[rid]
        measures += [c for c in res.columns if c not in BASE_RESULT_COLUMNS and is_measure(c)]
        joined = _join(qcols, ids, res)
        if len(joined) < len(res):
            notes.append(f"run {rid}: {len(res) - len(joined)} result(s) for questions not in "
                         f"dataset {ds.name} ignored")
        model_info = manifests[rid].get("model")
        vocab = model_info.get("vocab_size") if isinstance(model_info, dict) else None
        joined.insert(0, "vocab_size", vocab)
        joined.insert(0, "task", run_task(manifests[rid]))
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
