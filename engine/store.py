"""The results store: one SQLite file per writer inside a run folder, merged on read.

Run folder layout (``workspace/runs/RUN_ID/``)::

    manifest.json        model identity, template, spellings, measures, variant, seed, versions
    events.jsonl         the run's events, appended as they happen (``engine/events.py``)
    results/main.sqlite  one store per writer (a Slurm shard writes ``shard-0003.sqlite``)

Rows are committed as they are computed; ``INSERT OR IGNORE`` on the primary key
``(run_id, question_id)`` makes a resumed run idempotent. This module alone reads and writes the
stores (SQL, the writer-lock files ``results/<writer>.sqlite.lock`` and what they say): others
ask it (``read_results``, ``done_ids``, ``stored_ids``, ``count_done``, ``writer_locks``).
Torch-free.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import BadInput, write_failure
from datasets_io.atomic import write_text_atomic

MANIFEST_FILE = "manifest.json"
RESULTS_DIR = "results"
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "fuse.sshfs",
              "9p", "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "panfs", "afs", "wekafs"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    run_id        TEXT NOT NULL,
    question_id   TEXT NOT NULL,
    cloze         INTEGER NOT NULL,
    label_probs   TEXT NOT NULL,
    choice_mass   REAL NOT NULL,
    measures      TEXT NOT NULL,
    top_ids       BLOB,
    top_probs     BLOB,
    prompt_tokens INTEGER,
    created       REAL NOT NULL,
    PRIMARY KEY (run_id, question_id)
);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class ResultRow:
    question_id: str
    cloze: int
    label_probs: list[float]
    choice_mass: float
    measures: dict[str, float | None]
    top_ids: np.ndarray | None = None
    top_probs: np.ndarray | None = None
    prompt_tokens: int | None = None


MOUNTS_FILE = Path("/proc/mounts")


def filesystem_type(path: Path, mounts_file: Path | None = None) -> str:
    """The type of the filesystem holding ``path``, from /proc/mounts ('' if unknown).

    ``mounts_file`` replaces /proc/mounts (tests pass a fake one).
    """
    try:
        mounts = Path(mounts_file or MOUNTS_FILE).read_text().splitlines()
    except OSError:
        return ""
    target = os.path.realpath(path)
    best, kind = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind


def choose_journal(path: Path, requested: str = "auto", mounts_file: Path | None = None) -> str:
    """WAL on a local disk; DELETE on a network filesystem, where WAL's shared memory breaks."""
    if requested in ("wal", "delete"):
        return requested
    return "delete" if filesystem_type(path, mounts_file) in NETWORK_FS else "wal"


def disk_error(err: sqlite3.Error, path: Path) -> OSError | None:
    """SQLite's report of a full or read-only disk as the OSError it stands for (None otherwise),
    so that it reads like any other failed write (``common.errors.write_failure``)."""
    name = str(getattr(err, "sqlite_errorname", "") or "")
    code = None
    if name.startswith("SQLITE_FULL"):
        code = errno.ENOSPC
    elif name.startswith("SQLITE_READONLY"):
        code = errno.EROFS
    elif name.startswith("SQLITE_CANTOPEN") and not os.access(path.parent, os.W_OK):
        code = errno.EACCES  # (a missing file is not this)
    elif name.startswith("SQLITE_IOERR"):  # a write that failed for want of space, mostly
        with contextlib.suppress(OSError):
            if shutil.disk_usage(path.parent).free == 0:
                code = errno.ENOSPC
    return OSError(code, os.strerror(code), str(path)) if code is not None else None


@contextlib.contextmanager
def _disk_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as err:
        disk = disk_error(err, path)
        if disk is None:
            raise
        raise disk from None


