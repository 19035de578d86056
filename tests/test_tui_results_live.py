# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The Results screen is never stale: a setting changed anywhere (the Models screen's variant and
measures, the scale key, the settings dialog, every setting of the registry) and a run that
appears in the workspace (made by the CLI, no `g` pressed) recompute what it shows; the settings
survive a restart (console-settings.json); each table says what it was made with.

The workspace is tests.test_tui_support's: the Coane trivia questions and two seeded runs."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lab.analyses import ANALYSES
from tests.test_tui_support import make_test_app, sync, text_of, tui_ws, wait_for  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
TRIVIA = "coane2021_trivia_mc.csv"
# the measures of the seeded runs (tests/test_runs_import.make_results)
SEEDED = ["top1_prob", "total_entropy", "topk_entropy@5", "topp_size@0.9", "topp_entropy@0.9",
          "choice_entropy", "choice_top1", "choice_margin"]
CERTAINTIES = ("top1_prob", "choice_top1", "choice_margin")


def _res(app):
    return app.section("results")


def _settled(screen) -> bool:
    """Every table of the screen's latest computation is in."""
    return (len(screen.results) == len(ANALYSES)
            and all(out.generation == screen.generation for out in screen.results.values()))


async def _computed(pilot, app) -> None:
    await pilot.press("s")
    await wait_for(pilot, lambda: _res(app) is not None and _settled(_res(app)), 120,
                   "every table")


async def _recomputed(pilot, screen, before: int, what: str) -> None:
    await wait_for(pilot, lambda: screen.generation > before and _settled(screen), 120, what)


def _cell(table, row: int, column: str) -> str:
    cell = table.get_cell(str(row), column)
    return str(getattr(cell, "plain", cell))


def _chances(data_dir: Path) -> tuple[float, float]:
    """Agreement's chance for every trivia question, written out: the paper's 1 / mean(n)
    and the corrected mean over questions of (tied top answers / n)."""
    trivia = pd.read_csv(data_dir / TRIVIA)
    shares = trivia[[f"share_{i}" for i in range(1, 5)]].to_numpy(float)
    shares = shares / shares.sum(axis=1, keepdims=True)
    n = np.isfinite(shares).sum(axis=1)
    tied = (shares == np.nanmax(shares, axis=1, keepdims=True)).sum(axis=1)
    return 1.0 / n.mean(), float((tied / n).mean())


@sync
async def test_the_variant_chosen_on_models_reaches_the_results(tui_ws: Path,
                                                                 data_dir: Path) -> None:
    """The reported bug: after switching the variant to paper on Models, Results said paper
    but still showed the corrected agreement's chance."""
    from textual.widgets import Select

    paper, corrected = _chances(data_dir)
    assert paper != pytest.approx(corrected)
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        agreement = screen.results["agreement"].frame
        assert agreement["chance"].tolist() == pytest.approx([corrected] * 2)
        before = screen.generation
        await pilot.press("m")
        await wait_for(pilot, lambda: app.section("models") is not None, 10, "Models")
        app.section("models").query_one("#variant", Select).value = "paper"
        await wait_for(pilot, lambda: app.settings.variant == "paper", 10, "the variant")
        await pilot.press("s")
        await _recomputed(pilot, screen, before, "the paper tables")
        agreement = screen.results["agreement"].frame
        assert agreement["chance"].tolist() == pytest.approx([paper] * 2)
        shown = screen.query_one("#t-agreement")
        assert _cell(shown, 0, "chance") == f"{paper:.3f}"
        assert "variant paper" in text_of(screen.query_one("#cap-agreement"))


