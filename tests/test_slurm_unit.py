"""Slurm scale-out without a cluster: sharding, slurm.json, shard states from what Slurm says
(fake squeue/sacct on PATH), the deadline on Slurm commands, and the store's fault handling
(network filesystem journal, two writers, corrupt file). Fast; no model is loaded."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common.errors import BadInput
from engine import slurm
from engine.store import (
    ResultRow,
    ResultStore,
    append_event,
    choose_journal,
    count_done,
    filesystem_type,
    read_results,
)

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------ sharding


def test_split_shards_is_stable_balanced_and_complete():
    ids = [f"q{i:03d}" for i in range(103)]
    shards = slurm.split_shards(ids, 4)
    assert shards == slurm.split_shards(list(ids), 4)           # stable
    assert sorted(len(s) for s in shards) == [25, 26, 26, 26]    # balanced
    flat = [q for s in shards for q in s]
    assert sorted(flat) == ids and len(set(flat)) == len(ids)    # nothing lost or doubled
    assert all(s == sorted(s) for s in shards)                   # dataset order kept
    assert slurm.split_shards(ids[:3], 8) == [["q000"], ["q001"], ["q002"]]
    assert slurm.split_shards([], 4) == []


@pytest.mark.parametrize("text,minutes", [("01:00", 60), ("00:10", 10), ("90", 90),
                                          ("1-02:00", 1560), ("02:00:30", 121)])
def test_time_minutes(text, minutes):
    assert slurm.time_minutes(text) == minutes


@pytest.mark.parametrize("bad", ["1h", "", "00:00", "ab:cd"])
def test_time_minutes_refuses_bad_input(bad):
    with pytest.raises(BadInput, match="--time"):
        slurm.time_minutes(bad)


# ------------------------------------------------------------------------------ store faults

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
fileserver:/export/home /home nfs4 rw,relatime,vers=4.2 0 0
/dev/nvme0n1 /home/user/scratch ext4 rw 0 0
mds@tcp:/lustre /lustre lustre rw 0 0
"""


