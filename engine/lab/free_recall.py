"""What the free-recall tables need beside a run's measures: each answer's correctness.

- ``fr_correct``: the answer's final grade (1 for Y, 0 for N; NaN while pending or for ``?``),
  and ``grade_a``/``grade_b``, the two graders' own marks (``engine.grading``);
- ``mc_correct``: whether the same model's multiple-choice answer to the question is correct,
  from its scoring run of the same dataset (only for ``--correctness mc``, the released
  figures' choice). The scoring run is found among the loaded runs, else among the dataset's
  runs in the workspace, by the model's name; none, or more than one, leaves it NaN with a note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.frames import Analysis, model_label, run_task
from engine.grading import final_grades
from engine.store import read_manifest, read_results

GRADE_VALUE = {"Y": 1.0, "N": 0.0}


def add_free_recall_correctness(loaded: Analysis, folders: dict[str, Path]) -> None:
    """Set ``fr_correct``, ``grade_a``, ``grade_b`` and ``mc_correct`` on the rows of every
    free-recall run of ``loaded`` (NaN on the others), in place."""
    frame = loaded.frame
    for column in ("fr_correct", "mc_correct"):
        frame[column] = np.nan
    for column in ("grade_a", "grade_b"):
        frame[column] = None
    scoring = _scoring_runs(loaded, folders)
    for rid, manifest in loaded.manifests.items():
        if run_task(manifest) != "generate":
            continue
        rows = frame.index[frame["run_id"] == rid]
        qids = frame.loc[rows, "question_id"]
        grades = final_grades(folders[rid])
        for column in ("fr_correct", "grade_a", "grade_b"):
            frame.loc[rows, column] = qids.map(grades[column]).to_numpy()
        cloze = _mc_cloze(model_label(manifest, rid), scoring, loaded.notes, rid)
        if cloze is not None:
            answered = qids.map(cloze).to_numpy(float)
            correct = frame.loc[rows, "correct"].to_numpy(float)
            frame.loc[rows, "mc_correct"] = np.where(np.isnan(answered) | np.isnan(correct),
                                                     np.nan, answered == correct)


def _scoring_runs(loaded: Analysis, folders: dict[str, Path]) -> dict[str, list[Path]]:
    """The dataset's scoring runs by model name: the loaded ones, else the workspace's."""
    by_model: dict[str, list[Path]] = {}
    for rid, manifest in loaded.manifests.items():
        if run_task(manifest) == "score":
            by_model.setdefault(model_label(manifest, rid), []).append(folders[rid])
    if by_model:
        return by_model
    runs_folder = next(iter(folders.values())).parent
    for folder in sorted(runs_folder.iterdir()):
        try:
            manifest = read_manifest(folder)
        except BadInput:
            continue
        if manifest.get("dataset") == loaded.dataset.name and run_task(manifest) == "score":
            by_model.setdefault(model_label(manifest, folder.name), []).append(folder)
    return by_model


def _mc_cloze(model: str, scoring: dict[str, list[Path]], notes: list[str],
              rid: str) -> pd.Series | None:
    """The multiple-choice answer (option index) of ``model``'s one scoring run, by question."""
    found = scoring.get(model, [])
    if len(found) != 1:
        notes.append(f"run {rid}: {'no' if not found else len(found)} multiple-choice run(s) of "
                     f"{model}: no multiple-choice correctness for --correctness mc")
        return None
    results = read_results(found[0])
    return None if results.empty else results.set_index("question_id")["cloze"]
