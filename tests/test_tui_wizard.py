# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The import wizard: Next re-reads the file when the column mapping was edited (an edit is never
silently ignored), a taken name is caught at step 1 with a "replace" there (not at the last step
with CLI advice), and sample / seed / shuffle reach the dataset written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from tests.test_tui_support import (  # noqa: F401
    ROPER_SAMPLE,
    make_test_app,
    sync,
    text_of,
    tui_ws,
    wait_for,
)


async def _wizard_on(pilot, app, path: Path):
    await pilot.pause()
    await pilot.press("i")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 5, "the wizard")
    wizard = app.screen
    wizard.query_one("#path").value = str(path)
    await pilot.press("enter")
    await pilot.pause(0.3)
    return wizard


def _swapped_columns(data_dir: Path, out: Path) -> pd.DataFrame:
    """The Coane trivia table with a second text column ``alt`` (the question, upper-cased), so
    mapping question_col to it changes every question's text."""
    trivia = pd.read_csv(data_dir / "coane2021_trivia_mc.csv")
    trivia["alt"] = trivia["question"].str.upper()
    trivia.to_csv(out, index=False)
    return trivia


@sync
async def test_next_reparses_an_edited_mapping(ws_dir: Path, data_dir: Path,
                                               tmp_path: Path) -> None:
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace

    raw = _swapped_columns(data_dir, tmp_path / "trivia.csv")
    app = make_test_app(ws_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        wizard = await _wizard_on(pilot, app, tmp_path / "trivia.csv")
        wizard.query_one("#name").value = "alt"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == 1 and wizard.parsed is not None, 30, "parse")
        assert wizard.query_one("#map-question_col").value == "question"
        first = wizard.parsed
        wizard.query_one("#map-question_col").value = "alt"
        await pilot.pause(0.1)
        assert "reads the file again" in text_of(wizard.query_one("#mapping-note"))
        await pilot.press("ctrl+n")        # no ctrl+r: Next itself reads the edit
        await wait_for(pilot, lambda: wizard.step == 2 and wizard.parsed is not first, 30,
                       "the re-parse")
        await wait_for(pilot, lambda: wizard.preview is not None, 30, "the counts")
        await pilot.press("ctrl+n", "ctrl+w")
        await wait_for(pilot, lambda: app.section("datasets").current == "alt", 30, "written")
    texts = load_dataset(Workspace(ws_dir), "alt").questions["text"].tolist()
    assert texts == raw["alt"].tolist()


@sync
async def test_a_taken_name_is_caught_at_step_one_and_replace_replaces(
        tui_ws: Path, tmp_path: Path, data_dir: Path) -> None:
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(tui_ws, root)
    before = len(load_dataset(Workspace(root), "roper").questions)
    app = make_test_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        wizard = await _wizard_on(pilot, app, data_dir / ROPER_SAMPLE)
        wizard.query_one("#name").value = "roper"
        await pilot.pause(0.1)
        status = text_of(wizard.query_one("#name-status"))
        assert "roper already exists" in status and "--force" not in status
        assert wizard.query_one("#replace-row").display
        await pilot.press("ctrl+n")
        await pilot.pause(0.3)
        assert wizard.step == 0 and wizard.parsed is None       # not parsed, not gone on
        wizard.query_one("#replace").value = True
        await pilot.pause(0.1)
        assert "replaces dataset roper" in text_of(wizard.query_one("#name-status"))
        wizard.query_one("#sample").value = "3"
        wizard.query_one("#seed").value = "7"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == 1 and wizard.parsed is not None, 30, "parse")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview is not None, 30, "the counts")
        await pilot.press("ctrl+n", "ctrl+w")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DatasetsScreen", 30, "written")
    ds = load_dataset(Workspace(root), "roper")
    assert before == 6 and len(ds.questions) == 3
    assert (ds.report["settings"]["seed"], ds.report["settings"]["sample"]) == (7, 3)


@sync
async def test_a_bad_name_is_refused_at_step_one(ws_dir: Path, data_dir: Path) -> None:
    app = make_test_app(ws_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await _wizard_on(pilot, app, data_dir / ROPER_SAMPLE)
        wizard.query_one("#name").value = "bad name/"
        await pilot.press("ctrl+n")
        await pilot.pause(0.3)
        assert wizard.step == 0 and wizard.parsed is None
        assert "letters, digits" in text_of(wizard.query_one("#name-status"))


