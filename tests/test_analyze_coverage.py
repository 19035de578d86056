"""Which runs `alignuq analyze` lets into a table (engine/analysis/coverage.py), on real parts:
real MMLU questions run by a real (tiny, randomly initialised) Llama with the real runner, one run
finished, one made with --limit, one cancelled part way; and the Coane & Umanath questions with
an imported run, copied into a workspace whose import of the same file used another shuffle seed
(a stale run: its letters name other options there)."""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from common.errors import CANCELLED, AlignuqError
from engine.lab.analyses import ANALYSES
from tests.engine_helpers import finished_run, mmlu_dataset
from tests.test_runs_import import make_results

N = 24


@pytest.fixture(scope="module")
def mmlu_ws(tmp_path_factory: pytest.TempPathFactory, data_dir: Path,
            tiny_llama_dir: Path) -> dict:
    """24 real MMLU questions; a finished run, a --limit 10 run and a cancelled run of them (the
    seed only tells the three runs apart: it is part of the run id)."""
    from engine.events import ProgressEvent, RunEvent
    from engine.run_spec import RunSpec
    from engine.runner import execute_run

    root = tmp_path_factory.mktemp("coverage") / "ws"
    mmlu_dataset(root, data_dir, name="mmlu-small", n=N)
    done = finished_run(root, "mmlu-small", tiny_llama_dir)
    limited = finished_run(root, "mmlu-small", tiny_llama_dir, limit=10, seed=1)
    cancel = threading.Event()

    def on_event(e: RunEvent) -> None:
        if isinstance(e, ProgressEvent) and e.progress.phase == "running" and e.progress.done >= 1:
            cancel.set()

    spec = RunSpec(workspace=str(root), dataset="mmlu-small", model=str(tiny_llama_dir), seed=2,
                   batch_tokens=1)
    with pytest.raises(AlignuqError) as err:
        execute_run(spec, on_event=on_event, cancel=cancel)
    assert err.value.code == CANCELLED
    partial = next(p for p in (root / "runs").iterdir() if p.name not in (done.name, limited.name))
    from engine.store import read_results
    return {"root": root, "done": done.name, "limited": limited.name, "partial": partial.name,
            "n_partial": len(read_results(partial))}


def _provenance(cli, root: Path, out: Path, *args: str) -> dict:
    res = cli("analyze", "calibration", "-d", "mmlu-small", "--out", out, *args, "-w", root)
    assert res.code == 0, res.err
    return json.loads(Path(str(out) + ".provenance.json").read_text())


def test_a_partial_run_is_refused_in_one_line_with_its_counts(cli, mmlu_ws: dict) -> None:
    k = mmlu_ws["n_partial"]
    assert 1 <= k < N
    for args in ((), ("--runs", f"{mmlu_ws['done']},{mmlu_ws['partial']}")):
        res = cli("analyze", "calibration", "-d", "mmlu-small", *args, "-w", mmlu_ws["root"])
        assert res.code == 2 and "Traceback" not in res.err
        assert len(res.err.strip().splitlines()) == 1
        assert f"run(s) {mmlu_ws['partial']} ({k}/{N} questions, incomplete) are partial" in res.err
        assert "not a random sample" in res.err and "--allow-partial" in res.err
        assert "`alignuq run ...` command resumes a run" in res.err


def test_allow_partial_says_n_done_of_n_total_in_the_notes_and_the_provenance(
        cli, mmlu_ws: dict, tmp_path: Path) -> None:
    k, partial = mmlu_ws["n_partial"], mmlu_ws["partial"]
    res = cli("analyze", "calibration", "-d", "mmlu-small", "--allow-partial", "--runs", partial,
              "-f", "csv", "-w", mmlu_ws["root"])
    assert res.code == 0, res.err
    assert (f"note: run {partial} is partial: {k}/{N} questions (incomplete); the runner does the "
            "longest prompts first, so a partial run over-represents questions with many "
            "options: not a random sample") in res.err
    table = pd.read_csv(io.StringIO(res.out))
    assert table.loc[table["subject"] == "ALL", "n"].tolist() == [k] * len(table["measure"].unique())
    side = _provenance(cli, mmlu_ws["root"], tmp_path / "calib.csv", "--allow-partial")
    assert side["settings"]["allow_partial"] is True
    cov = {r["run_id"]: r["coverage"] for r in side["runs"]}
    assert cov[partial] == {"run_id": partial, "status": "incomplete", "n_done": k, "n_total": N,
                            "stale": False, "n_answered": k, "n_dataset": N, "partial": True,
                            "subset": False}
    assert cov[mmlu_ws["done"]]["partial"] is False and cov[mmlu_ws["done"]]["n_done"] == N
    assert any(f"run {partial} is partial: {k}/{N}" in note for note in side["notes"])


def test_a_limit_run_is_a_subset_it_enters_with_a_note(cli, mmlu_ws: dict, tmp_path: Path) -> None:
    """Decision: a --limit run is done (it did what it was asked), so no flag is needed; but the
    table covers only the dataset's first N questions, which the notes and provenance say."""
    limited = mmlu_ws["limited"]
    side = _provenance(cli, mmlu_ws["root"], tmp_path / "calib.csv", "--runs",
                       f"{mmlu_ws['done']},{limited}")
    cov = {r["run_id"]: r["coverage"] for r in side["runs"]}
    assert cov[limited]["status"] == "done" and (cov[limited]["n_done"], cov[limited]["n_total"]) == (10, 10)
    assert cov[limited]["subset"] is True and cov[limited]["partial"] is False
    assert (cov[limited]["n_answered"], cov[limited]["n_dataset"]) == (10, N)
    assert cov[mmlu_ws["done"]]["subset"] is False
    assert [n for n in side["notes"] if "answered" in n] == [
        f"run {limited} answered 10 of the {N} questions of dataset mmlu-small (a --limit N run "
        "holds the first N in dataset order: not a random sample); its rows describe those "
        "questions only"]


