# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The Datasets section: browse with search and filters, the question view (human shares and each
run's label probabilities), exclude / re-include as new versions, and the import wizard."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_tui_support import (  # noqa: F401
    ROPER_SAMPLE,
    make_test_app,
    sync,
    text_of,
    trivia_with_pc,
    tui_ws,
    wait_for,
)


@pytest.fixture
def ws_copy(tui_ws: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(tui_ws, dst)
    return dst


def _ds(app):
    return app.section("datasets")


async def _open(pilot, app, name: str) -> None:
    screen = _ds(app)
    await wait_for(pilot, lambda: name in screen.summaries, 30, "the dataset list")
    if screen.current != name:
        screen.open_dataset(name)
    await wait_for(pilot, lambda: screen.frame is not None and screen.current == name
                   and screen.query_one("#questions").row_count > 0, 30, f"{name}'s questions")


@sync
async def test_browse_search_and_filters(tui_ws: Path) -> None:
    from tui.dialogs.filters import Filters

    app = make_test_app(tui_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, app, "coane")
        screen = _ds(app)
        table = screen.query_one("#questions")
        assert table.row_count == 421
        assert "421/421 questions" in text_of(screen.query_one("#filter-status"))
        await pilot.press("slash")
        await pilot.press(*"capital")
        await pilot.pause(0.3)
        n_capital = table.row_count
        assert 0 < n_capital < 421
        assert all("capital" in (r["text"] + " ".join(r["choices"])).lower()
                   for r in screen.frame[screen.frame["question_id"].isin(
                       [str(k.value) for k in table.rows])].to_dict("records"))
        await pilot.press("escape")  # clears the search, back to the table
        await pilot.pause(0.3)
        assert table.row_count == 421
        # the filter dialog: entropy range (normalised) and choice count
        await pilot.press("f")
        await pilot.pause()
        assert type(app.screen).__name__ == "FiltersDialog"
        app.screen.query_one("#hmin").value = "0.9"
        app.screen.query_one("#n").value = "4"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert screen.filters == Filters(n_choices=4, entropy_min=0.9)
        shown = screen.frame[screen.frame["question_id"].isin([str(k.value) for k in table.rows])]
        assert len(shown) == table.row_count > 0
        assert (shown["human_entropy_norm"] >= 0.9).all() and (shown["n_choices"] == 4).all()
        assert "H∈[0.9,1]" in text_of(screen.query_one("#filter-status"))


@sync
async def test_question_view_shows_shares_and_each_runs_probabilities(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, app, "coane")
        screen = _ds(app)
        screen.query_one("#questions").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuestionDialog", 5, "dialog")
        dialog = app.screen
        await wait_for(pilot, lambda: "2 run(s)" in text_of(dialog.query_one("#runs-note")),
                       30, "the runs' label probabilities")
        bars = text_of(dialog.query_one("#bars"))   # runs numbered; the note names them
        note = text_of(dialog.query_one("#runs-note"))
        assert "humans" in bars and "run 1" in bars and "run 2" in bars
        assert "run 1 toy-a" in note and "run 2 toy-b" in note
        assert "%" in bars
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "DatasetsScreen"


@sync
async def test_exclude_then_reinclude_make_new_versions(ws_copy: Path) -> None:
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace

    ws = Workspace(ws_copy)
    app = make_test_app(ws_copy)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, app, "roper")
        screen = _ds(app)
        table = screen.query_one("#questions")
        table.focus()
        first = screen.highlighted_id()
        await pilot.press("x", "j")     # excludes the first (the cursor stays), then down
        second = screen.highlighted_id()
        await pilot.press("x")
        assert screen.excluded == {first, second}
        await pilot.press("v")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AskText", 5, "the name dialog")
        assert app.screen.query_one("#answer").value == "roper-v2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "roper-v2" in screen.summaries and screen.current == "roper-v2"
                       and screen.frame is not None and len(screen.frame) == 4, 30, "roper-v2")
        v2 = load_dataset(ws, "roper-v2")
        assert set(v2.questions["question_id"]).isdisjoint({first, second})
        assert v2.report["parent"]["name"] == "roper"
        assert len(load_dataset(ws, "roper").questions) == 6  # never edited in place
        # re-include: the parent opens with v2's exclusions marked; x on one re-includes it
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.current == "roper" and screen.excluded == {first, second}
                       and screen.query_one("#questions").row_count == 6, 30, "the parent")
        table = screen.query_one("#questions")
        table.focus()
        table.move_cursor(row=table.get_row_index(first))
        await pilot.press("x")
        assert screen.excluded == {second}
        await pilot.press("v")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AskText", 5, "the name dialog")
        app.screen.query_one("#answer").value = "roper-v3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "roper-v3" in screen.summaries, 30, "roper-v3")
        v3 = load_dataset(ws, "roper-v3")
        assert first in set(v3.questions["question_id"])
        assert second not in set(v3.questions["question_id"])