@sync
async def test_measures_switched_off_on_models_leave_the_tables(tui_ws: Path) -> None:
    """The reported bug: with measures switched off on Models, Results counted the right number
    of measures and listed every one."""
    from textual.widgets import SelectionList

    off = ["total_entropy", "topp_size@0.9", "choice_margin",          # three the runs have
           "topk_entropy@10", "topk_entropy@25", "topp_entropy@0.5", "topp_size@0.5"]
    kept = [m for m in SEEDED if m not in off]
    expected = {f"-{m}" if m in CERTAINTIES else m for m in kept}
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        assert len(set(screen.results["alignment"].frame["measure"])) == len(SEEDED)
        before = screen.generation
        await pilot.press("m")
        await wait_for(pilot, lambda: app.section("models") is not None, 10, "Models")
        picker = app.section("models").query_one("#measures", SelectionList)
        for name in off:
            picker.deselect(name)
        await wait_for(pilot, lambda: app.settings.measures is not None
                       and len(app.settings.measures) == 11, 10, "the measures")
        # each measure says whether it is picked by a symbol, not the colour of its X alone
        prompts = {picker.get_option_at_index(i).value: str(picker.get_option_at_index(i).prompt)
                   for i in range(picker.option_count)}
        assert all(prompts[m].startswith("[ ] ") for m in off)
        assert all(p.startswith("[x] ") for m, p in prompts.items() if m not in off)
        await pilot.press("s")
        await _recomputed(pilot, screen, before, "the tables with 11 measures")
        align = screen.results["alignment"].frame
        assert set(align["measure"]) == expected
        assert screen.query_one("#t-alignment").row_count == len(expected) * 2
        assert "measures 11" in text_of(screen.query_one("#results-settings"))


@sync
async def test_a_run_made_by_the_cli_appears_without_g(tui_ws: Path, tmp_path: Path) -> None:
    """The reported bug: a run made with the CLI appeared only after `g`. It now appears within
    the poll (workers.workspace_signature), selected, and the tables include it."""
    from tests.test_runs_import import make_results

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    results = tmp_path / "toy-c.csv"
    make_results(ws, "coane", seed=99, noise=1.0).to_csv(results, index=False)
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        assert len(screen.results["agreement"].frame) == 2
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "tui.cli.main", "runs", "import", str(results),
                             "--dataset", "coane", "--model-name", "toy-c", "--run-id", "c-toy-c",
                             "--vocab-size", "49152", "-w", str(ws)],
            capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stderr
        await wait_for(pilot, lambda: "c-toy-c" in screen.selected_runs() and _settled(screen)
                       and len(screen.results["agreement"].frame) == 3, 60, "the new run")
        assert set(screen.results["agreement"].frame["model"]) == {"toy-a", "toy-b", "toy-c"}
        assert screen.query_one("#t-agreement").row_count == 3


@sync
async def test_a_run_the_user_left_out_stays_out_when_another_appears(tui_ws: Path,
                                                                       tmp_path: Path) -> None:
    """Listing the runs again keeps the user's picks: only a new run gets its default."""
    from tests.test_runs_import import make_results
    from tests.test_tui_support import cli_main

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        picker = screen.query_one("#results-runs")
        picker.deselect("c-toy-b")
        await wait_for(pilot, lambda: _settled(screen)
                       and len(screen.results["agreement"].frame) == 1, 60, "one run")
        results = tmp_path / "toy-d.csv"
        make_results(ws, "coane", seed=98, noise=1.0).to_csv(results, index=False)
        assert cli_main("runs", "import", results, "--dataset", "coane", "--model-name", "toy-d",
                        "--run-id", "c-toy-d", "--vocab-size", "49152", "-w", ws) == 0
        await wait_for(pilot, lambda: "c-toy-d" in screen.selected_runs() and _settled(screen)
                       and len(screen.results["agreement"].frame) == 2, 60, "the new run")
        assert sorted(screen.selected_runs()) == ["c-toy-a", "c-toy-d"]


# each setting of the registry the seeded runs can show, a value other than its default, and
# what in which table must change (the table before, the table after). Not here: min_subject_n
# (the trivia questions have no subjects), pair / probe / folds / shuffles / reference (no
# base-instruct pair, no activations among the seeded runs).
def _column(table: str, column: str):
    return table, lambda frame: frame[column].tolist() if column in frame else None


CHANGES = [
    ("scale", "normalized", *_column("alignment", "scale")),
    ("variant", "paper", *_column("agreement", "chance")),
    ("measures", ("choice_entropy", "total_entropy"), *_column("alignment", "measure")),
    ("seed", 7, "jsd", None),                       # the null sample (an extra output)
    ("permutations", 200, *_column("jsd", "permutations")),
    ("bins", 4, *_column("ece", "bins")),
    ("cdf", "normal", *_column("ece", "ece")),
    ("adjust", "holm", *_column("alignment", "p_adj")),
    ("bootstrap", 50, *_column("alignment", "boot_low")),
    ("target", "correct_share", *_column("alignment", "target")),
    ("tests", 1, *_column("heatmap", "threshold")),
    ("split", 30, *_column("recalibrate", "n_eval")),
]


