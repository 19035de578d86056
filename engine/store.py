"""The results store: one SQLite file per writer inside a run folder, merged on read.

Run folder layout (``workspace/runs/RUN_ID/``)::

    manifest.json        model identity, template, spellings, measures, variant, seed, versions
    events.jsonl         the run's events, appended as they happen (``engine/events.py``)
    results/main.sqlite  one store per writer (a Slurm shard writes ``shard-0003.sqlite``)

A generation run (free recall, ``RunSpec.task == "generate"``) writes, per question, a results row
(its measures; no labels: ``cloze`` -1) and, in the same transaction, a ``generations`` row: the
answer text, why generation stopped, the generated token ids and texts, and each step's
distribution summary (``steps``: an ``.npz`` of per-step arrays, read without pickle), from which
every free-recall measure can be recomputed without the model (``engine/free_recall.py``).

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
import io
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

# The numbers are packed so that a run reads as columns: each row's measure_values holds float64
# values (little-endian), one per name of the info entry measure_names (a JSON list; NaN where a
# row has no value), and its label_probs the label probabilities as float64. Names are only ever
# appended, so a shorter row (written before a measure appeared) holds the first names' values.
# Reading 14,042 rows x 16 measures takes 10 ms packed, 31 ms as one REAL column per measure,
# 145 ms as the JSON text per row of the stores written before this format (their label
# probabilities: 22 ms as JSON, 2 ms packed). Those older stores are still read (is_legacy); a
# writer converts one to the packed format first, in one transaction.
_RESULTS_TABLE = """
CREATE TABLE IF NOT EXISTS results (
    run_id         TEXT NOT NULL,
    question_id    TEXT NOT NULL,
    cloze          INTEGER NOT NULL,
    label_probs    BLOB NOT NULL,
    choice_mass    REAL NOT NULL,
    measure_values BLOB NOT NULL,
    top_ids        BLOB,
    top_probs      BLOB,
    prompt_tokens  INTEGER,
    created        REAL NOT NULL,
    PRIMARY KEY (run_id, question_id)
)"""
_GENERATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS generations (
    run_id       TEXT NOT NULL,
    question_id  TEXT NOT NULL,
    answer       TEXT NOT NULL,
    stop         TEXT NOT NULL,
    token_ids    BLOB,
    token_texts  TEXT,
    steps        BLOB,
    created      REAL NOT NULL,
    PRIMARY KEY (run_id, question_id)
)"""
_INFO_TABLE = "CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
MEASURE_NAMES = "measure_names"     # the info key naming the positions of measure_values
LEGACY_MEASURES = "measures"        # the JSON text column of stores written before the packing


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


STOP_REASONS = ("close", "eos", "cap", "released")


@dataclass
class Generation:
    """One question's generated answer (free recall).

    ``answer``: the generated text, special tokens skipped, up to and including the token that
    stopped it; ``stop``: ``close`` (a token holding the closing bracket), ``eos``, ``cap``
    (max new tokens) or ``released`` (imported from published results, without tokens or steps);
    ``steps``: per-step arrays of equal first dimension (``engine/free_recall.py`` names them).
    """

    question_id: str
    answer: str
    stop: str
    token_ids: np.ndarray | None = None
    token_texts: list[str] | None = None
    steps: dict[str, np.ndarray] | None = None


def pack_steps(steps: dict[str, np.ndarray] | None) -> bytes | None:
    if steps is None:
        return None
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(values) for name, values in steps.items()})
    return buffer.getvalue()


