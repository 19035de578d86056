# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""End to end with a REAL engine child process and the real small model (SmolLM2-135M): import the
Roper sample in the wizard -> queue a run of 8 questions under the successor's protocol -> the alignment table is shown -> export
it -> the CSV exists and parses. The same path is driven in tmux by scripts/tui_tmux_e2e.sh
(tests/test_tui_tmux.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.test_tui_support import ROPER_SAMPLE, make_test_app, sync, wait_for


@pytest.mark.slow
@sync
async def test_import_run_alignment_export(ws_dir: Path, data_dir: Path, smollm_dir: Path) -> None:
    app = make_test_app(ws_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        # 1. import the Roper sample through the wizard
        await pilot.press("i")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 10, "wizard")
        wizard = app.screen
        await pilot.press(*str(data_dir / ROPER_SAMPLE), "enter")
        await wait_for(pilot, lambda: wizard.query_one("#format").value == "roper", 10, "detect")
        wizard.query_one("#name").value = "roper"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.parsed is not None and wizard.step == 1, 30, "parse")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview is not None, 30, "the refusal counts")
        await pilot.press("ctrl+n", "ctrl+w")
        datasets = app.section("datasets")
        await wait_for(pilot, lambda: datasets.current == "roper" and datasets.frame is not None,
                       30, "the imported dataset")
        # 2. queue one job: the small model on the first 8 questions
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "NewJobsDialog", 180, "dialog")
        dialog = app.screen
        dialog.query_one("#pick-models").deselect_all()
        dialog.query_one("#model-ref").value = str(smollm_dir)
        dialog.query_one("#limit").value = "8"
        dialog.query_one("#protocol").value = "successor"     # the successor's (tmux: default)
        assert dialog.query_one("#pick-datasets").selected == ["roper"]
        await pilot.press("ctrl+s")
        runs = app.section("runs")
        await wait_for(pilot, lambda: runs.jobs and all(j.status in ("done", "failed")
                                                        for j in runs.jobs.values()), 600, "the run")
        (job,) = runs.jobs.values()
        assert job.status == "done", job.log[-5:]
        assert job.done == job.total == 6  # 8 asked; the sample keeps 6 after the rules
        assert any("engine ready" in line for line in job.log)
        assert "-successor-" in job.run_id
        assert json.loads((Path(job.run_dir) / "manifest.json").read_text())["protocol"] == \
            "successor"
        # 3. the alignment table
        await pilot.press("s")
        results = app.section("results")
        await wait_for(pilot, lambda: "alignment" in results.results, 120, "the alignment table")
        out = results.results["alignment"]
        assert not out.error, out
        table = results.query_one("#t-alignment")
        assert table.row_count == len(out.frame) > 0
        assert set(out.frame["n"]) == {6}
        # 4. export it: the CSV and its provenance sidecar
        await pilot.press("1")  # the alignment tab, table focused
        await pilot.press("e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportDialog", 10, "export")
        await pilot.press("c")
        await wait_for(pilot, lambda: app.last_export, 30, "the export")
    csv_path, side = map(Path, app.last_export)
    assert csv_path.parent == ws_dir / "exports" and csv_path.suffix == ".csv"
    frame = pd.read_csv(csv_path)
    assert len(frame) == len(out.frame)
    assert {"model", "measure", "r", "p", "partial_r"} <= set(frame.columns)
    meta = json.loads(side.read_text())
    assert meta["dataset"]["name"] == "roper" and len(meta["runs"]) == 1
