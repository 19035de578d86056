# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""Snapshots (pytest-textual-snapshot) of every section and of an error state, at a fixed 80x24 or
100x30 terminal, on deterministic data: the Roper sample, the trivia questions and two seeded
runs. Update them with `pytest tests/test_tui_snapshots.py --snapshot-update` after a deliberate
change, and look at the report before committing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.lab.analyses import ANALYSES
from tests.test_tui_support import make_test_app, tui_ws, wait_for  # noqa: F401


@pytest.fixture(autouse=True)
def _no_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model discovery sees only what the project installs, not this machine's HF cache."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))


def _loaded(app, section: str):
    async def run_before(pilot) -> None:
        if section != "datasets":
            await pilot.press({"results": "s", "grading": "w"}.get(section, section[0]))
        ds = app.section("datasets")
        await wait_for(pilot, lambda: ds.frame is not None
                       and ds.query_one("#questions").row_count > 0, 60, "the questions")
        if section == "models":
            await wait_for(pilot, lambda: app.section("models").models, 120, "the models")
        if section == "results":
            await wait_for(pilot, lambda: len(app.section("results").results) == len(ANALYSES), 120,
                           "the tables")
        if section == "runs":
            log = app.section("runs").query_one("#job-log")
            await wait_for(pilot, lambda: any("in this workspace" in line for line in log.lines)
                           and app.section("runs").polls > 0, 60,
                           "the note on existing runs and the run list")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(1.0)  # let every worker's last message land
    return run_before


def test_datasets_section(snap_compare, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_loaded(app, "datasets"))


def test_question_view(snap_compare, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)

    async def run_before(pilot) -> None:
        await _loaded(app, "datasets")(pilot)
        app.section("datasets").query_one("#questions").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "run(s)" in str(app.screen.query_one("#runs-note").content),
                       60, "the runs")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_models_section(snap_compare, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_loaded(app, "models"))


def test_runs_section(snap_compare, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_loaded(app, "runs"))


def test_results_alignment(snap_compare, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    assert snap_compare(app, terminal_size=(100, 30), run_before=_loaded(app, "results"))


@pytest.mark.parametrize("tab", ["3", "4", "5", "6"])
def test_results_tabs(snap_compare, tui_ws: Path, tab: str) -> None:
    """Kendall, calibration, ECE with its reliability diagram, JSD with its null histogram."""
    app = make_test_app(tui_ws)
    assert snap_compare(app, press=[tab, "_"], terminal_size=(100, 30),
                        run_before=_loaded(app, "results"))


def test_help_dialog(snap_compare, tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    assert snap_compare(app, press=["question_mark", "_"], terminal_size=(80, 24),
                        run_before=_loaded(app, "datasets"))


def test_error_state(snap_compare, tui_ws: Path) -> None:
    """An engine that cannot start: the error dialog with its code and what to do."""
    app = make_test_app(tui_ws, engine_prefix=("/nonexistent/alignuq-engine",))

    def dialog_open() -> bool:
        return type(app.screen).__name__ == "ErrorDialog"

    async def run_before(pilot) -> None:
        # Opening Models fails at once, while the footer below is still being composed, so what
        # the dialog covers varies from run to run. Close the real dialogs, let the screen
        # settle, then show the same real failure again through the app's one failure path.
        await pilot.press("m")
        await wait_for(pilot, dialog_open, 60, "the dialog")
        await wait_for(pilot, lambda: not any(w.is_running for w in app.workers), 60,
                       "the engine workers to finish")
        failure = app.failures[-1]
        assert failure.code == "ENGINE_START"
        for _ in range(5):
            if not dialog_open():
                break
            await pilot.press("escape")
            await pilot.pause(0.2)
        await wait_for(pilot, lambda: app.screen.query("FooterKey"), 10, "the Models keys")
        await pilot.pause(0.5)
        app.show_failure(failure, "list models (engine)")
        await wait_for(pilot, dialog_open, 10, "the dialog")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


# each section at the size the tests above do not take it at: 120x40 and 80x24 both covered
OTHER_SIZE = [("datasets", (120, 40)), ("models", (120, 40)), ("runs", (120, 40)),
              ("results", (80, 24)), ("results", (120, 40)), ("grading", (80, 24)),
              ("grading", (120, 40))]


@pytest.mark.parametrize(("section", "size"), OTHER_SIZE,
                         ids=[f"{name}-{w}x{h}" for name, (w, h) in OTHER_SIZE])
def test_section_at_both_sizes(snap_compare, tui_ws: Path, section: str, size) -> None:
    app = make_test_app(tui_ws)
    assert snap_compare(app, terminal_size=size, run_before=_loaded(app, section))
