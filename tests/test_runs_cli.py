"""`alignuq runs list|show|watch|cancel` and engine.runs (status, event tails, locks)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasets_io.workspace import Workspace
from engine import runs, store
from engine.events import ErrorEvent, EventTail, LogEvent, append_event, events_path
from tests.engine_helpers import REPO, engine_env, finished_run, mmlu_dataset


@pytest.fixture(scope="module")
def done(tmp_path_factory, data_dir, tiny_llama_dir) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs-ws")
    mmlu_dataset(root, data_dir, "mmlu-10", n=10)
    return root, finished_run(root, "mmlu-10", tiny_llama_dir, batch_tokens=1024)


def tiny_name(run_dir: Path) -> str:
    return store.read_manifest(run_dir)["model"]["name"]


def test_list_json_and_human(cli, done) -> None:
    root, run_dir = done
    res = cli("runs", "list", "--format", "json", "--workspace", root)
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)
    assert {k: row[k] for k in ("run_id", "dataset", "model", "n_done", "n_total", "status")} == {
        "run_id": run_dir.name, "dataset": "mmlu-10", "model": tiny_name(run_dir),
        "n_done": 10, "n_total": 10, "status": "done"}
    human = cli("runs", "list", "--workspace", root)
    assert human.code == 0 and run_dir.name in human.out and "10/10" in human.out


def test_list_never_cuts_the_run_id_on_a_narrow_terminal(cli, done, monkeypatch) -> None:
    root, run_dir = done
    for name, value in (("COLUMNS", "40"), ("TTY_COMPATIBLE", "1"), ("NO_COLOR", "1")):
        monkeypatch.setenv(name, value)  # rich then takes the captured output for a terminal
    human = cli("runs", "list", "--workspace", root)
    assert human.code == 0 and len(run_dir.name) > 25
    assert run_dir.name in human.out and "…" in human.out  # other columns are shortened instead


def test_list_piped_cuts_nothing(cli, done, monkeypatch) -> None:
    root, run_dir = done
    monkeypatch.setenv("COLUMNS", "40")
    human = cli("runs", "list", "--workspace", root)
    assert human.code == 0 and "…" not in human.out
    row = human.out.splitlines()[1].split()
    assert row == [run_dir.name, "mmlu-10", tiny_name(run_dir), "corrected", "score", "10/10",
                   "done"]


def test_show_and_watch_a_finished_run(cli, done) -> None:
    root, run_dir = done
    res = cli("runs", "show", run_dir.name[:12], "--workspace", root)
    assert res.code == 0, res.err
    assert "status  done" in res.out and "10/10 done" in res.out and "last events:" in res.out
    assert "finished: 10/10" in res.out
    assert "prompt  'Following is a question and a selection of answ…'; chat template off; " \
           "0 few-shot examples" in res.out
    data = json.loads(cli("runs", "show", run_dir.name, "--format", "json", "--workspace", root).out)
    assert data["status"] == "done" and data["manifest"]["run_id"] == run_dir.name and data["events"]
    watch = cli("runs", "watch", run_dir.name, "--workspace", root)
    assert watch.code == 0 and "done, 10/10" in watch.out
    missing = cli("runs", "show", "zzz-no-such-run", "--workspace", root)
    assert missing.code == 2 and "no run 'zzz-no-such-run'" in missing.err


def test_a_limited_run_says_how_much_of_the_dataset_it_covers(cli, done, tiny_llama_dir) -> None:
    root, full = done
    limited = finished_run(root, "mmlu-10", tiny_llama_dir, limit=4, variant="paper")
    res = cli("runs", "list", "--format", "json", "--workspace", root)
    rows = {r["run_id"]: r for r in json.loads(res.out)}
    assert (rows[limited.name]["n_total"], rows[limited.name]["n_dataset"]) == (4, 10)
    piped = {line.split()[0]: line.split()[5:] for line in
             cli("runs", "list", "--workspace", root).out.splitlines()[1:]}
    assert piped[limited.name] == ["4/4", "of", "10", "done"]
    assert piped[full.name] == ["10/10", "done"]
    show = cli("runs", "show", limited.name, "--workspace", root)
    assert "questions  4/4 done (--limit: the first 4 of the dataset's 10)" in show.out
    forward = "forward  alignuq-lean decoder on 2/2 layers, the last one at the last position only"
    assert forward in show.out
    runs.delete_run(Workspace(root), limited)  # the module's other tests expect one run


def _copy(run_dir: Path, tmp_path: Path, name: str, n_total: int) -> Path:
    ws = Workspace(tmp_path / name).ensure()
    copy = ws.runs / run_dir.name
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("*.lock"))
    manifest = store.read_manifest(copy)
    manifest["n_total"] = n_total
    store.write_manifest(copy, manifest)
    return copy


def test_status_failed_and_incomplete_from_events(done, tmp_path) -> None:
    _, run_dir = done
    failed = _copy(run_dir, tmp_path, "a", 20)
    append_event(failed, ErrorEvent("OOM", "question q1 does not fit"))
    st = runs.run_status(failed)
    assert st.status == runs.FAILED and st.reason == "OOM: question q1 does not fit"
    assert (st.n_done, st.n_total) == (10, 20)
    cancelled = _copy(run_dir, tmp_path, "b", 20)
    append_event(cancelled, ErrorEvent("CANCELLED", "cancelled"))
    st = runs.run_status(cancelled)
    assert st.status == runs.INCOMPLETE and st.reason == "cancelled"
    killed = _copy(run_dir, tmp_path, "c", 20)
    assert runs.run_status(killed).status == runs.INCOMPLETE
    infos = runs.list_runs(Workspace(tmp_path / "a"))
    assert [i.status for i in infos] == [runs.FAILED]


HOLDER = r"""
import sys, time
from engine.store import ResultStore
store = ResultStore(sys.argv[1], "x")
print("locked", flush=True)
time.sleep(120)
"""


def test_running_status_from_the_lock_and_cancel_sends_sigterm(cli, done, tmp_path) -> None:
    _, run_dir = done
    copy = _copy(run_dir, tmp_path, "live", 10)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(copy / "results" / "main.sqlite")],
                              cwd=REPO, env=engine_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        st = runs.run_status(copy)
        assert st.status == runs.RUNNING and f"pid {holder.pid}" in st.reason
        listed = json.loads(cli("runs", "list", "--format", "json", "--workspace", tmp_path / "live").out)
        assert listed[0]["status"] == "running"
        res = cli("runs", "cancel", copy.name, "--workspace", tmp_path / "live")
        assert res.code == 0, res.err
        assert str(holder.pid) in res.out
        assert holder.wait(30) != 0
    finally:
        if holder.poll() is None:
            holder.kill()
    assert runs.run_status(copy).status == runs.DONE
    res = cli("runs", "cancel", copy.name, "--workspace", tmp_path / "live")
    assert res.code == 0 and "is not running" in res.out


def test_tail_events_keeps_partial_lines_for_later(tmp_path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    append_event(run_dir, LogEvent("info", "one"))
    append_event(run_dir, LogEvent("info", "shard", writer="shard-0001"))
    tail = EventTail(run_dir)
    events = tail.read()
    assert [e.message for e in events] == ["one", "shard"]
    assert {e.writer for e in events} == {"main", "shard-0001"}
    with open(events_path(run_dir), "a") as f:
        f.write('{"type": "log", "message": "par')
    assert tail.read() == []
    with open(events_path(run_dir), "a") as f:
        f.write('tial"}\n')
    assert [e.message for e in tail.read()] == ["partial"]
    assert tail.read() == []


def test_watch_attaches_to_a_live_run_until_done(cli, ws_dir, data_dir, tiny_llama_dir) -> None:
    mmlu_dataset(ws_dir, data_dir, "mmlu-30", n=30)
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli.main", "run", "--dataset", "mmlu-30",
                             "--model", str(tiny_llama_dir), "--batch-tokens", "48"],
                            cwd=REPO, env=engine_env(ws_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        run_dir = None
        while time.monotonic() < deadline and run_dir is None:
            found = [d for d in (ws_dir / "runs").glob("*") if (d / "manifest.json").exists()]
            run_dir = found[0] if found else None
            time.sleep(0.1)
        assert run_dir is not None, proc.communicate()
        res = cli("runs", "watch", run_dir.name, "--interval", "0.2")
        assert res.code == 0, res.err
        assert "done, 30/30" in res.out
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _nothing_left(folder: Path) -> bool:
    return not any(folder.iterdir())  # hidden leftovers of a removal count too


def test_delete_a_run_then_its_dataset(cli, done, tmp_path) -> None:
    root, run_dir = done
    ws = tmp_path / "ws"
    shutil.copytree(root, ws, ignore=shutil.ignore_patterns("*.lock"))
    name = run_dir.name
    asked = cli("runs", "delete", name[:10], "--workspace", ws)  # no terminal to ask on
    assert asked.code == 2 and "pass --yes" in asked.err and (ws / "runs" / name).is_dir()
    kept = cli("datasets", "delete", "mmlu-10", "--yes", "--workspace", ws)
    assert kept.code == 2 and name in kept.err and "--with-runs" in kept.err
    assert (ws / "datasets" / "mmlu-10").is_dir()
    res = cli("runs", "delete", name[:10], "--yes", "--workspace", ws)
    assert res.code == 0, res.err
    assert f"deleted run {name}" in res.out and _nothing_left(ws / "runs")
    assert json.loads(cli("runs", "list", "--format", "json", "--workspace", ws).out) == []
    res = cli("datasets", "delete", "mmlu-10", "--yes", "--workspace", ws)
    assert res.code == 0 and _nothing_left(ws / "datasets")
    again = cli("datasets", "delete", "mmlu-10", "--yes", "--workspace", ws)
    assert again.code == 2 and "no dataset named 'mmlu-10'" in again.err


def test_delete_a_dataset_with_its_runs_but_never_a_running_one(cli, done, tmp_path) -> None:
    root, run_dir = done
    ws = tmp_path / "ws"
    shutil.copytree(root, ws, ignore=shutil.ignore_patterns("*.lock"))
    copy = ws / "runs" / run_dir.name
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(copy / "results" / "main.sqlite")],
                              cwd=REPO, env=engine_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = cli("runs", "delete", copy.name, "--yes", "--workspace", ws)
        assert res.code == 2 and "is running" in res.err and "runs cancel" in res.err
        res = cli("datasets", "delete", "mmlu-10", "--with-runs", "--yes", "--workspace", ws)
        assert res.code == 2 and "is running" in res.err
        assert copy.is_dir() and (ws / "datasets" / "mmlu-10").is_dir()
    finally:
        holder.kill()
        holder.wait(30)
    res = cli("datasets", "delete", "mmlu-10", "--with-runs", "--yes", "--workspace", ws)
    assert res.code == 0, res.err
    assert "deleted dataset mmlu-10 and 1 run(s)" in res.out
    assert _nothing_left(ws / "runs") and _nothing_left(ws / "datasets")
