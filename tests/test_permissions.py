"""Files and folders get the mode the umask gives (as a plain open()/mkdir() would), so that a
co-author or a lab's group project folder can read the tables; and another user can read them.

Everything here is real: the CLI imports the real Coane & Umanath trivia table, `runs import`
writes a real run (SQLite store, lock, manifest), `run` runs a tiny model through the engine
process, `export run` and `analyze --out` write files with their provenance sidecars.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.store import ResultRow, ResultStore
from tests.engine_helpers import REPO, engine_env, mmlu_dataset
from tests.test_runs_import import make_results


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can reach (pytest's tmp_path sits under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="alignuq-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _wrong_modes(root: Path, mask: int) -> list[str]:
    """Every file or folder under ``root`` (``root`` too) whose mode is not the umask's."""
    wrong = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~mask
        if mode != expected:
            wrong.append(f"{path.relative_to(root.parent)}: {mode:o} (not {expected:o})")
    return wrong


def _write_everything(cli, ws: Path, out: Path, data_dir: Path) -> None:
    """Import a dataset, import a run, export it (csv and parquet) and write an analysis."""
    assert cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane",
               "-w", ws).code == 0
    results = out / "results.csv"
    make_results(ws, "coane", seed=1, noise=0.5).to_csv(results, index=False)
    res = cli("runs", "import", results, "--dataset", "coane", "--model-name", "toy",
              "--run-id", "toy", "-w", ws)
    assert res.code == 0, res.err
    for fmt in ("csv", "parquet"):
        res = cli("export", "run", "toy", "--format", fmt, "--out", out / f"toy.{fmt}", "-w", ws)
        assert res.code == 0, res.err
    res = cli("analyze", "alignment", "-d", "coane", "--measures", "choice_entropy", "--out",
              out / "tables" / "alignment.csv", "-w", ws)
    assert res.code == 0, res.err


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_written_files_and_folders_get_the_umask_mode(cli, open_dir: Path, data_dir: Path,
                                                      mask: int) -> None:
    ws, out = open_dir / "ws", open_dir / "out"
    with umask(mask):
        out.mkdir()
        _write_everything(cli, ws, out, data_dir)
    assert {p.name for p in out.rglob("*")} >= {
        "toy.csv", "toy.csv.provenance.json", "toy.parquet", "toy.parquet.provenance.json",
        "tables", "alignment.csv", "alignment.csv.provenance.json"}
    assert (ws / "runs" / "toy" / "results" / "main.sqlite").exists()
    assert _wrong_modes(ws, mask) == []
    assert _wrong_modes(out, mask) == []


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_a_run_through_the_engine_gets_the_umask_mode(cli, open_dir: Path, data_dir: Path,
                                                      tiny_llama_dir: Path, mask: int,
                                                      monkeypatch) -> None:
    """The runner's run folder, store, lock, events and manifest, and the shared cache's
    weights hashes (the engine is a child process: it inherits the umask)."""
    ws, cache = open_dir / "ws", open_dir / "cache"
    monkeypatch.setenv("ALIGNUQ_CACHE", str(cache))
    with umask(mask):
        mmlu_dataset(ws, data_dir, n=4)
        res = cli("run", "--dataset", "mmlu-small", "--model", tiny_llama_dir, "-w", ws)
    assert res.code == 0, res.err
    [run_dir] = (ws / "runs").iterdir()
    assert {"manifest.json", "events.jsonl", "results"} <= {p.name for p in run_dir.iterdir()}
    assert (run_dir / "results" / "main.sqlite.lock").exists()
    assert (cache / "weights-sha256.json").exists()
    assert _wrong_modes(ws, mask) == []
    assert _wrong_modes(cache, mask) == []


def _as_nobody(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` as the user `nobody`, in no group of ours."""
    if os.geteuid() != 0:
        pytest.skip("reading as another user needs root (to become `nobody`)")
    nobody = pwd.getpwnam("nobody")
    become = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run a command as `nobody`")
    return subprocess.run(become + argv, capture_output=True, text=True, timeout=300, **kwargs)


def _python_as_nobody_or_skip() -> None:
    probe = _as_nobody([sys.executable, "-c", "import pandas"])
    if probe.returncode != 0:
        pytest.skip(f"this Python cannot run as `nobody` (its files are not readable by other "
                    f"users): {probe.stderr.strip()[-200:]}")


def test_another_user_reads_an_export_and_the_workspace(cli, open_dir: Path,
                                                        data_dir: Path) -> None:
    """A co-author (here `nobody`, in no group of ours) under the common umask 022 reads the
    exported table and its sidecar, and exports the run again from our workspace (which reads
    the dataset, the run's manifest and its SQLite store)."""
    ws, out = open_dir / "ws", open_dir / "out"
    with umask(0o022):
        out.mkdir()
        _write_everything(cli, ws, out, data_dir)
        # the engine writes (and resumes) a store in WAL mode on a local disk
        with ResultStore(ws / "runs" / "toy" / "results" / "main.sqlite", "toy", journal="wal"):
            pass
    exported = out / "toy.csv"
    read = _as_nobody(["cat", str(exported), f"{exported}.provenance.json"])
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith(exported.read_text())

    _python_as_nobody_or_skip()
    theirs = open_dir / "theirs"
    theirs.mkdir()
    os.chown(theirs, pwd.getpwnam("nobody").pw_uid, -1)
    env = {**engine_env(ws), "HOME": str(theirs)}
    again = _as_nobody([sys.executable, "-m", "tui.cli.main", "export", "run", "toy",
                        "--out", str(theirs / "toy.csv")], cwd=REPO, env=env)
    assert again.returncode == 0, again.stderr
    assert (theirs / "toy.csv").read_text() == exported.read_text()


def _journal_mode(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_closing_writer_leaves_wal_without_waiting_long_for_a_reader(tmp_path: Path) -> None:
    """A store is left in the rollback journal (readable by those who may not write beside it);
    a reader in the middle of a read does not hold up the writer's close, and the next writer's
    close switches it."""
    path = tmp_path / "results" / "main.sqlite"
    store = ResultStore(path, "r", journal="wal")
    store.add([ResultRow("q1", 0, [0.5, 0.5], 1.0, {"entropy": 0.1})])
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM results").fetchone() == (1,)
    started = time.monotonic()
    store.close()
    assert time.monotonic() - started < 5
    reader.close()
    assert _journal_mode(path) == "wal"  # the reader was in it
    ResultStore(path, "r", journal="wal").close()
    assert _journal_mode(path) == "delete"
