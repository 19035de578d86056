# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The Results section on two seeded runs of the Coane & Umanath trivia questions: every table,
the scale switch, the plots, and export (CSV / Markdown / LaTeX with the provenance sidecar)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.lab.analyses import ANALYSES
from tests.test_tui_support import make_test_app, sync, text_of, tui_ws, wait_for  # noqa: F401


def _res(app):
    return app.section("results")


async def _computed(pilot, app) -> None:
    await pilot.press("s")
    await wait_for(pilot, lambda: _res(app) is not None and len(_res(app).results) == len(ANALYSES), 120,
                   "every table")


@sync
async def test_every_table_is_shown(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        assert screen.dataset == "coane"
        assert sorted(screen.selected_runs()) == ["c-toy-a", "c-toy-b"]
        for key in ("alignment", "agreement", "kendall", "calibration", "ece", "jsd"):
            assert not screen.results[key].error, screen.results[key]
        align = screen.query_one("#t-alignment")
        assert align.row_count == len(screen.results["alignment"].frame) > 0
        assert {"model", "measure", "r", "p", "partial_r"} <= set(align.frame.columns)
        labels = [str(c.label) for c in align.columns.values()]
        assert "sig" in labels and "partial r" in labels
        # significance is marked where p < 0.05
        frame = screen.results["alignment"].frame
        assert (frame["p"] < 0.05).any()
        sig_col = [k for k, c in align.columns.items() if str(c.label) == "sig"][0]
        marks = [str(align.get_cell(row, sig_col)) for row in align.rows]
        assert any(m.startswith("*") for m in marks)
        assert screen.query_one("#t-strata").row_count > 0  # 4 choices, >= 30 questions
        assert screen.query_one("#t-agreement").row_count == 2
        assert screen.query_one("#t-kendall").row_count == 2
        calib = screen.query_one("#t-calibration")
        assert calib.row_count == 2 and "ALL" in [str(c.label) for c in calib.columns.values()]
        # the ECE tab and its reliability diagram, the JSD tab and its histogram
        await pilot.press("5")
        await pilot.pause(0.3)
        assert screen.query_one("#results-tabs").active == "ece"
        reliability = screen.query_one("#reliability")
        assert "ECE" in reliability.title_text and reliability.n_points > 0
        await pilot.press("6")
        await pilot.pause(0.3)
        assert screen.query_one("#results-tabs").active == "jsd"
        assert screen.query_one("#t-jsd").row_count > 0
        hist = screen.query_one("#null-hist")
        first = screen.results["jsd"].frame.iloc[0]
        assert hist.n_points == int(first["permutations"])
        assert hist.observed == pytest.approx(float(first["shift"]))
        # past the ninth tab: 0, then . and , step through the tabs (and wrap)
        names = list(ANALYSES)
        await pilot.press("0")
        await pilot.pause(0.2)
        assert screen.query_one("#results-tabs").active == names[9]
        for expected in (names[10 % len(names)], names[11 % len(names)]):
            await pilot.press("full_stop")
            await pilot.pause(0.2)
            assert screen.query_one("#results-tabs").active == expected
        await pilot.press("comma")
        await pilot.pause(0.2)
        assert screen.query_one("#results-tabs").active == names[10 % len(names)]
        assert screen.query_one(f"#t-{names[10 % len(names)]}").row_count == 2   # a row a model


@sync
async def test_scale_switch_recomputes(tui_ws: Path) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        assert set(screen.results["alignment"].frame["scale"]) == {"raw"}
        raw_r = screen.results["alignment"].frame.set_index(["model", "measure"])["r"]
        await pilot.press("c")
        await wait_for(pilot, lambda: set(screen.results["alignment"].frame["scale"])
                       == {"normalized"}, 120, "the normalized tables")
        assert app.settings.scale == "normalized"
        await pilot.press("c")
        await wait_for(pilot, lambda: set(screen.results["alignment"].frame["scale"])
                       == {"paper"}, 120, "the paper-scale tables")
        paper_r = screen.results["alignment"].frame.set_index(["model", "measure"])["r"]
        assert not raw_r.equals(paper_r)
        # j/k/g/G belong to the focused table here too (scale is c, recompute ctrl+r)
        table = screen.query_one("#t-alignment")
        table.focus()
        await pilot.press("j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1 > 1
        await pilot.press("g")
        assert table.cursor_row == 0 and app.settings.scale == "paper"


def _cli_cells(ws: Path, analysis: str) -> dict[tuple[str, ...], dict[str, str]]:
    """The human table of `alignuq analyze ANALYSIS`, run as a real subprocess: cells by row key."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "tui.cli.main", "analyze", analysis, "-d",
                           "coane", "-w", str(ws)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent, check=True)
    lines = done.stdout.splitlines()
    header = lines[2].split()
    rows = [dict(zip(header, ln.split(), strict=True)) for ln in lines[4:]]
    key = [c for c in ("model", "measure", "method") if c in header]
    return {tuple(r[c] for c in key): r for r in rows}


@sync
async def test_the_console_shows_numbers_as_the_cli_does(tui_ws: Path) -> None:
    """The same column shows the same text in the console and in `alignuq analyze`'s tables
    (p under 0.001 as <0.001, r with fixed decimals, never scientific notation)."""
    app = make_test_app(tui_ws)
    async with app.run_test(size=(160, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        compared = set()
        for analysis, columns in (("alignment", ["n", "r", "p", "partial_r", "spearman_rho",
                                                 "ci_low", "ci_high"]),
                                  ("agreement", ["n", "agreement", "chance", "z", "p_z",
                                                 "p_exact"]),
                                  ("ece", ["n", "ece"]), ("jsd", ["shift", "p"])):
            cli_rows = _cli_cells(tui_ws, analysis)
            table = screen.query_one(f"#t-{analysis}")
            frame = screen.results[analysis].frame
            n_rows = 0
            for i, rec in enumerate(frame.to_dict("records")):
                key = tuple(rec[c] for c in ("model", "measure", "method") if c in rec)
                if key not in cli_rows:  # e.g. ece: the CLI's default measures are fewer
                    continue
                n_rows += 1
                for col in columns:
                    shown = str(getattr(table.get_cell(str(i), col), "plain",
                                        table.get_cell(str(i), col)))
                    assert shown == cli_rows[key][col], (analysis, key, col)
                    compared.add(shown)
            assert n_rows >= 2, analysis
        assert "<0.001" in compared and not any("e-" in text for text in compared)


@pytest.mark.parametrize("key, suffix", [("c", ".csv"), ("m", ".md"), ("l", ".tex")])
@sync
async def test_export_writes_the_table_and_its_provenance(tui_ws: Path, tmp_path: Path,
                                                           key: str, suffix: str) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        _res(app).query_one("#t-alignment").focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportDialog", 5, "dialog")
        await pilot.press(key)
        await wait_for(pilot, lambda: app.last_export, 30, "the export")
        path, side = map(Path, app.last_export)
    assert path.parent == ws / "exports" and path.suffix == suffix and path.exists()
    meta = json.loads(side.read_text())
    assert meta["table"] == "alignment" and meta["dataset"]["name"] == "coane"
    assert {r["run_id"] for r in meta["runs"]} == {"c-toy-a", "c-toy-b"}
    assert meta["settings"]["scale"] == "raw"
    if suffix == ".csv":
        frame = pd.read_csv(path)
        assert list(frame.columns)[:5] == ["model", "measure", "scale", "target", "n"]
        assert len(frame) == meta["rows"] > 0
    elif suffix == ".md":
        assert path.read_text().startswith("| model")
    else:
        assert "\\begin{tabular}" in path.read_text()


@sync
async def test_export_writes_the_view_filtered_and_sorted_to_a_typed_path(tui_ws: Path,
                                                                           tmp_path: Path) -> None:
    """`e` on a filtered, sorted table writes the rows shown in their order (the dialog and the
    provenance say so); a pivot shown over a long table exports the whole table and says that."""
    from textual.widgets import Input

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        out = _res(app).results["alignment"]
        table = _res(app).query_one("#t-alignment")
        table.focus()
        measure = "choice_entropy"
        assert not any(measure in str(model) for model in out.frame["model"])
        table.set_filter(measure)
        table.sort_column("r", descending=True)
        await pilot.press("e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportDialog", 5, "dialog")
        expected = out.frame[out.frame["measure"].str.contains(measure)]
        assert 0 < len(expected) < len(out.frame)
        note = text_of(app.screen.query_one("#export-note"))
        assert f"the {len(expected)} of {len(out.frame)} rows shown" in note
        assert "sorted by r descending" in note
        app.screen.query_one("#export-path", Input).value = "aligned-view"
        await pilot.press("c")
        await wait_for(pilot, lambda: app.last_export, 30, "the export")
        path, side = map(Path, app.last_export)

        calibration = _res(app).query_one("#t-calibration")
        calibration.set_filter("a")
        whole = calibration.export_view()
        assert whole.frame is _res(app).results["calibration"].frame
        assert whole.note.startswith(f"all {len(whole.frame)} rows") and "view" not in whole.provenance
    assert path == ws / "exports" / "aligned-view.csv"
    written = pd.read_csv(path)
    key = ["model", "measure"]
    assert sorted(map(tuple, written[key].values)) == sorted(map(tuple, expected[key].values))
    r = written["r"].dropna().tolist()
    assert r == sorted(r, reverse=True) and written["r"].notna().sum() == expected["r"].notna().sum()
    meta = json.loads(side.read_text())
    assert meta["view"] == {"filter": measure, "sort": "r descending", "rows": len(expected),
                            "of": len(out.frame)}


@sync
async def test_export_from_the_datasets_screen(tui_ws: Path, tmp_path: Path) -> None:
    """`e` works from anywhere a table is focused: the questions list."""
    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.section("datasets")
        await wait_for(pilot, lambda: screen.query_one("#questions").row_count > 0, 30, "rows")
        screen.query_one("#questions").focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportDialog", 5, "dialog")
        app.screen.query_one("#export-path").value = str(tmp_path / "questions.csv")
        await pilot.press("c")
        await wait_for(pilot, lambda: app.last_export, 30, "the export")
        path, side = map(Path, app.last_export)
    assert path == tmp_path / "questions.csv"   # the typed path, on every screen
    frame = pd.read_csv(path)
    assert "question_id" in frame.columns and len(frame) == len(screen.frame)
    meta = json.loads(side.read_text())
    assert meta["dataset"] == screen.current and meta["versions"]["python"]


@sync
async def test_no_table_to_export_is_a_notification(tmp_path: Path) -> None:
    app = make_test_app(tmp_path / "empty")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause(0.5)
        await pilot.press("e")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "ResultsScreen"
        assert any("No table" in str(n.message) for n in app._notifications)


@sync
async def test_table_settings_dialog_checks_and_applies(tui_ws: Path) -> None:
    """`o` edits the registry's settings without a key of their own: a value the CLI would
    refuse is refused in place, a valid one reaches the tables, Defaults goes back."""
    from textual.widgets import Input, Select

    app = make_test_app(tui_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        assert "permutations 1000 (o)" in str(screen.query_one("#results-settings").render())
        await pilot.press("o")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TableSettingsDialog", 5)
        dialog = app.screen
        assert "Used by alignment, calibration, ece, jsd, recalibrate, probe;" in text_of(
            dialog.query_one(".setting-help"))  # seed's line
        dialog.query_one("#set-permutations", Input).value = "0"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.screen is dialog
        assert "--permutations must be at least 1 (got 0)" in text_of(
            dialog.query_one("#settings-error"))
        dialog.query_one("#set-permutations", Input).value = "37"
        dialog.query_one("#set-adjust", Select).value = "holm"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, 5, "the dialog to close")
        assert dict(app.settings.tables) == {"permutations": 37, "adjust": "holm"}
        assert "permutations 37 (o)" in str(screen.query_one("#results-settings").render())
        await wait_for(pilot, lambda: all(out.generation == screen.generation
                                          for out in screen.results.values()), 120,
                       "the recomputed tables")
        assert set(screen.results["jsd"].frame["permutations"]) == {37}
        assert "p_adj" in screen.results["alignment"].frame
        await pilot.press("o")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TableSettingsDialog", 5)
        await pilot.click("#defaults")
        await wait_for(pilot, lambda: app.screen is screen, 5, "the dialog to close")
        assert dict(app.settings.tables) == {}
