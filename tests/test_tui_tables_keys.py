# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""Issue 19, scopes 3, 7 and 8: every table's keys (j/k/g/G, home/end, sort, `/` filter, copy),
a focused pane and selection marked by more than colour, `x` staying on its row, `q` asking
while a job runs, the help generated from the bindings, console advice in errors, and the `:`
command line and palette entries. A real app under run_test on the workspace the CLI builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.test_tui_support import make_test_app, sync, text_of, tui_ws, wait_for  # noqa: F401


async def _questions(pilot, app, name: str = "coane"):
    screen = app.section("datasets")
    await wait_for(pilot, lambda: screen.current == name
                   and screen.query_one("#questions").row_count > 0, 60, "the questions")
    table = screen.query_one("#questions")
    table.focus()
    await pilot.pause()
    return screen, table


def _shown(table, column: str) -> list[str]:
    """The cells of ``column`` as the table shows them, top to bottom."""
    from tui.widgets.frame_table import plain

    return [plain(table.get_cell_at((i, table.get_column_index(column))))
            for i in range(table.row_count)]


@sync
async def test_j_k_g_G_home_end_move_the_row_cursor(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        _, table = await _questions(pilot, app)
        n = table.row_count
        assert n == 421
        await pilot.press("j", "j", "j")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("G")
        assert table.cursor_row == n - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        # Home/End go to the first/last row (they used to scroll sideways)
        await pilot.press("end")
        assert table.cursor_row == n - 1 and table.scroll_x == 0
        await pilot.press("home")
        assert table.cursor_row == 0


@sync
async def test_sort_by_the_column_under_the_cursor_both_ways(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _questions(pilot, app)
        columns = [str(c.key.value) for c in table.ordered_columns]
        target = columns.index("human_entropy_norm")
        for _ in range(target):
            await pilot.press("right")
        assert table.column_cursor == target
        await pilot.press("S")
        await pilot.pause()
        # the order, computed independently from the dataset's frame
        frame = screen.frame
        expected = frame["question_id"].to_numpy()[np.argsort(
            frame["human_entropy_norm"].to_numpy(), kind="stable")].tolist()
        assert _shown(table, "question_id") == expected
        label = table.columns[table.ordered_columns[target].key].label.plain
        assert label.endswith("▲")
        await pilot.press("S")
        await pilot.pause()
        values = frame.set_index("question_id")["human_entropy_norm"]
        shown = [values[q] for q in _shown(table, "question_id")]
        assert shown == sorted(shown, reverse=True)
        assert table.columns[table.ordered_columns[target].key].label.plain.endswith("▼")
        assert "sort: H/log n ▼" in str(table.border_title)


@sync
async def test_slash_filters_any_table_and_escape_clears(tui_ws: Path) -> None:
    """The Results tables (Datasets keeps its own `/` search)."""
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        screen = app.section("results")
        await wait_for(pilot, lambda: "alignment" in screen.results
                       and screen.query_one("#t-alignment").row_count > 0, 120, "the tables")
        table = screen.query_one("#t-alignment")
        await pilot.press("1")
        assert app.focused is table
        total = table.row_count
        frame = screen.results["alignment"].frame
        expected = sum("toy-a" in str(m) for m in frame["model"])
        assert 0 < expected < total
        await pilot.press("slash")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LinePrompt", 5, "prompt")
        await pilot.press(*"toy-a", "enter")
        await wait_for(pilot, lambda: table.row_count == expected, 5, "the filter")
        assert all("toy-a" in m for m in _shown(table, "model"))
        assert f"filter: toy-a ({expected} of {total} rows)" in str(table.border_title)
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == total and "filter" not in str(table.border_title)
        # the tables' own errors give console advice too (the pairs table's fix is --pair)
        notes = text_of(screen.query_one("#results-notes"))
        assert "pairs" in notes and "--pair" not in notes and "settings (o)" in notes


@sync
async def test_y_copies_the_cell_and_Y_the_row(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _questions(pilot, app)
        await pilot.press("j", "right")   # second row, the id column
        qid = _shown(table, "question_id")[1]
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == qid
        assert any(qid in n.message for n in app._notifications)
        await pilot.press("Y")
        await pilot.pause()
        cells = app.clipboard.split("\t")
        assert cells[1] == qid and len(cells) == len(table.columns)
        text = screen.frame.set_index("question_id").loc[qid, "text"]
        assert str(text)[:40] in app.clipboard


@sync
async def test_focused_table_is_marked_by_more_than_colour(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _questions(pilot, app)
        assert str(table.border_title).startswith("▶ ")
        assert table.styles.border_top[0] == "heavy"
        screen.query_one("#dataset-list").focus()
        await pilot.pause()
        assert not str(table.border_title).startswith("▶")
        assert table.styles.border_top[0] != "heavy"
        assert screen.query_one("#dataset-list").styles.border_left[0] == "heavy"


@sync
async def test_x_stays_on_the_row_it_marks(tmp_path: Path, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _questions(pilot, app)
        await pilot.press("j", "j")
        qid = screen.highlighted_id()
        await pilot.press("x")
        await pilot.pause()
        assert screen.excluded == {qid}
        assert table.cursor_row == 2 and screen.highlighted_id() == qid
        await pilot.press("x")   # again: re-included, the same row
        assert screen.excluded == set() and screen.highlighted_id() == qid


@sync
async def test_help_lists_every_key_from_the_bindings(tui_ws: Path) -> None:
    from tui.app import AlignUQApp
    from tui.dialogs.help import HelpDialog, describe_bindings
    from tui.screens.datasets import DatasetsScreen
    from tui.widgets.frame_table import FrameTable

    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _questions(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpDialog), 5, "help")
        listed = {k for _, keys in app.screen.keys for k, _ in keys}
        for cls in (DatasetsScreen, FrameTable, AlignUQApp):
            for key, _ in describe_bindings(list(cls.BINDINGS)):
                assert key in listed, (cls.__name__, key)
        assert {"enter", "j", "k", "g", "G", "S", "/", "y", "Y", ":", "q"} <= listed
        await pilot.press("escape")
        # a dialog's keys too: the import wizard's ctrl+r
        await pilot.press("i")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 5, "wizard")
        await pilot.press("f1")   # its name field has focus: ? would be typed
        await wait_for(pilot, lambda: isinstance(app.screen, HelpDialog), 5, "wizard help")
        listed = {k for _, keys in app.screen.keys for k, _ in keys}
        assert {"ctrl+r", "ctrl+n", "ctrl+b", "escape"} <= listed


@sync
async def test_errors_give_console_advice_not_cli_flags(tui_ws: Path) -> None:
    """A real name clash from the importer (its fix names --name and --force)."""
    from common.errors import AlignuqError
    from engine.lab.imports import target
    from tui.messages import WorkerFailed

    ws = tui_ws
    with pytest.raises(AlignuqError) as caught:
        target(ws, "coane")
    clash = caught.value
    assert "--force" in clash.fix
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.post_message(WorkerFailed(clash, "import"))
        await wait_for(pilot, lambda: app._notifications, 5, "the notification")
        shown = " ".join(n.message for n in app._notifications)
        assert clash.what in shown
        assert "--force" not in shown and "--name" not in shown
        assert "import wizard" in shown


@sync
async def test_colon_jumps_to_a_dataset_and_to_a_table(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _questions(pilot, app, "coane")
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("colon")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LinePrompt", 5, "prompt")
        await pilot.press(*"rop", "enter")   # a prefix of "roper"
        datasets = app.section("datasets")
        await wait_for(pilot, lambda: app.current_mode == "datasets"
                       and datasets.current == "roper", 30, "the roper dataset")
        await pilot.press("colon")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LinePrompt", 5, "prompt")
        await pilot.press(*"reliability", "enter")
        await wait_for(pilot, lambda: app.current_mode == "results", 30, "results")
        tabs = app.section("results").query_one("#results-tabs")
        await wait_for(pilot, lambda: tabs.active == "ece", 10, "the ECE tab")


@sync
async def test_colon_on_results_shows_that_datasets_tables(tui_ws: Path, tmp_path: Path) -> None:
    """On Results, `:` with a dataset that has runs shows its tables there (before, it left for
    the Datasets screen)."""
    import shutil

    from tests.test_runs_import import make_results
    from tests.test_tui_support import cli_main

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    make_results(ws, "roper", seed=3, noise=0.5).to_csv(tmp_path / "r.csv", index=False)
    assert cli_main("runs", "import", tmp_path / "r.csv", "--dataset", "roper", "--model-name",
                    "toy-r", "--run-id", "r-toy", "--vocab-size", "49152", "-w", ws) == 0
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        results = app.section("results")
        await wait_for(pilot, lambda: results.dataset is not None, 30, "a dataset's tables")
        other = "coane" if results.dataset == "roper" else "roper"
        await pilot.press("colon")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LinePrompt", 5, "prompt")
        await pilot.press(*other, "enter")
        def shown() -> str | None:
            out = results.results.get("alignment")
            return out and out.table and out.provenance[None]["dataset"]["name"]

        await wait_for(pilot, lambda: results.dataset == other and shown() == other, 60,
                       f"{other}'s tables")
        assert app.current_mode == "results"


@sync
async def test_section_keys_work_with_a_table_focused(tui_ws: Path) -> None:
    """Every section's key reaches its section from a focused table (Grading's was `g`, which a
    focused table takes for its first row, so Results and Datasets could not reach it)."""
    from tui.app import SECTION_KEYS
    from tui.widgets.frame_table import FrameTable

    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _questions(pilot, app, "coane")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.section("results").results, 60, "the tables")
        for start in ("datasets", "results"):
            for mode, key in SECTION_KEYS.items():
                await pilot.press(SECTION_KEYS[start])
                await wait_for(pilot, lambda s=start: app.current_mode == s, 10, start)
                table = next(t for t in app.screen.query(FrameTable) if t.has_data)
                table.focus()
                await pilot.pause()
                await pilot.press(key)
                await wait_for(pilot, lambda m=mode: app.current_mode == m, 10,
                               f"{key} from a table of {start}")


@sync
async def test_palette_finds_every_table_and_screen(tui_ws: Path) -> None:
    from tui.app import ActionsProvider

    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        provider = ActionsProvider(app.screen)
        found = [str(hit.text) async for hit in provider.search("reli")]
        assert any("reliability plot" in f for f in found), found
        titles = [t for t, _, _ in provider._entries() + provider._jumps()]
        from engine.lab.analyses import ANALYSES

        for spec in ANALYSES.values():
            assert any(t.startswith(f"Results: {spec.title} table") for t in titles), spec.title
        for section in ("Datasets", "Models", "Runs", "Results"):
            assert f"Go to {section}" in titles
        assert "Dataset coane" in titles and "Run c-toy-a" in titles
        # run through the palette itself
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"reli")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "results", 30, "results")


@sync
async def test_new_jobs_dialog_marks_selection_with_a_symbol(tui_ws: Path) -> None:
    from tui.dialogs.new_jobs import NewJobsDialog

    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(NewJobsDialog([("a", "ref-a"), ("b", "ref-b")], ["coane", "roper"]))
        await pilot.pause()
        models = app.screen.query_one("#pick-models")
        prompts = [str(models.get_option_at_index(i).prompt) for i in range(2)]
        assert prompts == ["[x] a", "[ ] b"]
        models.focus()
        await pilot.press("down", "space")
        await pilot.pause()
        prompts = [str(models.get_option_at_index(i).prompt) for i in range(2)]
        assert prompts == ["[x] a", "[x] b"]
        models.add_options([("c", "ref-c", False)])   # added later (as a run list does)
        await pilot.pause()
        assert str(models.get_option_at_index(2).prompt) == "[ ] c"
        assert set(models.selected) == {"ref-a", "ref-b"}


@pytest.mark.slow
@sync
async def test_q_asks_while_a_job_runs(tmp_path: Path, data_dir: Path,
                                       tiny_llama_dir: Path) -> None:
    from tests.test_tui_support import cli_main
    from tui.dialogs.ask import Confirm

    ws = tmp_path / "ws"
    assert cli_main("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane",
                    "-w", ws) == 0
    app = make_test_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        screen = app.section("runs")
        (job,) = screen.queue_jobs([("tiny", str(tiny_llama_dir))], ["coane"], limit=400)
        await wait_for(pilot, lambda: job.status == "running", 300, "running")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), 5, "the question")
        assert "a job is running" in str(app.screen.text).lower()
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and job.status == "running"
        await pilot.press("c")   # cancel it: then q quits at once
        await wait_for(pilot, lambda: job.status == "cancelled", 120, "the cancellation")
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
