"""A workspace's datasets as the front ends show and change them: the list, one dataset's facts,
its questions (with the human entropy), its dropped rows, new versions, and deletion.

Datasets are never edited: a curated version is a new dataset (``derive``). Replacing one that
has runs, or deleting it, is refused unless its runs go too (``with_runs``).
"""

from __future__ import annotations

import json
import math
from typing import Any, TypedDict, cast

import pandas as pd

from datasets_io.curate import derive_dataset, read_id_file
from datasets_io.dataset import (
    HUMAN_PREFIX,
    Dataset,
    dataset_path,
    human_columns,
    letter,
    list_datasets,
    load_dataset,
)
from datasets_io.workspace import Workspace
from engine import runs as runs_mod
from engine.analysis.stats_util import entropy

__all__ = ["HUMAN_PREFIX", "Dataset", "dataset_path", "delete", "derive", "describe", "letter", "load",
           "names", "questions_for_browsing", "questions_table", "read_id_file", "runs_of",
           "summaries", "filter_questions"]



class DatasetFacts(TypedDict, total=False):
    """What :func:`describe` says of a dataset (the json of `datasets show`; a folder that
    cannot be read has its ``error`` and the first few keys only)."""

    name: str
    source: str
    n_questions: int
    n_dropped: int
    dropped_by_reason: dict[str, int]
    n_choices_histogram: dict[str, int]
    subjects: dict[str, int]
    has_human_share: bool
    has_correct: bool
    settings: dict[str, Any]          # the import's settings
    warnings: list[str]
    file: str | None
    sample: dict[str, int] | None     # Dataset.sample()
    human_variables: dict[str, int]   # each per-question human variable: questions with a value
    created: str | None
    parent: str | None
    curation: dict[str, Any] | None   # what a derived version left out, and why
    n_read: int | None
    path: str | None
    error: str


names = list_datasets
load = load_dataset
runs_of = runs_mod.dataset_runs


def describe(ds: Dataset) -> DatasetFacts:
    """What `datasets show` and the console print about a dataset (``Dataset.summary()`` with
    when it was made, its parent version, how many questions were read and its folder)."""
    s = cast(DatasetFacts, ds.summary())
    s["created"] = ds.report.get("created")
    s["parent"] = (ds.report.get("parent") or {}).get("name")
    s["curation"] = ds.report.get("curation")
    s["n_read"] = ds.report.get("counts", {}).get("n_read")
    s["path"] = str(ds.path) if ds.path else None
    return s


def summaries(ws: Workspace) -> list[DatasetFacts]:
    """Every dataset's :func:`describe`; a folder that cannot be read is listed with its
    ``error`` (one broken folder must not hide the others)."""
    out: list[DatasetFacts] = []
    for name in list_datasets(ws):
        try:
            out.append(describe(load_dataset(ws, name)))
        except Exception as err:  # noqa: BLE001 - shown in the list, in place of its facts
            out.append({"name": name, "error": str(err), "source": "?", "n_questions": 0,
                        "n_dropped": 0, "has_human_share": False, "has_correct": False,
                        "created": None, "parent": None})
    return out


def questions_table(ds: Dataset) -> pd.DataFrame:
    """The questions as `datasets questions` writes them: lists as JSON text (every bit of
    every share), the correct answer as a letter."""
    q = ds.questions
    return pd.DataFrame({
        "question_id": q["question_id"],
        "text": q["text"],
        "choices": [json.dumps(list(c), ensure_ascii=False) for c in q["choices"]],
        "human_share": ["" if h is None else json.dumps([float(x) for x in h])
                        for h in q["human_share"]],
        "correct": [letter(c) for c in q["correct"]],
        "subject": q["subject"].fillna(""),
        "n_choices": q["n_choices"],
        **{column: q[column] for column in human_columns(q)},
    })


def questions_for_browsing(ws: Workspace, name: str) -> tuple[pd.DataFrame, DatasetFacts]:
    """The questions with ``human_entropy`` (nats, SCIENCE.md §3) and ``human_entropy_norm``
    (divided by log n) added, and the dataset's :func:`describe`."""
    ds = load_dataset(ws, name)
    frame = ds.questions.copy()
    frame["human_entropy"] = [float("nan") if h is None else entropy(h)
                              for h in frame["human_share"]]
    frame["human_entropy_norm"] = [e / math.log(n) if n > 1 else float("nan")
                                   for e, n in zip(frame["human_entropy"], frame["n_choices"],
                                                   strict=True)]
    return frame, describe(ds)


def filter_questions(frame: pd.DataFrame, *, search: str = "", source: str = "",
                     subject: str = "", n_choices: int | None = None,
                     entropy_min: float | None = None, entropy_max: float | None = None,
                     normalized: bool = True) -> pd.DataFrame:
    """The browse filters: text search (question text, choices, id), source, subject, choice
    count and a human-entropy range (normalised to [0, 1] unless ``normalized`` is False)."""
    mask = frame["question_id"].notna()
    if search:
        hay = (frame["question_id"].astype(str) + " " + frame["text"].astype(str) + " "
               + frame["choices"].map(lambda c: " ".join(map(str, c))))
        mask &= hay.str.lower().str.contains(search.lower(), regex=False)
    if source:
        mask &= frame["source"].astype(str).str.lower() == source.lower()
    if subject:
        mask &= frame["subject"].fillna("").astype(str).str.lower().str.contains(
            subject.lower(), regex=False)
    if n_choices is not None:
        mask &= frame["n_choices"] == int(n_choices)
    column = "human_entropy_norm" if normalized else "human_entropy"
    if entropy_min is not None:
        mask &= frame[column] >= entropy_min
    if entropy_max is not None:
        mask &= frame[column] <= entropy_max
    return frame[mask]


def derive(ws: Workspace, source: str, new_name: str, *, exclude: list[str] | None = None,
           include: list[str] | None = None, note: str | None = None, force: bool = False,
           with_runs: bool = False) -> tuple[Dataset, list[runs_mod.RunInfo]]:
    """A NEW dataset: ``source`` without ``exclude`` (and/or only ``include``). Replacing a
    dataset that has runs is refused unless ``with_runs``: then they are deleted once the new
    one is written. Returns the new dataset and the runs deleted."""
    stale = runs_mod.runs_to_replace(ws, new_name, with_runs) \
        if force and (ws.datasets / new_name).exists() else []
    child = derive_dataset(ws, source, new_name, exclude_ids=exclude, include_ids=include,
                           note=note, force=force)
    runs_mod.delete_runs(ws, stale)
    return child, stale


def delete(ws: Workspace, name: str, runs: list[runs_mod.RunInfo]) -> None:
    """Delete ``runs`` (the dataset's, from :func:`runs_of`), then the dataset; nothing while
    one of them runs."""
    runs_mod.delete_dataset_and_runs(ws, name, runs)