def test_a_finished_run_alone_has_no_coverage_note(cli, mmlu_ws: dict) -> None:
    res = cli("analyze", "calibration", "-d", "mmlu-small", "--runs", mmlu_ws["done"], "-f", "csv",
              "-w", mmlu_ws["root"])
    assert res.code == 0, res.err
    assert "partial" not in res.err and "answered" not in res.err


def _coane(cli, root: Path, data_dir: Path, *args: str) -> None:
    assert cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane", *args,
               "-w", root).code == 0


def _stale_run(cli, tmp_path: Path, data_dir: Path) -> Path:
    """A workspace holding a run of coane made on another import of it: the run was made in a
    workspace that imported the file with the default seed, then copied into one that imported it
    with seed 7 (another option order)."""
    there, here = tmp_path / "there", tmp_path / "here"
    _coane(cli, there, data_dir)
    results = tmp_path / "toy.csv"
    make_results(there, "coane", seed=10, noise=0.5).to_csv(results, index=False)
    res = cli("runs", "import", results, "--dataset", "coane", "--model-name", "toy",
              "--run-id", "c-toy", "--vocab-size", "49152", "-w", there)
    assert res.code == 0, res.err
    assert cli("analyze", "agreement", "-d", "coane", "-w", there).code == 0
    _coane(cli, here, data_dir, "--seed", "7")
    shutil.copytree(there / "runs" / "c-toy", here / "runs" / "c-toy")
    return here


def test_a_run_of_another_import_is_refused(cli, tmp_path: Path, data_dir: Path) -> None:
    root = _stale_run(cli, tmp_path, data_dir)
    for table in ("agreement", "calibration"):
        for args in ((), ("--runs", "c-toy"), ("--allow-partial",)):
            res = cli("analyze", table, "-d", "coane", *args, "-w", root)
            assert res.code == 2 and "Traceback" not in res.err
            assert len(res.err.strip().splitlines()) == 1
            assert ("run(s) c-toy were made on another import of dataset 'coane' (its import "
                    "report differs)") in res.err
            assert "re-run (or re-import) them" in res.err and "--runs" in res.err


def test_the_results_screen_leaves_stale_and_partial_runs_out(mmlu_ws: dict, tmp_path: Path) -> None:
    from tests.test_tui_support import make_test_app, sync, wait_for

    root = tmp_path / "ws"
    shutil.copytree(mmlu_ws["root"], root)
    done, limited, partial = mmlu_ws["done"], mmlu_ws["limited"], mmlu_ws["partial"]
    k = mmlu_ws["n_partial"]

    @sync
    async def check() -> None:
        app = make_test_app(root)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            screen = app.section("results")
            await wait_for(pilot, lambda: len(screen.results) == len(ANALYSES), 120, "every table")
            assert sorted(screen.selected_runs()) == sorted([done, limited])
            assert f"partial, {k}/{N} questions, incomplete: p lets partial runs in" in screen.left_out
            calib = screen.results["calibration"]
            assert not calib.error
            assert any(f"run {limited} answered 10 of the {N}" in n for n in calib.notes)
            assert "partial runs left out (p)" in str(screen.query_one("#results-settings").render())
            # p lets the partial run in: selected, counted in the notes and the provenance
            await pilot.press("p")
            await wait_for(pilot, lambda: partial in screen.selected_runs()
                           and "calibration" in screen.results
                           and any("is partial" in n for n in screen.results["calibration"].notes),
                           120, "the tables with the partial run")
            assert screen.left_out == ""
            prov = screen.results["calibration"].provenance[None]
            assert prov["settings"]["allow_partial"] is True
            cov = {r["run_id"]: r["coverage"] for r in prov["runs"]}
            assert (cov[partial]["n_done"], cov[partial]["n_total"]) == (k, N)
            # p again: left out, and selecting it by hand gives the CLI's refusal, once
            await pilot.press("p")
            await wait_for(pilot, lambda: partial not in screen.selected_runs(), 60, "left out")
            screen.query_one("#results-runs").select(partial)
            await wait_for(pilot, lambda: "calibration" in screen.results
                           and screen.results["calibration"].error, 60,
                           "the refusal")
            error = screen.results["calibration"].error
            assert f"run(s) {partial} ({k}/{N} questions, incomplete) are partial" in error
            notes = str(screen.query_one("#results-notes").render())
            assert notes.count("are partial") == 1

    check()


def test_the_results_screen_says_a_run_is_stale(cli, tmp_path: Path, data_dir: Path) -> None:
    from tests.test_tui_support import make_test_app, sync, wait_for

    root = _stale_run(cli, tmp_path, data_dir)

    @sync
    async def check() -> None:
        app = make_test_app(root)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            screen = app.section("results")
            await wait_for(pilot, lambda: screen.dataset == "coane", 60, "the dataset")
            await pilot.pause(0.3)
            assert screen.selected_runs() == []
            assert screen.left_out == ("left out: toy (made on another import of the dataset: "
                                       "re-run it)")
            screen.query_one("#results-runs").select("c-toy")
            await wait_for(pilot, lambda: "kendall" in screen.results
                           and screen.results["kendall"].error, 60,
                           "the refusal")
            assert "made on another import of dataset 'coane'" in screen.results["kendall"].error

    check()