def _null_sample(screen):
    return screen.results["jsd"].extra("null")["null"].round(9).tolist()


@sync
async def test_every_setting_changes_its_table(tui_ws: Path) -> None:
    """Each setting changed (as the Models screen, `k` and the dialog change them) recomputes
    the table that takes it; its caption says the new value."""
    app = make_test_app(tui_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        for name, value, table, read in CHANGES:
            assert name in ANALYSES[table].settings, (name, table)
            assert not screen.results[table].error, (table, screen.results[table].error)
            before = read(screen.results[table].frame) if read else _null_sample(screen)
            generation = screen.generation
            if name in ("scale", "variant", "measures"):
                screen.change_settings(**{name: value})
            else:
                screen.change_settings(tables={**app.settings.tables, name: value})
            await _recomputed(pilot, screen, generation, f"the tables with {name} {value}")
            out = screen.results[table]
            assert not out.error, (name, out.error)
            after = read(out.frame) if read else _null_sample(screen)
            assert after != before, (name, value)
            shown = value if not isinstance(value, tuple) else len(value)
            assert out.table.settings[name] == (list(value) if isinstance(value, tuple)
                                                else value)
            caption = text_of(screen.query_one(f"#cap-{table}"))
            if name != "measures":
                assert f"{name.replace('_', ' ')} {shown}" in caption, (name, caption)


@sync
async def test_settings_survive_a_restart(tui_ws: Path, tmp_path: Path) -> None:
    """Variant, measures, scale and the tables' settings are written (atomically) to the
    workspace's console-settings.json and read back by the next console."""
    from tui.settings import SAVED_FILE, Settings

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws, remember=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        await pilot.press("c")                         # scale: normalized
        screen.change_settings(variant="paper", measures=("choice_entropy",),
                               tables={"bins": 5, "seed": 3})
        await pilot.pause(0.2)
    saved = json.loads((ws / SAVED_FILE).read_text())
    assert saved == {"variant": "paper", "scale": "normalized", "measures": ["choice_entropy"],
                     "tables": {"bins": 5, "seed": 3}, "exclusions": {}}
    assert not [p.name for p in ws.iterdir() if p.name.startswith(f".{SAVED_FILE}")]  # no temp
    again = Settings.build(ws)
    assert (again.variant, again.scale, again.measures, dict(again.tables)) == (
        "paper", "normalized", ("choice_entropy",), {"bins": 5, "seed": 3})
    assert Settings.build(ws, variant="corrected").variant == "corrected"   # --variant wins
    app = make_test_app(ws, remember=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        out = _res(app).results["ece"]
        assert set(out.frame["bins"]) == {5} and out.table.settings["scale"] == "normalized"


def test_a_broken_settings_file_is_left_aside(tmp_path: Path) -> None:
    """A value no longer valid (or a file that is not JSON) does not stop the console."""
    from tui.settings import SAVED_FILE, Settings

    ws = tmp_path / "ws"
    (ws / "runs").mkdir(parents=True)
    (ws / SAVED_FILE).write_text(json.dumps({"variant": "nonsense", "scale": "paper",
                                             "tables": {"bins": 0}}))
    built = Settings.build(ws)
    assert (built.variant, built.scale, dict(built.tables)) == ("corrected", "paper", {})
    (ws / SAVED_FILE).write_text("{not json")
    assert Settings.build(ws).scale == "raw"


@sync
async def test_the_decisive_columns_fit_80_columns(tui_ws: Path) -> None:
    """At 80x24 r, partial r, ECE, the JSD shift and p are on screen (model and measure cut in
    the middle); enter on a row shows every column, those left out included."""
    app = make_test_app(tui_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        room = screen.query_one("#results-main").size.width
        for table, decisive in (("alignment", {"r", "partial_r"}), ("ece", {"ece"}),
                                ("jsd", {"shift", "p"})):
            shown = screen.query_one(f"#t-{table}")
            keys = [str(k.value) for k in shown.columns]
            assert decisive <= set(keys), (table, keys)
            assert sum(c.get_render_width(shown) for c in shown.columns.values()) <= room, table
        align = screen.query_one("#t-alignment")
        assert "spearman_rho" not in [str(k.value) for k in align.columns]
        align.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RowDetail", 5, "the row")
        detail = text_of(app.screen.query_one("#row-detail"))
        first = screen.results["alignment"].frame.iloc[0]
        assert f"spearman_rho  {first['spearman_rho']:.3f}" in detail
        assert f"model         {first['model']}" in detail
        await pilot.press("escape")
        await pilot.press("4")                     # calibration: the legend whole
        await pilot.pause(0.3)
        assert "negative = calibrated" in text_of(screen.query_one("#calib-measure"))
        assert "positive = wrong way" in text_of(screen.query_one("#calib-measure"))


@sync
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_long_not_available_message_is_not_cut(tui_ws: Path, size) -> None:
    app = make_test_app(tui_ws)
    async with app.run_test(size=size) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        error = screen.results["pairs"].error
        assert len(error) > 60
        probe = screen.query_one("#t-pairs")
        cells = [str(probe.get_cell_at((row, 0))) for row in range(probe.row_count)]
        assert " ".join(cells) == " ".join(error.split())
        # and the column is as wide as its longest line, so the terminal shows all of it
        (column,) = probe.columns.values()
        assert column.get_render_width(probe) - 2 * probe.cell_padding >= max(map(len, cells))


async def _export(pilot, app, tab: str, entry: str, typed: str = "") -> list[Path]:
    """Open `e` on tab ``tab``, type ``typed`` as the path, pick the entry ``entry``."""
    from textual.widgets import Input, OptionList

    screen = _res(app)
    await pilot.press(str(list(ANALYSES).index(tab) + 1))
    await pilot.pause(0.3)
    app.last_export = []
    await pilot.press("e")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportDialog", 5, "dialog")
    dialog = app.screen
    dialog.query_one("#export-path", Input).value = typed
    options = dialog.query_one("#formats", OptionList)
    ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
    options.highlighted = ids.index(entry)
    options.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.last_export or app.failures, 120, "the export")
    assert app.screen is screen
    return [Path(p) for p in app.last_export]


@sync
async def test_export_the_plot_data_and_figure_to_a_chosen_path(tui_ws: Path,
                                                                 tmp_path: Path) -> None:
    """The export dialog writes the reliability bins and the null sample behind the plots (as
    the CLI's --bins-out / --null-out), the figure (`f`), to a typed path or a new name; an
    existing file is refused, never overwritten."""
    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await _computed(pilot, app)
        screen = _res(app)
        path, side = await _export(pilot, app, "ece", "extra:bins", "my-bins")
        assert path == ws / "exports" / "my-bins.csv"
        bins = pd.read_csv(path)
        shown = screen.results["ece"].extra("bins")
        assert len(bins) == len(shown) and list(bins.columns) == list(shown.columns)
        assert bins["count"].sum() == shown["count"].sum()
        assert json.loads(side.read_text())["table"] == "ece-bins"
        target = tmp_path / "null.csv"
        path, side = await _export(pilot, app, "jsd", "extra:null", str(target))
        assert path == target
        null = pd.read_csv(path)
        first = screen.results["jsd"].frame.iloc[0]
        rows = null[(null["model"] == first["model"]) & (null["measure"] == first["measure"])]
        assert len(rows) == int(first["permutations"])
        # the p of the table from the exported null sample, written out: (1 + #{null >= obs})
        # / (1 + permutations), as the permutation test defines it
        expected = (1 + (rows["null"] >= float(first["shift"]) - 1e-12).sum()) / (1 + len(rows))
        assert float(first["p"]) == pytest.approx(expected, abs=1e-9)
        paths = await _export(pilot, app, "jsd", "figure", str(tmp_path / "perm.svg"))
        assert paths == [tmp_path / "perm.svg", tmp_path / "perm.svg.provenance.json"]
        assert (tmp_path / "perm.svg").read_text().lstrip().startswith("<?xml")
        before = target.read_bytes()
        assert await _export(pilot, app, "jsd", "extra:null", str(target)) == []
        assert "exists already" in app.failures[-1].message and target.read_bytes() == before
        path, _ = await _export(pilot, app, "alignment", "md")
        assert path.parent == ws / "exports" and path.suffix == ".md"