def unpack_steps(blob: bytes | None) -> dict[str, np.ndarray] | None:
    if blob is None:
        return None
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def _generation_payload(run_id: str, gen: Generation, now: float) -> tuple:
    if gen.stop not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {gen.stop!r}")
    return (run_id, gen.question_id, gen.answer, gen.stop,
            None if gen.token_ids is None else np.asarray(gen.token_ids, "<i4").tobytes(),
            None if gen.token_texts is None else json.dumps(list(gen.token_texts)),
            pack_steps(gen.steps), now)


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
                self.conn.execute(_RESULTS_TABLE)
                self.conn.execute(_INFO_TABLE)
            check_integrity(self.conn, self.path)
            if write and is_legacy(self.conn):
                self._pack_legacy_rows()
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

    def add(self, rows: Iterable[ResultRow], generations: Iterable[Generation] = ()) -> int:
        """Insert rows (and a generation run's answers) in one transaction; rows already present
        are ignored. Returns rows added."""
        rows = list(rows)
        generations = list(generations)
        if any(np.isnan(r.choice_mass) for r in rows):
            # SQLite stores NaN as NULL, and INSERT OR IGNORE would drop such a row silently
            raise ValueError("choice_mass is NaN (a generation run's rows carry 0.0)")
        now = time.time()
        with _disk_errors(self.path), self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            names = self._names_for(r.measures for r in rows)
            payload = [(self.run_id, r.question_id, int(r.cloze),
                        np.asarray(r.label_probs, "<f8").tobytes(), float(r.choice_mass),
                        pack_measures(r.measures, names),
                        None if r.top_ids is None else np.asarray(r.top_ids, "<i4").tobytes(),
                        None if r.top_probs is None else np.asarray(r.top_probs, "<f4").tobytes(),
                        r.prompt_tokens, now) for r in rows]
            if generations:    # a scoring run's store has no generations table
                self.conn.execute(_GENERATIONS_TABLE)
                self.conn.executemany("INSERT OR IGNORE INTO generations VALUES (?,?,?,?,?,?,?,?)",
                                      [_generation_payload(self.run_id, g, now) for g in generations])
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?)", payload)
            return self.conn.total_changes - before

    def _names_for(self, measures: Iterable[dict[str, Any]]) -> list[str]:
        """The store's measure names, with any new ones of ``measures`` appended and saved
        (inside the caller's transaction, so names and rows are written together)."""
        names = measure_names(self.conn)
        new = [k for m in measures for k in m if k not in names]
        if new:
            names += list(dict.fromkeys(new))
            self.conn.execute("INSERT OR REPLACE INTO info VALUES (?, ?)",
                              (MEASURE_NAMES, json.dumps(names)))
        return names

    def _pack_legacy_rows(self) -> None:
        """Convert a store written before the packed format, in one transaction (a reader sees
        the old table or the new one, never half of it)."""
        cols = "run_id, question_id, cloze, label_probs, choice_mass, measures, top_ids, " \
               "top_probs, prompt_tokens, created"
        with _disk_errors(self.path), self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = self.conn.execute(f"SELECT {cols} FROM results").fetchall()
            measures = [json.loads(r[5]) for r in rows]
            self.conn.execute("ALTER TABLE results RENAME TO results_json")
            self.conn.execute(_RESULTS_TABLE)
            names = self._names_for(measures)
            self.conn.executemany(
                "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(*r[:3], np.asarray(json.loads(r[3]), "<f8").tobytes(), r[4],
                  pack_measures(m, names), *r[6:]) for r, m in zip(rows, measures, strict=True)])
            self.conn.execute("DROP TABLE results_json")

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


def pack_measures(measures: dict[str, Any], names: list[str]) -> bytes:
    """One row's ``measure_values``: float64 in the order of ``names``; NaN for a missing or
    non-finite value (the JSON stores kept those as null, read back as NaN)."""
    values = np.array([np.nan if measures.get(n) is None else float(measures[n]) for n in names],
                      "<f8")
    values[~np.isfinite(values)] = np.nan
    return values.tobytes()


def measure_names(conn: sqlite3.Connection) -> list[str]:
    """The names of a packed store's ``measure_values`` positions (``info.measure_names``)."""
    row = conn.execute("SELECT value FROM info WHERE key = ?", (MEASURE_NAMES,)).fetchone()
    return json.loads(row[0]) if row else []


def is_legacy(conn: sqlite3.Connection) -> bool:
    """Whether the store keeps its measures as JSON text per row (written before the packing)."""
    return any(col[1] == LEGACY_MEASURES for col in conn.execute("PRAGMA table_info(results)"))


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


