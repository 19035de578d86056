# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""The Runs section: attaching to a run through its events files, progress messages that coalesce,
a UI that stays responsive while progress streams, and (slow) a real engine: queue, cancel, resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.test_tui_support import make_test_app, sync, tui_ws, wait_for  # noqa: F401


def _runs(app):
    return app.section("runs")


def _detached_run(ws: Path, run_id: str = "detached-1") -> Path:
    """A run folder as a detached writer (Slurm, another console) leaves it: manifest, a held
    store lock, events appended as it goes."""
    from engine.store import write_manifest

    run_dir = ws / "runs" / run_id
    write_manifest(run_dir, {"run_id": run_id, "dataset": "coane", "variant": "corrected",
                             "model": {"name": "far-away-model"}, "n_total": 100, "n_done": 0,
                             "status": "running"})
    return run_dir


@sync
async def test_an_empty_queue_says_which_runs_the_workspace_holds(tmp_path: Path, tui_ws: Path) -> None:
    import shutil

    from textual.widgets import Log

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    _detached_run(ws, "old-run")  # no writer holds it and nothing is stored: incomplete
    app = make_test_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        log = _runs(app).query_one("#job-log", Log)
        await wait_for(pilot, lambda: any("in this workspace" in line for line in log.lines), 30,
                       "the note on existing runs")
        note = next(line for line in log.lines if "in this workspace" in line)
        from datasets_io.workspace import Workspace
        from engine.runs import list_runs

        statuses = [r.status for r in list_runs(Workspace(ws), slurm=False)]
        assert "old-run" in {p.name for p in (ws / "runs").iterdir()}
        assert note.startswith(f"{len(statuses)} run(s) in this workspace (")
        assert f"{statuses.count('incomplete')} incomplete" in note


@sync
async def test_attach_follows_a_detached_run_through_its_events(tmp_path: Path, tui_ws: Path) -> None:
    import shutil

    from engine.events import FinishedEvent, LogEvent, Progress, ProgressEvent, append_event
    from engine.run_spec import RunSummary
    from engine.store import ResultRow, ResultStore

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    run_dir = _detached_run(ws)
    store = ResultStore(run_dir / "results" / "main.sqlite", "detached-1")  # holds the lock
    stop = threading.Event()

    def writer() -> None:
        done = 0
        while not stop.is_set() and done < 60:
            done += 10
            append_event(run_dir, ProgressEvent(Progress("detached-1", done, 100, 25.0,
                                                         (100 - done) / 25)))
            append_event(run_dir, LogEvent("info", f"batch to {done}"))
            time.sleep(0.2)

    app = make_test_app(ws)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("r")
            await pilot.pause()
            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            await pilot.press("a")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "AttachDialog", 30, "dialog")
            runs = app.screen.runs
            index = [r["run_id"] for r in runs].index("detached-1")
            app.screen.query_one("#runs-list").highlighted = index
            await pilot.press("enter")
            screen = _runs(app)
            await wait_for(pilot, lambda: any(j.attached and j.done >= 60 for j in
                                              screen.jobs.values()), 30, "progress from the events")
            job = next(j for j in screen.jobs.values() if j.attached)
            assert job.total == 100 and job.rate == 25.0 and job.status == "attached"
            jobs = screen.query_one("#jobs")
            assert jobs.coordinate_to_cell_key(jobs.cursor_coordinate).row_key.value == job.id
            assert any("batch to" in line for line in job.log)
            thread.join()
            store.add([ResultRow(f"q{i}", 0, [1.0, 0.0], 1.0, {}) for i in range(100)])
            append_event(run_dir, FinishedEvent(RunSummary("detached-1", str(run_dir), 100, 100,
                                                           100, 4.0, "cpu")))
            store.close()  # the writer is gone: the run is over
            await wait_for(pilot, lambda: job.status == "done", 30, "the end of the run")
    finally:
        stop.set()
        store.close()


