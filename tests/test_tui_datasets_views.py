# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The Datasets screen's views: the MMLU question table gives the question text the width the
other columns leave, and `D` lists the questions the import dropped, with their reasons."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from tests.test_tui_support import make_test_app, sync, text_of, tui_ws, wait_for  # noqa: F401

SUBJECTS = ("high_school_european_history", "abstract_algebra", "anatomy")


async def _open(pilot, app, name: str):
    screen = app.section("datasets")
    await wait_for(pilot, lambda: name in screen.summaries, 30, "the dataset list")
    if screen.current != name:
        screen.open_dataset(name)
    await wait_for(pilot, lambda: screen.frame is not None and screen.current == name
                   and screen.query_one("#questions").row_count > 0, 30, f"{name}'s questions")
    return screen


@sync
async def test_mmlu_question_text_gets_the_width_left(ws_dir: Path, data_dir: Path,
                                                      tmp_path: Path, cli) -> None:
    folder = tmp_path / "mmlu"
    folder.mkdir()
    for subject in SUBJECTS:   # the longest subject name of MMLU among them
        shutil.copy(data_dir / "mmlu" / "test" / f"{subject}_test.csv", folder)
    assert cli("import", "mmlu", folder, "--name", "mmlu", "--workspace", ws_dir).code == 0
    for size, least in (((120, 40), 60), ((80, 24), 20)):
        app = make_test_app(ws_dir)
        async with app.run_test(size=size) as pilot:
            screen = await _open(pilot, app, "mmlu")
            table = screen.query_one("#questions")
            await pilot.pause(0.2)
            widths = {str(c.label): c.get_render_width(table) for c in table.columns.values()}
            visible_text = table.size.width - sum(w for k, w in widths.items() if k != "text")
            assert "subject" not in widths           # every id names its subject already
            assert min(widths["text"], visible_text) >= least, (size, widths, table.size)
            # no empty columns beside a cut text: the text takes all the room the others leave
            assert sum(widths.values()) >= table.size.width - 4, (size, widths, table.size)
            assert not table.show_horizontal_scrollbar, (size, widths, table.size)  # and no more
            first = table.get_row_at(0)
            assert str(first[-1]).rstrip("…") in str(screen.frame["text"].iloc[0])


@sync
async def test_dropped_questions_of_a_dataset_with_their_reasons(tui_ws: Path,
                                                                tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(tui_ws, root)
    expected = pd.read_csv(root / "datasets" / "roper" / "dropped.csv", dtype=str,
                           keep_default_na=False)
    assert len(expected) == 2
    app = make_test_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app, "roper")
        assert "(D lists)" in text_of(screen.query_one("#dataset-summary"))
        await pilot.press("D")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DroppedDialog", 10, "dialog")
        table = app.screen.query_one("#dropped")
        await wait_for(pilot, lambda: table.row_count == 2, 10, "the rows")
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(2)}
        assert rows == dict(zip(expected["question_id"], expected["reason"], strict=True))
        counts = text_of(app.screen.query_one("#dropped-reasons"))
        for reason, n in expected["reason"].value_counts().items():
            assert f"{reason} {n}" in counts
        await pilot.press("escape")
        screen.open_dataset("coane")      # nothing dropped: said so
        await wait_for(pilot, lambda: screen.current == "coane" and screen.frame is not None
                       and len(screen.frame) == 421, 30, "coane")
        await pilot.press("D")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DroppedDialog", 10, "dialog")
        assert "no question was dropped" in text_of(app.screen.query_one("#dropped-title"))