@sync
async def test_exclusion_marks_survive_a_restart_until_written(ws_copy: Path) -> None:
    """Marks not yet written as a version are saved with the console's settings: a new console
    shows them on the same questions; writing the version forgets them; marks for ids the
    dataset no longer has are dropped with a warning, not kept silently."""
    import json

    from tui.settings import SAVED_FILE

    app = make_test_app(ws_copy, remember=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, app, "roper")
        screen = _ds(app)
        screen.query_one("#questions").focus()
        first = screen.highlighted_id()
        await pilot.press("x", "j", "j", "x")
        third = screen.highlighted_id()
        await pilot.pause(0.1)
    saved = json.loads((ws_copy / SAVED_FILE).read_text())
    assert saved["exclusions"] == {"roper": sorted({first, third})}

    app = make_test_app(ws_copy, remember=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, app, "roper")
        screen = _ds(app)
        assert screen.excluded == {first, third}
        table = screen.query_one("#questions")
        marked = {str(key.value) for key in table.rows
                  if str(table.get_cell(key, "excl")).strip()}
        assert marked == {first, third}
        assert "2 excluded" in text_of(screen.query_one("#filter-status"))
        await pilot.press("v")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AskText", 5, "the name dialog")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.current == "roper-v2" and screen.frame is not None,
                       30, "roper-v2")
        await pilot.pause(0.1)
    assert json.loads((ws_copy / SAVED_FILE).read_text())["exclusions"] == {}

    saved = json.loads((ws_copy / SAVED_FILE).read_text())
    saved["exclusions"] = {"roper": [first, "no-such-question"]}
    (ws_copy / SAVED_FILE).write_text(json.dumps(saved))
    app = make_test_app(ws_copy, remember=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = _ds(app)
        await wait_for(pilot, lambda: "roper" in screen.summaries, 30, "the dataset list")
        screen.open_dataset("roper")
        await wait_for(pilot, lambda: screen.frame is not None and screen.current == "roper"
                       and screen.excluded == {first}, 30, "roper with its kept mark")
        assert any("no-such-question" in n.message for n in app._notifications)
    assert json.loads((ws_copy / SAVED_FILE).read_text())["exclusions"] == {"roper": [first]}


def _dialog_text(app) -> str:
    from textual.widgets import Static

    return "\n".join(text_of(w) for w in app.screen.query(Static))


@sync
async def test_delete_a_dataset_with_its_runs_after_a_confirmation(ws_copy: Path) -> None:
    from datasets_io.workspace import Workspace
    from engine.runs import list_runs

    ws = Workspace(ws_copy)
    app = make_test_app(ws_copy)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, app, "coane")
        screen = _ds(app)
        screen.query_one("#questions").focus()
        await pilot.press("delete")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm", 10, "the question")
        asked = _dialog_text(app)
        assert "Delete dataset coane and its 2 run(s)?" in asked
        assert "c-toy-a" in asked and "c-toy-b" in asked
        await pilot.press("n")  # no: nothing is deleted
        await wait_for(pilot, lambda: type(app.screen).__name__ != "Confirm", 5, "the dialog to close")
        assert (ws.datasets / "coane").is_dir() and len(list_runs(ws)) == 2
        await pilot.press("delete")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm", 10, "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: "coane" not in screen.summaries and screen.current == "roper",
                       30, "the list without coane")
        assert not (ws.datasets / "coane").exists() and list_runs(ws) == []
        assert sorted(p.name for p in ws.datasets.iterdir()) == ["roper"]  # nothing hidden left
        assert not any(ws.runs.iterdir())
        await pilot.press("delete")  # the last one: the table empties
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm", 10, "the question")
        assert "It has no runs." in _dialog_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.summaries and screen.current is None, 30,
                       "an empty list")
        assert screen.query_one("#questions").row_count == 0