def _read_store(path: Path, with_top: bool) -> tuple[list[str] | None, list[tuple]]:
    """A store's rows: ``question_id, cloze, label_probs, choice_mass, measures, prompt_tokens``
    (+ ``top_ids, top_probs``), and the names of the packed measures (None for a store written
    before the packing, whose ``label_probs`` and ``measures`` are JSON text)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as err:
        raise corrupt_store_error(path, err) from None
    try:
        check_integrity(conn, path)
        if _being_created(conn):
            return [], []
        legacy = is_legacy(conn)
        measures = LEGACY_MEASURES if legacy else "measure_values"
        cols = f"question_id, cloze, label_probs, choice_mass, {measures}, prompt_tokens"
        if with_top:
            cols += ", top_ids, top_probs"
        rows = conn.execute(f"SELECT {cols} FROM results").fetchall()
        return (None if legacy else measure_names(conn)), rows
    except sqlite3.DatabaseError as err:
        raise corrupt_store_error(path, err) from None
    finally:
        conn.close()


def read_results(run_dir: Path, *, with_top: bool = False) -> pd.DataFrame:
    """All rows of a run, every writer's store merged, one column per measure.

    Columns: question_id, cloze (index), label_probs (list), choice_mass, prompt_tokens,
    then the measures (NaN where a measure is missing), and ``top_ids``/``top_probs`` on request.
    """
    parts: list[tuple[list[tuple], pd.DataFrame]] = []
    seen: set[str] = set()
    for path in store_files(run_dir):
        names, rows = _read_store(path, with_top)
        # shards never overlap; a re-split run may: first writer wins
        rows = [row for row in rows if row[0] not in seen]
        seen.update(row[0] for row in rows)
        if rows:
            parts.append((rows, _measure_columns([row[4] for row in rows], names)))
    if not parts:
        return pd.DataFrame()
    rows = [row for part, _ in parts for row in part]
    frame = pd.DataFrame({
        "question_id": [row[0] for row in rows],
        "cloze": np.array([row[1] for row in rows], np.int64),
        "label_probs": [probs for part, _ in parts for probs in _label_probs(part)],
        "choice_mass": np.array([row[3] for row in rows], float),
        "prompt_tokens": [row[5] for row in rows],
    })
    measures = pd.concat([m for _, m in parts], ignore_index=True)
    frame = pd.concat([frame, measures], axis=1)
    if with_top:
        frame["top_ids"] = [None if row[6] is None else np.frombuffer(row[6], "<i4") for row in rows]
        frame["top_probs"] = [None if row[7] is None else np.frombuffer(row[7], "<f4") for row in rows]
    return frame


def _label_probs(rows: list[tuple]) -> list[list[float]]:
    """Each row's label probabilities, from one store (packed, or JSON text in an older one)."""
    cells = [row[2] for row in rows]
    if isinstance(cells[0], str):
        return json.loads("[" + ",".join(cells) + "]")
    if len({len(cell) for cell in cells}) == 1:   # every question with as many options
        return np.frombuffer(b"".join(cells), "<f8").reshape(len(cells), -1).tolist()
    return [np.frombuffer(cell, "<f8").tolist() for cell in cells]


def _measure_columns(values: list[Any], names: list[str] | None) -> pd.DataFrame:
    """One float column per measure from a store's ``measures`` cells: packed float64 rows
    named by ``names``, or (a JSON store: ``names`` None) JSON objects."""
    rows = pd.RangeIndex(len(values))
    if names is None:
        objects = json.loads("[" + ",".join(values) + "]")
        keys = dict.fromkeys(k for obj in objects for k in obj)
        return pd.DataFrame({k: np.array([obj.get(k) for obj in objects], float) for k in keys},
                            index=rows)
    matrix = np.full((len(values), len(names)), np.nan)
    lengths = np.array([len(v) // 8 for v in values])
    for width in np.unique(lengths[lengths > 0]):   # rows written before a name was appended
        at = np.flatnonzero(lengths == width)      # are shorter
        matrix[at, :width] = np.frombuffer(b"".join(values[i] for i in at), "<f8").reshape(-1, width)
    return pd.DataFrame(matrix, columns=names, index=rows)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone()[0] > 0


def _read_generations(path: Path, with_steps: bool) -> list[tuple]:
    cols = "question_id, answer, stop, token_ids, token_texts" + (", steps" if with_steps else "")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as err:
        raise corrupt_store_error(path, err) from None
    try:
        if not _has_table(conn, "generations"):
            return []
        return conn.execute(f"SELECT {cols} FROM generations").fetchall()
    except sqlite3.DatabaseError as err:
        raise corrupt_store_error(path, err) from None
    finally:
        conn.close()


def read_generations(run_dir: Path, *, with_steps: bool = False) -> pd.DataFrame:
    """A generation run's answers, every writer's store merged (first writer wins).

    Columns: question_id, answer, stop, n_tokens (NaN for released answers), token_ids (int32
    array or None), token_texts (list or None), and ``steps`` (dict of arrays or None) on request.
    Empty (no rows, those columns) for a scoring run.
    """
    columns = ["question_id", "answer", "stop", "n_tokens", "token_ids", "token_texts"]
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in store_files(run_dir):
        for row in _read_generations(path, with_steps):
            if row[0] in seen:
                continue
            seen.add(row[0])
            ids = None if row[3] is None else np.frombuffer(row[3], "<i4")
            record = {"question_id": row[0], "answer": row[1], "stop": row[2],
                      "n_tokens": np.nan if ids is None else len(ids), "token_ids": ids,
                      "token_texts": None if row[4] is None else json.loads(row[4])}
            if with_steps:
                record["steps"] = unpack_steps(row[5])
            records.append(record)
    return pd.DataFrame(records, columns=columns + (["steps"] if with_steps else []))


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
