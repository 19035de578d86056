# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The console and the CLI give the same tables: for every analysis of the registry (and every
extra output the console exports), the real Textual app's export and `alignuq analyze`'s file are
the same bytes, and their provenance is the same but for the command line, the time and the
file's name. Settings that are not the registry's defaults, made from the registry, so that a
setting one front end forgot to pass shows; the console takes those without a field of their
own through its table settings dialog, as a user types them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.lab.analyses import ANALYSES, SETTINGS
from tests.conftest import DATA_DIR
from tests.test_tui_support import make_test_app, sync, tui_ws, wait_for  # noqa: F401

RELEASED_PROBES = DATA_DIR / "moore2026/Results/coane_activations/uncertainty_alignment_10Fold_Results.parquet"

MEASURES = ["choice_entropy", "topk_entropy@5", "top1_prob"]   # a certainty among them
PER_RUN = ("command", "process_argv", "created", "file")
STRATA = "alignment-strata"      # an extra's label; analyses' names have hyphens too (rms-ce)


def analysis_of(label: str) -> str:
    return "alignment" if label == STRATA else label


def other_value(key: str) -> Any:
    """A value of setting ``key`` that is not its default."""
    setting = SETTINGS[key]
    if key == "measures":
        return MEASURES
    if key == "target":
        return "correct_share"      # the human variable of the test workspace's coane
    if key == "pair":
        return ["toy-a=toy-b"]      # the test runs' models have no instruct names
    if key == "reference":          # the released probes, where the data folder has them
        return str(RELEASED_PROBES) if RELEASED_PROBES.exists() else None
    if setting.choices:
        return next(c for c in setting.choices if c != setting.default)
    return setting.default + 3


CHANGED = {key: other_value(key) for key in SETTINGS}


def cli_flags(keys: tuple[str, ...]) -> list[str]:
    flags = []
    for key in keys:
        value = CHANGED[key]
        flags += [SETTINGS[key].flag, ",".join(value) if isinstance(value, list) else str(value)]
    return flags


async def set_in_dialog(pilot: Any, app: Any, values: dict[str, Any]) -> None:
    """Open the table settings dialog (o), enter ``values``, apply."""
    from textual.widgets import Input, Select

    await pilot.press("o")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "TableSettingsDialog", 5,
                   "the table settings dialog")
    for name, value in values.items():
        field = app.screen.query_one(f"#set-{name}")
        if isinstance(field, Select):
            field.value = value
        else:
            assert isinstance(field, Input)
            field.value = ",".join(value) if isinstance(value, list) else str(value)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultsScreen", 5,
                   "the dialog to close")


def console_exports(ws: Path) -> dict[str, Path]:
    """Each table (and the strata) exported as CSV from the running console."""
    own = {"measures": tuple(MEASURES), "variant": CHANGED["variant"], "scale": CHANGED["scale"]}
    app = make_test_app(ws, **own)
    exported: dict[str, Path] = {}

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            screen = app.section("results")
            await wait_for(pilot, lambda: len(screen.results) == len(ANALYSES), 120, "the tables")
            await set_in_dialog(pilot, app, {k: v for k, v in CHANGED.items() if k not in own})
            await wait_for(pilot, lambda: all(out.generation == screen.generation
                                              for out in screen.results.values()), 120,
                           "the tables with the new settings")
            targets = [(name, f"#t-{name}") for name in ANALYSES] + [(STRATA, "#t-strata")]
            for label, table_id in targets:
                screen.action_tab(analysis_of(label))
                screen.query_one(table_id).focus()
                app.last_export = None
                await pilot.press("e")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportDialog", 5,
                               "the export dialog")
                await pilot.press("c")
                await wait_for(pilot, lambda: app.last_export, 30, f"the export of {label}")
                exported[label] = Path(app.last_export[0])
            assert not any(out.error for out in screen.results.values())

    sync(drive)()
    return exported


def provenance(path: Path) -> dict[str, Any]:
    meta = json.loads(Path(str(path) + ".provenance.json").read_text())
    return {key: value for key, value in meta.items() if key not in PER_RUN}