def test_network_filesystem_gets_delete_journal(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert filesystem_type(Path("/home/user/ws/runs/x/results"), mounts) == "nfs4"
    assert choose_journal(Path("/home/user/ws/runs/x/results"), "auto", mounts) == "delete"
    assert choose_journal(Path("/lustre/proj/ws/results"), "auto", mounts) == "delete"
    # the longest mount point wins: a local disk mounted inside the NFS home
    assert choose_journal(Path("/home/user/scratch/ws/results"), "auto", mounts) == "wal"
    assert choose_journal(Path("/tmp/ws/results"), "auto", mounts) == "wal"
    # --store-journal overrides the detection both ways
    assert choose_journal(Path("/home/user/ws"), "wal", mounts) == "wal"
    assert choose_journal(Path("/tmp/ws"), "delete", mounts) == "delete"


def test_store_uses_the_requested_journal(tmp_path):
    for mode in ("wal", "delete"):
        store = ResultStore(tmp_path / mode / "s.sqlite", "r", journal=mode)
        try:
            assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == mode
        finally:
            store.close()


def _row(qid: str) -> ResultRow:
    return ResultRow(question_id=qid, cloze=0, label_probs=[0.25, 0.75], choice_mass=0.9,
                     measures={"entropy": 0.5})


def test_two_writers_on_one_store_are_refused_and_nothing_is_corrupted(tmp_path):
    path = tmp_path / "results" / "shard-0000.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(REPO)!r})
            from engine.store import ResultStore, ResultRow
            s = ResultStore({str(path)!r}, "r")
            s.add([ResultRow("q1", 0, [0.5, 0.5], 1.0, {{"entropy": 0.1}})])
            print("ready", flush=True)
            sys.stdin.readline()
            s.add([ResultRow("q2", 1, [0.2, 0.8], 1.0, {{"entropy": 0.2}})])
            s.close()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(BadInput) as err:
            ResultStore(path, "r")
        assert str(path) in str(err.value) and f"pid {holder.pid}" in str(err.value)
        assert "two writers are refused" in str(err.value)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
    frame = read_results(tmp_path)
    assert sorted(frame["question_id"]) == ["q1", "q2"]
    with ResultStore(path, "r") as store:   # free again once the first writer is gone
        assert store.done_ids() == {"q1", "q2"}


def test_corrupt_store_is_named_with_the_way_out(tmp_path):
    run_dir = tmp_path / "run"
    with ResultStore(run_dir / "results" / "shard-0000.sqlite", "r") as s:
        s.add([_row("a")])
    bad = run_dir / "results" / "shard-0001.sqlite"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    with pytest.raises(BadInput) as err:
        read_results(run_dir)
    message = str(err.value)
    assert str(bad) in message and "corrupt" in message and "mv" in message
    assert "\n" not in message
    with pytest.raises(BadInput, match="corrupt"):
        ResultStore(bad, "r")


def test_a_store_whose_writer_has_not_made_its_tables_yet_reads_as_empty(tmp_path):
    # a writer creates the file first (so it gets the umask's mode), then its tables: `runs
    # list` or `runs watch` looking in between saw "corrupt (no such table: results)"
    import sqlite3

    run_dir = tmp_path / "run"
    (run_dir / "results").mkdir(parents=True)
    (run_dir / "results" / "main.sqlite").touch()
    assert read_results(run_dir).empty and count_done(run_dir) == 0
    other = run_dir / "results" / "shard-0001.sqlite"
    with sqlite3.connect(other) as conn:  # another table, no results table: that is corrupt
        conn.execute("CREATE TABLE info (key TEXT)")
    with pytest.raises(BadInput, match="corrupt .*no such table: results"):
        read_results(run_dir)


# ------------------------------------------------------------------------------ shard states


def _fake_bin(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _slurm_run(run_dir: Path, n_shards: int, n_each: int, array: str = "77") -> None:
    shards = [{"shard": k, "writer": f"shard-{k:04d}", "job_id": f"{array}_{k}",
               "n_total": n_each, "question_ids": [f"s{k}q{i}" for i in range(n_each)]}
              for k in range(n_shards)]
    (run_dir / "slurm").mkdir(parents=True, exist_ok=True)
    (run_dir / slurm.SLURM_FILE).write_text(json.dumps({
        "version": 1, "run_id": "r", "run_dir": str(run_dir),
        "submissions": [{"array_job_id": array, "submitted": time.time(), "options": {},
                         "folder": str(run_dir / "slurm"), "shards": shards}]}))


def _fill(run_dir: Path, shard: int, n: int) -> None:
    with ResultStore(run_dir / "results" / f"shard-{shard:04d}.sqlite", "r") as s:
        s.add([_row(f"s{shard}q{i}") for i in range(n)])


def test_shard_states_from_squeue_and_sacct(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 8, 3)
    for k, n in [(0, 0), (1, 1), (2, 3), (3, 1), (4, 2), (5, 1), (6, 3), (7, 0)]:
        if n:
            _fill(run_dir, k, n)
    # shard 5's runner ended with an error; shard 6 and 7 are gone from Slurm (6 is complete)
    append_event(run_dir, {"type": "error", "code": "OOM",
                           "message": "question q7 does not fit in memory on cuda"}, "shard-0005")
    (run_dir / "slurm" / "77_3_0_log.err").write_text(
        "loading\nslurmstepd: error: Detected 1 oom-kill event(s) in StepId=77.0.\n")
    (run_dir / "slurm" / "77_7_0_log.err").write_text("srun: error: node1: task 0: Killed\n")
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", """cat <<'EOF'
77_0|PENDING|Priority
77_1|RUNNING|None
77_2|COMPLETED|None
77_3|OUT_OF_MEMORY|OutOfMemory
77_4|CANCELLED|None
77_5|FAILED|NonZeroExitCode
EOF""")
    _fake_bin(fake, "sacct", """cat <<'EOF'
77_0|PENDING|0:0|Priority
77_1|RUNNING|0:0|None
77_2|COMPLETED|0:0|None
77_3|OUT_OF_MEMORY|0:125|None
77_4|CANCELLED by 1000|0:15|None
77_5|FAILED|1:0|None
EOF""")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    states = {s["shard"]: s for s in slurm.shard_states(run_dir)}
    assert [states[k]["state"] for k in range(8)] == [
        "pending", "running", "done", "failed", "cancelled", "failed", "done", "failed"]
    assert states[0]["reason"] == "Priority"
    assert "out of memory" in states[3]["reason"] and "oom-kill" in states[3]["reason"]
    assert "cancelled by 1000" in states[4]["reason"] and "2 of 3" in states[4]["reason"]
    assert "OOM: question q7 does not fit" in states[5]["reason"]
    assert states[7]["reason"].startswith("lost") and "Killed" in states[7]["reason"]
    assert "submit the run again" in states[7]["reason"]
    assert [states[k]["n_done"] for k in range(8)] == [0, 1, 3, 1, 2, 1, 3, 0]
    assert all(s["n_total"] == 3 for s in states.values())
    assert not slurm.all_final(states.values())


def test_shard_states_without_accounting(tmp_path, monkeypatch):
    """No slurmdbd: sacct fails, squeue has forgotten finished jobs; the shard's events file and
    the store still tell done from dead."""
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 3, 2)
    _fill(run_dir, 0, 2)
    _fill(run_dir, 1, 1)
    append_event(run_dir, {"type": "finished", "n_done": 2}, "shard-0000")
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1")
    _fake_bin(fake, "sacct", "echo 'sacct: error: Slurm accounting storage is disabled' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    states = slurm.shard_states(run_dir)
    assert [s["state"] for s in states] == ["done", "failed", "failed"]
    assert states[1]["reason"].startswith("lost")
    assert slurm.all_final(states)


class _Planted:
    """What a colleague could leave in a group-writable run folder: unpickling it runs code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _forgotten_by_slurm(tmp_path: Path, monkeypatch) -> None:
    """squeue and sacct know nothing: only the run folder tells how the shards ended."""
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1")
    _fake_bin(fake, "sacct", "echo 'sacct: error: Slurm accounting storage is disabled' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")


def test_a_pickle_planted_in_the_run_folder_is_never_loaded(tmp_path, monkeypatch, cli):
    """Shard states come from the events files and the logs (text), never from submitit's result
    pickles, which anyone who can write in the run folder could have replaced."""
    from engine.store import write_manifest

    ws = tmp_path / "ws"
    run_dir = ws / "runs" / "trivia-m-00000000"
    write_manifest(run_dir, {"run_id": run_dir.name, "dataset": "trivia", "n_total": 8})
    _slurm_run(run_dir, 4, 2)
    marker = tmp_path / "the-planted-pickle-ran"
    for k in range(4):
        (run_dir / "slurm" / f"77_{k}_0_result.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    _fill(run_dir, 0, 2)
    append_event(run_dir, {"type": "finished", "n_done": 2}, "shard-0000")
    _fill(run_dir, 1, 1)
    append_event(run_dir, {"type": "error", "code": "BAD_MODEL",
                           "message": "/m: no config.json"}, "shard-0001")
    (run_dir / "slurm" / "77_2_0_log.err").write_text(
        "submitit ERROR (2026-01-01) - Submitted job triggered an exception\n"
        "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
        "    import engine.runner\nModuleNotFoundError: No module named 'torch'\n"
        "srun: error: node1: task 0: Exited with exit code 1\n")
    _forgotten_by_slurm(tmp_path, monkeypatch)

    states = slurm.shard_states(run_dir)
    assert not marker.exists()
    assert [s["state"] for s in states] == ["done", "failed", "failed", "failed"]
    assert states[1]["reason"] == "BAD_MODEL: /m: no config.json"
    assert states[2]["reason"] == "ModuleNotFoundError: No module named 'torch'"
    assert states[3]["reason"].startswith("lost")
    shown = cli("runs", "show", run_dir.name, "--format", "json", "--workspace", ws)
    assert shown.code == 0, shown.err
    assert not marker.exists()


def test_the_pickle_folder_is_ours_alone(tmp_path):
    """submitit's pickles run as us on the node: their folder is 0700 whatever the umask, one of
    another user is refused, and the task checks it again before loading anything."""
    folder = tmp_path / "run" / "slurm"
    folder.mkdir(parents=True, mode=0o775)
    folder.chmod(0o775)
    assert slurm._private_folder(folder) == folder
    assert folder.stat().st_mode & 0o777 == 0o700

    def check() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", slurm.private_folder_check(folder)],
                              capture_output=True, text=True)

    assert check().returncode == 0
    folder.chmod(0o770)  # swapped, or opened up, while the job waited
    refused = check()
    assert refused.returncode == 1 and "is not private to you" in refused.stderr
    if os.geteuid() != 0:
        return  # handing a folder to another user needs root
    import pwd

    os.chown(folder, pwd.getpwnam("nobody").pw_uid, -1)
    folder.chmod(0o700)
    assert check().returncode == 1
    with pytest.raises(BadInput, match="belongs to another user"):
        slurm._private_folder(folder)


def test_a_hung_slurm_is_never_waited_on(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 2, 2)
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "exec sleep 60")
    _fake_bin(fake, "sacct", "exec sleep 60")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ALIGNUQ_SLURM_CMD_TIMEOUT", "1")
    t0 = time.monotonic()
    states = slurm.wait_run(run_dir, timeout_s=2, poll_s=0.5)
    assert time.monotonic() - t0 < 15
    assert [s["state"] for s in states] == ["unknown", "unknown"]
    assert "did not answer within 1 s" in states[0]["reason"]


def test_cancel_run_cancels_only_active_jobs(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 3, 2)
    fake = tmp_path / "bin"
    log = tmp_path / "scancel.log"
    _fake_bin(fake, "squeue", "printf '77_0|RUNNING|None\\n77_1|PENDING|Priority\\n"
                              "77_2|COMPLETED|None\\n'")
    _fake_bin(fake, "scancel", f'echo "$@" >> {log}')
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert slurm.cancel_run(run_dir) == ["77_0", "77_1"]
    assert log.read_text().split() == ["77_0", "77_1"]
    events = (run_dir / "events.jsonl").read_text()
    assert "cancelled Slurm jobs 77_0, 77_1" in events


def test_submit_refused_without_slurm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    from engine.run_spec import RunSpec

    with pytest.raises(BadInput, match="sbatch"):
        slurm.submit_run(RunSpec(workspace=str(tmp_path), dataset="d", model="m"),
                         slurm.SlurmOptions(shards=2))


def test_not_a_slurm_run(tmp_path):
    assert not slurm.is_slurm_run(tmp_path)
    with pytest.raises(BadInput, match="not a Slurm run"):
        slurm.shard_states(tmp_path)
    (tmp_path / slurm.SLURM_FILE).write_text("{")
    with pytest.raises(BadInput, match="slurm.json is not valid JSON"):
        slurm.shard_states(tmp_path)


def test_count_rows_reports_a_corrupt_shard_store(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 1, 2)
    (run_dir / "results").mkdir()
    (run_dir / "results" / "shard-0000.sqlite").write_bytes(b"not a database at all" * 100)
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "printf '77_0|RUNNING|None\\n'")
    _fake_bin(fake, "sacct", "exit 1")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    (state,) = slurm.shard_states(run_dir)
    assert state["state"] == "running" and "corrupt" in state["reason"]
    assert "shard-0000.sqlite" in state["reason"]