@sync
async def test_progress_messages_coalesce(tui_ws: Path) -> None:
    """A burst of progress for one job reaches the handler fewer times; the last value wins."""
    from engine.events import Progress
    from tui.messages import RunProgress
    from tui.screens.runs import Job

    app = make_test_app(tui_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        screen = _runs(app)
        screen._add_job(Job("j9", "m", "m", "coane", status="running"))
        before = screen.progress_handled
        for i in range(1, 501):
            screen.post_message(RunProgress("j9", Progress("r", i, 500, 10.0, 1.0)))
        await wait_for(pilot, lambda: screen.jobs["j9"].done == 500, 10, "the last progress")
        await pilot.pause(0.2)
        handled = screen.progress_handled - before
        assert screen.jobs["j9"].done == 500
        assert handled < 100, f"{handled} of 500 queued progress messages were handled"


@sync
async def test_ui_stays_responsive_while_progress_streams(tui_ws: Path) -> None:
    """An engine-like thread posts 1,000 progress and log messages a second for 3 s. The screen's
    own work per repaint stays far under 100 ms, and 99% of the event loop's 10 ms ticks come
    within 100 ms (the worst single gap is printed: on a loaded shared machine the scheduler,
    not the console, decides it)."""
    from engine.events import Progress
    from tui.messages import RunLog, RunProgress
    from tui.screens.runs import Job

    app = make_test_app(tui_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        screen = _runs(app)
        screen._add_job(Job("j1", "model", "model", "coane", status="running"))
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = app.set_interval(0.01, tick)
        stop = time.perf_counter() + 3.0

        def engine() -> None:
            i = 0
            while time.perf_counter() < stop:
                i += 1
                screen.post_message(RunProgress("j1", Progress("r", i, 10**6, 1000.0, 999.0)))
                if i % 10 == 0:
                    screen.post_message(RunLog("j1", [f"batch {i}"]))
                time.sleep(0.001)

        thread = threading.Thread(target=engine, daemon=True)
        thread.start()
        while thread.is_alive():
            await pilot.pause(0.05)
        timer.stop()
        await pilot.pause()
        assert screen.jobs["j1"].done > 500
        ticks = sorted(gaps[5:])
        p99 = ticks[int(len(ticks) * 0.99)]
        print(f"timer gaps: n={len(ticks)} p99={p99 * 1000:.0f} ms worst={ticks[-1] * 1000:.0f} ms;"
              f" longest repaint {screen.max_paint_s * 1000:.0f} ms")
        assert screen.max_paint_s < 0.1
        assert p99 < 0.1, f"1% of the UI's ticks came more than {p99 * 1000:.0f} ms late"


@pytest.mark.slow
@sync
async def test_real_engine_queue_cancel_and_resume(tmp_path: Path, data_dir: Path,
                                                    tiny_llama_dir: Path) -> None:
    """A real engine child on a tiny model: a job runs, is cancelled midway, resumes, finishes."""
    from tests.test_tui_support import cli_main

    ws = tmp_path / "ws"
    assert cli_main("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane",
                    "-w", ws) == 0
    app = make_test_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        screen = _runs(app)
        (job,) = screen.queue_jobs([("tiny", str(tiny_llama_dir))], ["coane"], limit=400)
        await wait_for(pilot, lambda: job.status == "running" and job.done > 0, 300, "running")
        await pilot.press("c")
        await wait_for(pilot, lambda: job.status == "cancelled", 120, "the cancellation")
        assert 0 < job.done < 400
        stopped_at = job.done
        await pilot.press("u")
        await wait_for(pilot, lambda: job.status == "done", 300, "the resumed run")
        assert job.done == job.total == 400
        assert any("resumed" in line for line in job.log)
        assert stopped_at <= job.done


@sync
async def test_delete_a_run_from_the_attach_list_but_never_a_running_one(tmp_path: Path,
                                                                        tui_ws: Path) -> None:
    import shutil

    from engine.store import ResultStore

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    live = _detached_run(ws, "live-run")
    store = ResultStore(live / "results" / "main.sqlite", "live-run")  # holds the lock: running
    app = make_test_app(ws)

    async def delete(run_id: str) -> None:
        await pilot.press("a")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AttachDialog", 30, "the list")
        index = [r["run_id"] for r in app.screen.runs].index(run_id)
        app.screen.query_one("#runs-list").highlighted = index
        await pilot.press("delete")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm", 10, "the question")
        await pilot.press("y")

    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("r")
            await delete("c-toy-a")
            await wait_for(pilot, lambda: not (ws / "runs" / "c-toy-a").exists(), 30, "the delete")
            assert sorted(p.name for p in (ws / "runs").iterdir()) == ["c-toy-b", "live-run"]
            await delete("live-run")
            await wait_for(pilot, lambda: any("is running" in f.message for f in app.failures), 30,
                           "the refusal")
            assert live.is_dir() and not _runs(app).jobs  # nothing attached either
    finally:
        store.close()


@sync
async def test_export_a_run_from_the_attach_list_as_the_cli_does(cli, tmp_path: Path,
                                                                 tui_ws: Path) -> None:
    """`x` in the runs list: `alignuq export run` (engine.lab.run_export) into the workspace's
    exports folder, from a console worker; the same bytes as the command's CSV."""
    import json
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(tui_ws, ws)
    app = make_test_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await pilot.press("a")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AttachDialog", 30, "the list")
        index = [r["run_id"] for r in app.screen.runs].index("c-toy-b")
        app.screen.query_one("#runs-list").highlighted = index
        await pilot.press("x")
        await wait_for(pilot, lambda: list((ws / "exports").glob("run-c-toy-b-*.json")), 30,
                       "the export and its sidecar")
        assert not _runs(app).jobs  # exporting attaches nothing
    [table] = (ws / "exports").glob("run-c-toy-b-*.csv")
    provenance = json.loads(table.with_name(table.name + ".provenance.json").read_text())
    assert (provenance["run_id"], provenance["rows"], provenance["command"]) == (
        "c-toy-b", 421, "alignuq tui")
    by_cli = tmp_path / "by-cli.csv"
    assert cli("export", "run", "c-toy-b", "--out", by_cli, "-w", ws).code == 0
    assert table.read_bytes() == by_cli.read_bytes()
