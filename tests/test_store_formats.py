"""engine.store owns its formats: the writer-lock text (written by the writer, read back as
WriterLock), and the question ids and counts of a run's stores, on real files and SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import BadInput
from engine.store import (
    ResultRow,
    ResultStore,
    count_done,
    done_ids,
    lock_path,
    stored_ids,
    writer_locks,
)

REPO = Path(__file__).resolve().parent.parent
HOLDER = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from engine.store import ResultStore
store = ResultStore(sys.argv[1], "r")
print("locked", flush=True)
time.sleep(120)
"""


def _rows(*ids: str) -> list[ResultRow]:
    return [ResultRow(q, 0, [0.5, 0.5], 1.0, {"top1_prob": 0.5}) for q in ids]


def test_the_writer_says_who_it_is_and_readers_see_it_held(tmp_path: Path) -> None:
    path = tmp_path / "run" / "results" / "shard-0001.sqlite"
    path.parent.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(REPO)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        host = os.uname().nodename
        assert lock_path(path).read_text() == f"pid {child.pid} on {host}"
        (lock,) = writer_locks(tmp_path / "run")
        assert (lock.writer, lock.pid, lock.host, lock.held) == ("shard-0001", child.pid, host, True)
        assert lock.local and lock.holder == f"pid {child.pid} on {host}"
        with pytest.raises(BadInput, match=f"already being written by pid {child.pid} on {host}"):
            ResultStore(path, "r")
    finally:
        child.kill()
        child.wait()
    (lock,) = writer_locks(tmp_path / "run")
    assert not lock.held  # the kernel dropped the lock with its process
    with ResultStore(path, "r"):  # and the next writer takes it
        assert lock_path(path).read_text() == f"pid {os.getpid()} on {os.uname().nodename}"


def test_a_lock_file_that_names_no_one(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "main.sqlite.lock").write_text("garbage")
    (results / "shard-0000.sqlite.lock").write_text(f"pid 999999999 on {os.uname().nodename}")
    main, shard = writer_locks(tmp_path)
    assert (main.writer, main.pid, main.host, main.held) == ("main", None, None, False)
    assert main.holder == "another process"
    assert (shard.writer, shard.pid, shard.held) == ("shard-0000", 999999999, False)
    assert writer_locks(tmp_path / "nothing-here") == []


def test_ids_and_counts_of_every_writers_store(tmp_path: Path) -> None:
    results = tmp_path / "results"
    with ResultStore(results / "shard-0000.sqlite", "r") as s:
        s.add(_rows("q1", "q2", "q3"))
    with ResultStore(results / "shard-0001.sqlite", "r") as s:
        s.add(_rows("q3", "q4"))  # a re-split run may overlap: counted once
    (results / "shard-0002.sqlite").touch()  # created, its schema not written yet
    assert stored_ids(results / "shard-0001.sqlite") == {"q3", "q4"}
    assert stored_ids(results / "shard-0002.sqlite") == set()
    assert stored_ids(results / "shard-0009.sqlite") == set()  # not created yet
    assert done_ids(tmp_path) == {"q1", "q2", "q3", "q4"}
    assert count_done(tmp_path) == 4
    assert count_done(tmp_path / "no-run") == 0


def test_a_corrupt_store_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "results" / "main.sqlite"
    bad.parent.mkdir()
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BadInput, match="corrupt") as err:
        stored_ids(bad)
    assert str(bad) in err.value.message and "move the file aside" in err.value.fix
    with pytest.raises(BadInput, match="corrupt"):
        count_done(tmp_path)