class ResultStore:
    """One writer's SQLite file. Holds an exclusive lock while open for writing."""

    def __init__(self, path: Path, run_id: str, *, journal: str = "auto", write: bool = True):
        self.path = Path(path)
        self.run_id = run_id
        self._lock_fd: int | None = None
        self._write = write
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            # SQLite creates a new file 0644 whatever the umask (and its -wal/-shm files copy the
            # file's mode): created here first, the store gets the umask's mode
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o666))
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.journal = choose_journal(self.path.parent, journal)
            if write:
                self.conn.execute(f"PRAGMA journal_mode={self.journal}")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.executescript(_SCHEMA)
            check_integrity(self.conn, self.path)
        except sqlite3.DatabaseError as err:
            self.close()
            raise disk_error(err, self.path) or corrupt_store_error(self.path, err) from None

    def _take_lock(self) -> None:
        fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(*_parse_lock_text(os.read(fd, 200).decode(errors="replace")))
            os.close(fd)
            raise BadInput(f"the results store is already being written by {holder}",
                           where=self.path,
                           fix="wait for that run to finish or cancel it; two writers are refused") from None
        os.ftruncate(fd, 0)
        os.write(fd, _lock_text(os.getpid(), _HOST).encode())
        self._lock_fd = fd

    def done_ids(self) -> set[str]:
        rows = self.conn.execute("SELECT question_id FROM results WHERE run_id = ?", (self.run_id,))
        return {r[0] for r in rows}

    def add(self, rows: Iterable[ResultRow]) -> int:
        """Insert rows in one transaction; rows already present are ignored. Returns rows added."""
        now = time.time()
        payload = [(self.run_id, r.question_id, int(r.cloze), json.dumps(list(map(float, r.label_probs))),
                    float(r.choice_mass), json.dumps(_jsonable(r.measures)),
                    None if r.top_ids is None else np.asarray(r.top_ids, "<i4").tobytes(),
                    None if r.top_probs is None else np.asarray(r.top_probs, "<f4").tobytes(),
                    r.prompt_tokens, now) for r in rows]
        with _disk_errors(self.path), self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?)", payload)
            return self.conn.total_changes - before

    def set_info(self, key: str, value: str) -> None:
        with _disk_errors(self.path), self.conn:
            self.conn.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, value))

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            if self._write and getattr(self, "journal", None) == "wal":
                _leave_wal(conn)
            conn.close()
            self.conn = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _leave_wal(conn: sqlite3.Connection) -> None:
    """Switch a closing store back to a rollback journal. A WAL store without its ``-shm`` file
    cannot be opened by a reader who may not write in its folder (a co-author); a rollback one
    can. SQLite keeps WAL, without waiting, while a reader is in it (the next writer's close
    tries again)."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA journal_mode=DELETE")


def _jsonable(measures: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, v in measures.items():
        f = float(v) if v is not None else None
        out[k] = None if f is None or not np.isfinite(f) else f
    return out


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    row = conn.execute("PRAGMA quick_check").fetchone()
    if row is None or row[0] != "ok":
        raise corrupt_store_error(path, row[0] if row else "no answer")


def corrupt_store_error(path: Path, detail: object) -> BadInput:
    """The error for a store SQLite cannot read; a full or read-only disk is said as such (the
    file is fine, and moving it aside would lose its rows)."""
    disk = disk_error(detail, path) if isinstance(detail, sqlite3.Error) else None
    if disk is not None and (bad := write_failure(disk, path)) is not None:
        return bad
    return BadInput(f"the results store is corrupt ({detail})", where=path,
                    fix="move the file aside (e.g. `mv FILE FILE.bad`) and run again: the "
                        "questions it held are computed anew, the other stores are kept")


def store_files(run_dir: Path) -> list[Path]:
    folder = Path(run_dir) / RESULTS_DIR
    return sorted(folder.glob("*.sqlite")) if folder.is_dir() else []


def _being_created(conn: sqlite3.Connection) -> bool:
    """A store whose writer has created the file but not its tables yet (it holds no table at
    all): it has no rows yet. A file with other tables but no results table is corrupt."""
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def _read_rows(path: Path, with_top: bool) -> Iterator[tuple]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as err:
        raise corrupt_store_error(path, err) from None
    try:
        check_integrity(conn, path)
        if _being_created(conn):
            return
        cols = "question_id, cloze, label_probs, choice_mass, measures, prompt_tokens"
        if with_top:
            cols += ", top_ids, top_probs"
        yield from conn.execute(f"SELECT {cols} FROM results")
    except sqlite3.DatabaseError as err:
        raise corrupt_store_error(path, err) from None
    finally:
        conn.close()


def read_results(run_dir: Path, *, with_top: bool = False) -> pd.DataFrame:
    """All rows of a run, every writer's store merged, one column per measure.

    Columns: question_id, cloze (index), label_probs (list), choice_mass, prompt_tokens,
    then the measures (NaN where a measure is missing), and ``top_ids``/``top_probs`` on request.
    """
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in store_files(run_dir):
        for row in _read_rows(path, with_top):
            qid = row[0]
            if qid in seen:  # shards never overlap; a re-split run may: first writer wins
                continue
            seen.add(qid)
            rec: dict[str, Any] = {"question_id": qid, "cloze": int(row[1]),
                                   "label_probs": json.loads(row[2]), "choice_mass": float(row[3]),
                                   "prompt_tokens": row[5]}
            rec.update({k: (np.nan if v is None else v) for k, v in json.loads(row[4]).items()})
            if with_top:
                rec["top_ids"] = None if row[6] is None else np.frombuffer(row[6], "<i4")
                rec["top_probs"] = None if row[7] is None else np.frombuffer(row[7], "<f4")
            records.append(rec)
    return pd.DataFrame.from_records(records)


def stored_ids(path: Path) -> set[str]:
    """The question ids in one writer's store (none while it is not created yet); BadInput
    (``corrupt_store_error``) for a store SQLite cannot read."""
    if not Path(path).exists():
        return set()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            if _being_created(conn):
                return set()
            return {r[0] for r in conn.execute("SELECT question_id FROM results")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise corrupt_store_error(path, err) from None


def done_ids(run_dir: Path) -> set[str]:
    """The question ids stored by any writer of the run."""
    return set().union(*(stored_ids(path) for path in store_files(run_dir)))


def count_done(run_dir: Path) -> int:
    """Questions of the run stored by any writer (each counted once, as ``read_results`` does)."""
    return len(done_ids(run_dir))


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True,
                                                          default=str))


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("no such run (manifest.json missing)", where=run_dir,
                       fix="run `alignuq runs list` to see the runs") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"manifest.json is not valid JSON ({err.msg})", where=path, line=err.lineno,
                       fix="restore it from a backup or start the run again") from None


# ---------------------------------------------------------------------- writer locks

_HOST = os.uname().nodename
_LOCK_SUFFIX = ".lock"


def lock_path(store_path: Path) -> Path:
    """A store's lock file (``results/<writer>.sqlite.lock``): its writer holds an exclusive
    flock on it while the store is open for writing, and writes who it is in it."""
    return store_path.with_suffix(store_path.suffix + _LOCK_SUFFIX)


def _lock_text(pid: int, host: str) -> str:
    return f"pid {pid} on {host}"


def _parse_lock_text(text: str) -> tuple[int | None, str | None]:
    parts = text.split()
    if len(parts) >= 4 and parts[0] == "pid" and parts[2] == "on":
        try:
            return int(parts[1]), parts[3]
        except ValueError:
            return None, parts[3]
    return None, None


def _holder_text(pid: int | None, host: str | None) -> str:
    return _lock_text(pid, host) if pid is not None else "another process"


@dataclass
class WriterLock:
    """A writer's lock file: who wrote it (pid and host, None where unreadable) and whether a
    process holds it now."""

    writer: str
    pid: int | None
    host: str | None
    held: bool

    @property
    def local(self) -> bool:
        return self.host is None or self.host == _HOST

    @property
    def holder(self) -> str:
        """``pid N on HOST`` (``another process`` when the lock file does not say)."""
        return _holder_text(self.pid, self.host)


def writer_locks(run_dir: Path) -> list[WriterLock]:
    """Every writer's lock file of the run, with whether a process holds it now."""
    folder = Path(run_dir) / RESULTS_DIR
    if not folder.is_dir():
        return []
    out = []
    for lock in sorted(folder.glob(f"*.sqlite{_LOCK_SUFFIX}")):
        try:
            pid, host = _parse_lock_text(lock.read_text(errors="replace"))
        except OSError:
            pid, host = None, None
        if pid is not None and host == _HOST and not _pid_alive(pid):
            held = False  # its writer is gone: no need to touch the lock
        else:
            held = _lock_held(lock)
        out.append(WriterLock(writer=lock.name.removesuffix(f".sqlite{_LOCK_SUFFIX}"), pid=pid,
                              host=host, held=held))
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        return err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