@sync
async def test_import_wizard_roper_with_refusal_editor_and_report(ws_dir: Path,
                                                                   data_dir: Path) -> None:
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace

    app = make_test_app(ws_dir)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 5, "the wizard")
        wizard = app.screen
        await pilot.press(*str(data_dir / ROPER_SAMPLE))
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert wizard.query_one("#format").value == "roper"
        assert wizard.query_one("#name").value == "roper_topline_sample"
        wizard.query_one("#name").value = "polls"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == 1 and wizard.parsed is not None, 30, "parse")
        assert wizard.query_one("#parsed").row_count == 8
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview is not None, 30, "the live counts")
        summary = text_of(wizard.query_one("#refusal-summary"))
        assert "removes 6 option(s)" in summary and "6 of 8 kept" in summary
        # edit the list: keep "Refused" as a real option -> fewer options removed, live
        area = wizard.query_one("#refusals")
        area.text = "\n".join(ln for ln in area.text.splitlines() if ln.strip().lower() != "refused")
        await wait_for(pilot, lambda: "removes 6" not in text_of(
            wizard.query_one("#refusal-summary")), 30, "the recount")
        removed_now = wizard.preview.report["counts"]["refusal_options_removed"]
        assert removed_now < 6
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        assert wizard.step == 3
        report = text_of(wizard.query_one("#report-summary"))
        assert "dropped" in report and "shares_sum_outside_interval" in report
        assert wizard.query_one("#dropped").row_count == wizard.preview.report["counts"]["n_dropped"]
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DatasetsScreen", 30, "written")
        await wait_for(pilot, lambda: _ds(app).current == "polls", 30, "the new dataset selected")
    ds = load_dataset(Workspace(ws_dir), "polls")
    assert ds.report["counts"]["refusal_options_removed"] == removed_now
    assert "refused" not in [r.lower() for r in ds.report["settings"]["refusals"]]


async def _wizard_on(pilot, app, path: Path):
    """The import wizard (`i`) with ``path`` entered and its format detected."""
    await pilot.pause()
    await pilot.press("i")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 5, "the wizard")
    wizard = app.screen
    wizard.query_one("#path").value = str(path)
    await pilot.press("enter")
    await pilot.pause(0.3)
    return wizard


@sync
async def test_import_wizard_table_shows_the_column_mapping(ws_dir: Path, data_dir: Path) -> None:
    app = make_test_app(ws_dir)
    async with app.run_test(size=(100, 34)) as pilot:
        wizard = await _wizard_on(pilot, app, data_dir / "coane2021_trivia_mc.csv")
        assert wizard.query_one("#format").value == "table"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.parsed is not None, 30, "parse")
        assert wizard.query_one("#map-layout").value == "wide"
        assert wizard.query_one("#map-question_col").value == "question"
        assert wizard.query_one("#map-correct_col").value == "correct"
        assert wizard.query_one("#head").display and wizard.query_one("#head").row_count == 8
        assert wizard.query_one("#parsed").row_count == 200  # the preview's first rows
        # an edited mapping is used on re-parse: a wrong column is refused in place
        wizard.query_one("#map-question_col").value = "no_such_column"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "cannot parse" in text_of(
            wizard.query_one("#parse-status")), 30, "the refusal")
        assert "no_such_column" in text_of(wizard.query_one("#parse-status"))


@sync
async def test_import_wizard_reads_human_variables(ws_dir: Path, data_dir: Path,
                                                   tmp_path: Path) -> None:
    """The share answering correctly (a column `pc`) as the human variable correct_share, typed
    in the wizard as `import table --human-col` takes it."""
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace

    raw = trivia_with_pc(data_dir, tmp_path / "trivia-pc.csv")
    app = make_test_app(ws_dir)
    async with app.run_test(size=(100, 34)) as pilot:
        wizard = await _wizard_on(pilot, app, tmp_path / "trivia-pc.csv")
        wizard.query_one("#name").value = "trivia-pc"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.parsed is not None, 30, "parse")
        wizard.query_one("#human-cols").value = "correct_share=pc"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "human variables: correct_share" in text_of(
            wizard.query_one("#parse-status")), 30, "the re-parse")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview is not None, 30, "the counts")
        await pilot.press("ctrl+n", "ctrl+w")
        await wait_for(pilot, lambda: _ds(app).current == "trivia-pc", 30, "written")
    questions = load_dataset(Workspace(ws_dir), "trivia-pc").questions.set_index("question_id")
    assert questions.loc[raw["item"], "human:correct_share"].tolist() == pytest.approx(
        raw["pc"].tolist())


@sync
async def test_question_view_lists_the_human_variables(tmp_path: Path, cli) -> None:
    survey = tmp_path / "survey.csv"
    survey.write_text("item,question,option_1,option_2,share_1,share_2,rt,pc\n"
                      "q1,Tea or coffee?,Tea,Coffee,0.4,0.6,1200.5,0.75\n", encoding="utf-8")
    ws = tmp_path / "ws"
    assert cli("import", "table", survey, "--name", "s", "--human-col", "rt_ms=rt",
               "--human-col", "pc", "--workspace", ws).code == 0
    app = make_test_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app, "s")
        _ds(app).query_one("#questions").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuestionDialog", 5, "dialog")
        assert text_of(app.screen.query_one("#human-vars")).strip() == "rt_ms 1200.5  pc 0.75"