def test_slurm_module_is_torch_free():
    code = ("import sys; import engine.slurm; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)



def test_tasks_never_split_off_the_array_take_the_arrays_state(tmp_path, monkeypatch):
    """Cancelled while pending, Slurm reports the array as one record under its own id."""
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 2, 2, array="22")
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "printf '22|CANCELLED|None\\n'")
    _fake_bin(fake, "sacct", "printf '22|CANCELLED by 0|0:0|None\\n'")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    states = slurm.shard_states(run_dir)
    assert [s["state"] for s in states] == ["cancelled", "cancelled"]
    assert "cancelled by 0" in states[0]["reason"]
    whole = slurm.run_state(run_dir)
    assert whole["status"] == "cancelled" and whole["n_total"] == 4 and whole["n_done"] == 0


def test_run_state_summarises_the_shards(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _slurm_run(run_dir, 2, 2)
    _fill(run_dir, 0, 2)
    _fill(run_dir, 1, 1)
    fake = tmp_path / "bin"
    _fake_bin(fake, "squeue", "printf '77_0|COMPLETED|None\\n77_1|RUNNING|None\\n'")
    _fake_bin(fake, "sacct", "exit 1")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    whole = slurm.run_state(run_dir)
    assert (whole["status"], whole["n_done"], whole["n_total"]) == ("running", 3, 4)
    _fake_bin(fake, "squeue", "printf '77_0|COMPLETED|None\\n77_1|FAILED|NonZeroExitCode\\n'")
    whole = slurm.run_state(run_dir)
    assert whole["status"] == "failed" and whole["reason"].startswith("shard 1 (77_1)")


def test_corrupt_shard_store_through_the_cli_is_one_line_exit_2(tmp_path, cli):
    from engine.store import write_manifest

    ws = tmp_path / "ws"
    run_dir = ws / "runs" / "trivia-m-00000000"
    write_manifest(run_dir, {"run_id": run_dir.name, "dataset": "trivia", "n_total": 2,
                             "status": "running"})
    with ResultStore(run_dir / "results" / "shard-0000.sqlite", run_dir.name) as s:
        s.add([_row("a")])
    bad = run_dir / "results" / "shard-0001.sqlite"
    with ResultStore(bad, run_dir.name) as s:
        s.add([_row("b")])
    data = bytearray(bad.read_bytes())
    data[100:1800] = b"garbage!" * 212 + b"xxxx"
    bad.write_bytes(bytes(data))
    res = cli("export", "run", run_dir.name, "--format", "csv", "--out", tmp_path / "out.csv",
              "--workspace", ws)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert str(bad) in lines[0] and "corrupt" in lines[0] and "mv" in lines[0]
    assert not (tmp_path / "out.csv").exists()


def test_busy_writers_are_found(tmp_path):
    run_dir = tmp_path / "run"
    store = ResultStore(run_dir / "results" / "main.sqlite", "r")
    try:
        (busy,) = slurm._busy_writers(run_dir)
        assert busy.startswith("main: pid ")
    finally:
        store.close()
    assert slurm._busy_writers(run_dir) == []
