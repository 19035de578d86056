"""End to end on a real single-node Slurm (started by the session fixture when root, else skipped):
the console submits a 2-shard job array of the real SmolLM2-135M over real trivia questions, and
the merged results equal a single-process run; a shard killed with SIGKILL and a shard requeued
(preemption) are detected and resumed without losing or doubling a question; cancel works;
`alignuq runs watch` and the console's attach show the same progress, merged over the shards.

Small resources on purpose (1 CPU per shard, 2 GB): two shards run at once on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from common.errors import BadInput
from engine import slurm
from engine.run_spec import RunSpec
from engine.store import read_results, store_files
from tests.engine_helpers import REPO, engine_env
from tests.slurm_fixture import assert_same_results, make_trivia_dataset
from tests.slurm_fixture import slurm_cluster as slurm_cluster  # the session fixture

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
N_QUESTIONS = 40
N_FAULTS = 20       # the first 20 of the same questions: their numbers are the reference's
DEADLINE_S = 300


@pytest.fixture(scope="module")
def trivia(tmp_path_factory, data_dir, smollm_dir):
    """(workspace factory, reference frame): a single-process run of the same questions."""
    from engine.runner import execute_run

    def new_ws(tag: str, n: int = N_QUESTIONS) -> Path:
        ws = tmp_path_factory.mktemp(tag)
        make_trivia_dataset(ws, data_dir, n)
        return ws

    ref = execute_run(RunSpec(workspace=str(new_ws("reference")), dataset="trivia",
                              model=str(smollm_dir)), lambda e: None, threading.Event())
    assert ref.n_done == N_QUESTIONS
    return new_ws, read_results(Path(ref.run_dir)), ref.run_id


def _options(cluster, **kw) -> slurm.SlurmOptions:
    return slurm.SlurmOptions(partition=cluster.partition, shards=2, time="00:15",
                              cpus_per_task=1, mem_gb=2, **kw)


def _store_rows(run_dir: Path) -> tuple[int, int]:
    total, ids = 0, set()
    for path in store_files(run_dir):
        conn = sqlite3.connect(path)
        try:
            rows = [r[0] for r in conn.execute("SELECT question_id FROM results")]
        finally:
            conn.close()
        total += len(rows)
        ids |= set(rows)
    return total, len(ids)


def test_two_shards_through_the_console_equal_a_single_process_run(slurm_cluster, trivia, cli,
                                                                   smollm_dir):
    new_ws, reference, ref_id = trivia
    ws = new_ws("two-shards")
    res = cli("run", "--slurm", "--shards", "2", "--partition", slurm_cluster.partition,
              "--time", "00:15", "--dataset", "trivia", "--model", smollm_dir,
              "--workspace", ws, "--format", "json")
    assert res.code == 0, res.err
    submitted = json.loads(res.out)
    assert submitted["run_id"] == ref_id and len(submitted["job_ids"]) == 2
    run_dir = Path(submitted["run_dir"])

    t0 = time.monotonic()
    states = slurm.wait_run(run_dir, timeout_s=DEADLINE_S, poll_s=2)
    assert [s["state"] for s in states] == ["done", "done"], states
    assert time.monotonic() - t0 < DEADLINE_S

    # layout: slurm.json, one store and one events file per shard, submitit's logs
    info = json.loads((run_dir / slurm.SLURM_FILE).read_text())
    (sub,) = info["submissions"]
    assert [s["writer"] for s in sub["shards"]] == ["shard-0000", "shard-0001"]
    assert sum(s["n_total"] for s in sub["shards"]) == N_QUESTIONS
    assert sorted(p.name for p in store_files(run_dir)) == ["shard-0000.sqlite",
                                                            "shard-0001.sqlite"]
    for writer in ("shard-0000", "shard-0001"):
        events = [json.loads(line) for line in
                  (run_dir / f"events-{writer}.jsonl").read_text().splitlines()]
        assert events[-1]["type"] == "finished" and events[-1]["n_done"] == N_QUESTIONS // 2
    # the two shards ran at the same time on the 2-core node
    starts, ends = [], []
    for writer in ("shard-0000", "shard-0001"):
        events = [json.loads(line) for line in
                  (run_dir / f"events-{writer}.jsonl").read_text().splitlines()]
        starts.append(events[0]["time"])
        ends.append(events[-1]["time"])
    assert max(starts) < min(ends), "the shards did not overlap"

    assert _store_rows(run_dir) == (N_QUESTIONS, N_QUESTIONS)
    assert_same_results(read_results(run_dir), reference)

    shown = cli("runs", "show", submitted["run_id"], "--workspace", ws, "--format", "json")
    assert shown.code == 0, shown.err
    shards = json.loads(shown.out)["shards"]
    assert [(s["state"], s["n_done"]) for s in shards] == [("done", 20), ("done", 20)]


def _writer_rows(run_dir: Path, writer: str) -> int:
    path = run_dir / "results" / f"{writer}.sqlite"
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # created, table not there yet
        return 0
    finally:
        conn.close()


def _lock_pid(run_dir: Path, writer: str) -> int | None:
    try:
        text = (run_dir / "results" / f"{writer}.sqlite.lock").read_text()
        return int(text.split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_killed_and_requeued_shards_resume_without_loss(slurm_cluster, trivia, smollm_dir):
    """Shard 0's process gets SIGKILL: reported failed (with Slurm's word) within the deadline,
    then resubmitting the run finishes only what is missing. Shard 1 is requeued mid-run (what
    preemption does): it resumes from its store by itself."""
    new_ws, reference, _ = trivia
    ws = new_ws("faults", N_FAULTS)
    reference = reference[reference["question_id"].isin(
        [f"coane-{i:03d}" for i in range(1, N_FAULTS + 1)])]
    # one question per batch: slow enough to act mid-run
    spec = RunSpec(workspace=str(ws), dataset="trivia", model=str(smollm_dir), batch_tokens=64)
    submitted = slurm.submit_run(spec, _options(slurm_cluster))
    run_dir = Path(submitted["run_dir"])
    job0, job1 = submitted["job_ids"]

    # Act on the stores directly (cheap to poll), never blocking between the two actions: a
    # shard does its 10 questions in a few seconds once its model is loaded.
    killed_at = requeued = None
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and (killed_at is None or requeued is None):
        if killed_at is None and _writer_rows(run_dir, "shard-0000") >= 1:
            pid = _lock_pid(run_dir, "shard-0000")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
        if requeued is None and _writer_rows(run_dir, "shard-0001") >= 1:
            subprocess.run(["scontrol", "requeue", job1], check=True, timeout=30)
            requeued = _writer_rows(run_dir, "shard-0001")
        time.sleep(0.05)
    assert killed_at is not None and requeued is not None, "the shards finished too fast to act"
    _release_requeued(job1)

    states = slurm.wait_run(run_dir, timeout_s=DEADLINE_S, poll_s=1)
    assert slurm.all_final(states), states
    dead, requeued_shard = states
    assert dead["state"] == "failed" and "Killed" in dead["reason"], dead
    assert "submit the run again" in dead["reason"]
    assert 0 < dead["n_done"] < dead["n_total"]
    assert requeued_shard["state"] == "done", requeued_shard
    # the requeued shard ran twice and its second run only did what was missing
    events = [json.loads(line) for line in
              (run_dir / "events-shard-0001.jsonl").read_text().splitlines()]
    finished = [e for e in events if e["type"] == "finished"]
    assert len(finished) == 1 and finished[0]["n_new"] < finished[0]["n_total"]
    assert finished[0]["n_done"] == finished[0]["n_total"]

    # a second submission of the same run does only the missing questions, in new shards
    missing = N_FAULTS - _store_rows(run_dir)[1]
    again = slurm.submit_run(replace_batch(spec), _options(slurm_cluster))
    assert again["run_id"] == submitted["run_id"] and again["n_remaining"] == missing
    writers = [s["writer"] for s in again["shards"]]
    assert writers == ["shard-0002", "shard-0003"][:len(writers)]
    states = slurm.wait_run(run_dir, timeout_s=DEADLINE_S, poll_s=1)
    assert all(s["state"] == "done" for s in states), states
    assert _store_rows(run_dir) == (N_FAULTS, N_FAULTS)   # nothing lost, nothing doubled
    assert_same_results(read_results(run_dir), reference)
    # nothing left: a third submission submits nothing
    assert slurm.submit_run(spec, _options(slurm_cluster))["job_ids"] == []


def _release_requeued(job: str, timeout_s: float = 90) -> None:
    """Slurm holds a requeued job for about 2 minutes (reason BeginTime) once its old run has
    ended; lift the hold as soon as it is there so the test does not wait."""
    deadline = time.monotonic() + timeout_s
    left_running = False
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T|%r"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        if out.startswith("PENDING") and "BeginTime" in out:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"],
                           capture_output=True, timeout=30)
        if not out.startswith("RUNNING"):
            left_running = True
        elif left_running:
            return
        time.sleep(0.3)


def replace_batch(spec: RunSpec) -> RunSpec:
    from dataclasses import replace

    return replace(spec, batch_tokens=8192)   # not part of the run id


def test_cancel_through_the_console(slurm_cluster, trivia, cli, smollm_dir):
    new_ws, _, _ = trivia
    ws = new_ws("cancel")
    spec = RunSpec(workspace=str(ws), dataset="trivia", model=str(smollm_dir), batch_tokens=64)
    submitted = slurm.submit_run(spec, _options(slurm_cluster))
    run_dir = Path(submitted["run_dir"])
    with pytest.raises(BadInput, match="still has 2 shard"):
        slurm.submit_run(spec, _options(slurm_cluster))     # refused while active
    res = cli("runs", "cancel", submitted["run_id"], "--workspace", ws)
    assert res.code == 0, res.err
    for job in submitted["job_ids"]:
        assert job in res.out
    t0 = time.monotonic()
    states = slurm.wait_run(run_dir, timeout_s=120, poll_s=1)
    assert [s["state"] for s in states] == ["cancelled", "cancelled"], states
    assert time.monotonic() - t0 < 120
    assert slurm.cancel_run(run_dir) == []                     # nothing active any more


def test_runs_watch_and_the_console_show_the_same_merged_progress(slurm_cluster, trivia,
                                                                  smollm_dir, monkeypatch):
    """Both front ends follow a 2-shard run from its start to its end. The last progress each
    shows is the shards' summed (the run's 40 questions, of which each shard's events say 20),
    with the same questions/s, and both end with the same line."""
    from tests.test_tui_support import make_test_app, wait_for
    from tui.screens.runs import RunsScreen
    from tui.workers import scan_runs

    new_ws, _, _ = trivia
    ws = new_ws("watched")
    # one question per batch: the run lasts long enough for both to attach while it runs
    spec = RunSpec(workspace=str(ws), dataset="trivia", model=str(smollm_dir), batch_tokens=64)
    submitted = slurm.submit_run(spec, _options(slurm_cluster))
    run_id = submitted["run_id"]
    watch = subprocess.Popen([sys.executable, "-m", "tui.cli.main", "runs", "watch", run_id,
                              "--interval", "0.2"], cwd=REPO, env=engine_env(ws),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shown = []  # what the console's Runs screen was given, in order
    real = RunsScreen.on_run_progress

    def spy(self, message):
        shown.append(message.progress)
        real(self, message)

    monkeypatch.setattr(RunsScreen, "on_run_progress", spy)

    async def attach_in_the_console():
        app = make_test_app(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("r")
            await pilot.pause()
            screen = app.section("runs")
            (run,) = [r for r in scan_runs(ws) if r["run_id"] == run_id]
            job = screen.attach(run)
            await wait_for(pilot, lambda: job.status != "attached", DEADLINE_S, "the run's end")
            return job

    try:
        job = asyncio.run(attach_in_the_console())
        out, err = watch.communicate(timeout=DEADLINE_S)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    end = f"run {run_id}: done, {N_QUESTIONS}/{N_QUESTIONS} questions"
    assert out.strip() == end and job.status == "done" and any(end in line for line in job.log)

    cli_lines = re.findall(r"^done: (\d+)/(\d+) questions, ([\d.]+) q/s", err, re.MULTILINE)
    assert cli_lines, err
    last = shown[-1]
    assert (last.phase, last.done, last.total) == ("done", N_QUESTIONS, N_QUESTIONS)
    assert last.rate > 0
    assert cli_lines[-1] == (str(last.done), str(last.total), f"{last.rate:.2f}")
    # a shard's own events say 20 of 20: what the console showed before adding them up
    for writer in ("shard-0000", "shard-0001"):
        final = [json.loads(line) for line in
                 (Path(submitted["run_dir"]) / f"events-{writer}.jsonl").read_text().splitlines()
                 if '"progress"' in line][-1]
        assert (final["done"], final["total"]) == (N_QUESTIONS // 2, N_QUESTIONS // 2)