@pytest.fixture(scope="module")
def ws(tui_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agree") / "ws"
    shutil.copytree(tui_ws, root)
    for run in ("c-toy-a", "c-toy-b"):
        toy_activations(root, run)
        toy_free_recall(root, run)
    return root


def toy_free_recall(ws: Path, run: str) -> None:
    """A seeded free-recall run of the toy run's model (every free-recall measure, an answer per
    question) with two graders' marks, so that the free-recall tables have something to show."""
    import numpy as np

    from engine.free_recall_names import FLAGS, free_recall_measures
    from engine.grading import Grade, write_grades
    from engine.store import (
        Generation,
        ResultRow,
        ResultStore,
        read_manifest,
        read_results,
        write_manifest,
    )

    rid, rng = f"{run}-fr", np.random.default_rng(len(run) + 7)
    write_manifest(ws / "runs" / rid, {**read_manifest(ws / "runs" / run), "run_id": rid,
                                       "task": "generate"})
    ids = read_results(ws / "runs" / run)["question_id"].astype(str).tolist()
    names = [m for m in free_recall_measures() if m not in FLAGS]
    rows, answers, grades = [], [], []
    for qid in ids:
        values = {m: float(rng.integers(1, 40)) if "topp_size" in m else
                  float(np.log(rng.uniform(0.05, 1))) if m.endswith("top1_prob") else
                  float(rng.uniform(1, 3)) if m.endswith("perplexity") else float(rng.uniform())
                  for m in names}
        rows.append(ResultRow(qid, -1, [], 0.0, values))
        answers.append(Generation(qid, f"answer {qid}}}", "close"))
        grades += [Grade(qid, who, str(rng.choice(["Y", "N"])), "grader", f"answer {qid}}}")
                   for who in ("ann", "bob")]
    with ResultStore(ws / "runs" / rid / "results" / "main.sqlite", rid) as store:
        store.add(rows, answers)
    write_grades(ws / "runs" / rid, grades)


def toy_activations(ws: Path, run: str) -> None:
    """Seeded random hidden states (3 layers of 8) for the toy run: the probe's table to export."""
    import numpy as np

    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace
    from engine.activations import ActivationWriter, CaptureInfo

    ds = load_dataset(Workspace(ws), "coane")
    ids = tuple(ds.questions["question_id"].astype(str))
    writer = ActivationWriter(ws / "runs" / run, "main",
                              CaptureInfo(ids, (1, 2, 3), 8, "float32", ds.report_hash()))
    rng = np.random.default_rng(len(run))
    writer.write(ids, {layer: rng.normal(size=(len(ids), 8)) for layer in (1, 2, 3)})


def test_every_table_of_the_registry_is_the_same_from_both_front_ends(cli, ws: Path,
                                                                       tmp_path: Path) -> None:
    console = console_exports(ws)
    assert set(console) == {*ANALYSES, STRATA}
    every = tmp_path / "all"
    res = cli("analyze", "all", "-d", "coane", *cli_flags(tuple(SETTINGS)), "--out", every,
              "--extras", "-w", ws)
    assert res.code == 0, res.err
    for label, exported in console.items():
        name = analysis_of(label)
        spec = ANALYSES[name]
        shown = ["--strata"] if label == STRATA else []
        path = tmp_path / f"{label}.csv"
        res = cli("analyze", name, "-d", "coane", *cli_flags(spec.settings), *shown, "--out",
                  path, "-w", ws)
        assert res.code == 0, res.err
        assert exported.read_bytes() == path.read_bytes(), label
        assert (every / f"{label}.csv").read_bytes() == path.read_bytes(), label
        theirs = provenance(path)
        assert provenance(exported) == theirs, label
        assert provenance(every / f"{label}.csv") == theirs, label
        used = theirs["settings"]
        assert {k: used[k] for k in spec.settings} == {k: CHANGED[k] for k in spec.settings}
        runs = ["c-toy-a-fr", "c-toy-b-fr"] if spec.task == "generate" else ["c-toy-a", "c-toy-b"]
        assert used["runs"] == runs and theirs["rows"] > 0
