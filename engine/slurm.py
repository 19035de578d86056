"""Scale-out through Slurm job arrays (submitit), with requeue and dead-shard detection.

A Slurm run is an ordinary run folder plus ``slurm.json``. The questions not yet in the run's
stores are split into shards (round-robin over the dataset order, so the split is stable and the
shards are balanced); each shard is one task of a job array and runs the normal runner with its
subset of question ids and its own writer name (``shard-0003``), so its store is
``results/shard-0003.sqlite`` and its events ``events-shard-0003.jsonl``. Reads merge the stores.

- Requeue: the task is a ``submitit.helpers.Checkpointable``; on timeout (SIGUSR2 before the time
  limit) submitit requeues it with the same arguments, and on preemption Slurm requeues it. The
  rerun skips the questions its store already holds, so nothing is lost or computed twice.
- Dead shards (scancel, out of memory, node failure, SIGKILL): :func:`shard_states` asks Slurm
  (``squeue``, then ``sacct`` where accounting is on, each under a time limit) and falls back on
  the shard's events file, its log and its store; a job that Slurm no longer knows and that left
  no outcome is reported ``failed`` at once. Nothing here ever waits on ``job.result()``.
- Resubmission: submitting the same run again (same settings, so the same run id) splits only the
  questions still missing into new shards (numbered after the old ones); it is refused while a job
  of the run is still pending or running.

Each task runs ``engine.slurm_task.ShardTask`` on its node. Only that task and plain dicts (the
RunSpec) are pickled by submitit; user files never are.
Nothing here ever unpickles: submitit's result pickles lie in a run folder that colleagues may be
able to write to (a group workspace), and a planted one would run code as whoever reads it. A
shard's outcome is read from its events file (JSON) and its log (text) instead.
Torch-free, and never imports the runner: a submission plans the run with ``engine.plan``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from common.errors import BadInput
from datasets_io.atomic import write_text_atomic
from engine.events import (
    ErrorEvent,
    FinishedEvent,
    LogEvent,
    TerminalEvent,
    append_event,
    events_path,
    terminal_events,
)
from engine.plan import plan_run
from engine.run_spec import RunSpec
from engine.store import RESULTS_DIR, count_done, done_ids, stored_ids, writer_locks

SLURM_FILE = "slurm.json"
SUBMITIT_DIR = "slurm"            # run_dir/slurm: submitit's pickles, sbatch scripts and logs
SLURM_CMD_TIMEOUT_S = 20.0        # squeue/sacct/scancel never block longer than this
FORMAT_VERSION = 1

# Slurm job states -> our shard states
_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED",
            "SPECIAL_EXIT", "STOPPED", "RESIZING"}
_RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"}
_FAILED_REASONS = {
    "FAILED": "the shard's process exited with an error",
    "OUT_OF_MEMORY": "out of memory (Slurm killed the shard): request more with --mem or lower "
                     "--batch-tokens",
    "NODE_FAIL": "the node failed",
    "BOOT_FAIL": "the node failed to boot",
    "TIMEOUT": "hit the time limit and was not requeued: raise --time",
    "DEADLINE": "hit its deadline",
    "PREEMPTED": "preempted and not requeued",
    "REVOKED": "revoked by a sibling cluster",
}
STATES = ("pending", "running", "done", "failed", "cancelled", "unknown")
FINAL_STATES = {"done", "failed", "cancelled"}


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gpus_per_task: int = 0
    time: str = "01:00"           # HH:MM (also D-HH:MM or minutes)
    shards: int = 1
    array_parallelism: int = 16
    account: str | None = None
    qos: str | None = None
    cpus_per_task: int | None = None   # None: the cluster's default
    mem_gb: float | None = None        # None: the cluster's default
    job_name: str = "alignuq"
    signal_delay_s: int = 120          # SIGUSR2 this long before the time limit -> requeue
    max_requeue: int = 3               # timeouts a shard may be requeued after


def is_slurm_run(run_dir: Path) -> bool:
    return (Path(run_dir) / SLURM_FILE).exists()


# ---------------------------------------------------------------------------------------------
# sharding


def split_shards(question_ids: Sequence[str], n: int) -> list[list[str]]:
    """Round-robin split (shard k gets items k, k+n, ...): stable, balanced, order-preserving."""
    n = max(1, min(int(n), len(question_ids)))
    return [list(question_ids[k::n]) for k in range(n)] if question_ids else []


def time_minutes(text: str | int) -> int:
    """Slurm time strings to minutes: ``MM``, ``HH:MM``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``."""
    if isinstance(text, int):
        return text
    raw = str(text).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", raw)
    if not m:
        raise BadInput(f"invalid --time {raw!r}", fix="use HH:MM (e.g. 02:30) or D-HH:MM")
    days, a, b, c = m.groups()
    if days is None and b is None:           # "90" = minutes
        minutes = int(a)
    elif days is None and c is None:         # "HH:MM"
        minutes = int(a) * 60 + int(b)
    elif days is None:                       # "HH:MM:SS"
        minutes = int(a) * 60 + int(b) + (1 if int(c) else 0)
    else:                                    # "D-HH[:MM[:SS]]"
        minutes = int(days) * 1440 + int(a) * 60 + int(b or 0) + (1 if c and int(c) else 0)
    if minutes <= 0:
        raise BadInput(f"invalid --time {raw!r}: must be at least one minute", fix="use HH:MM")
    return minutes


# ---------------------------------------------------------------------------------------------
# submission


def _require_slurm() -> None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise BadInput("--slurm needs the submitit package, which is not installed",
                       fix="pip install 'alignuq[slurm]' (or pip install submitit)") from None
    if shutil.which("sbatch") is None:
        raise BadInput("--slurm needs Slurm's sbatch, which is not on PATH",
                       fix="run on a Slurm login node (or load the slurm module)")


def _plan(spec: RunSpec) -> tuple[str, Path, list[str]]:
    """(run_id, run_dir, the run's question ids in dataset order, after ``limit``)."""
    plan = plan_run(spec)
    return plan.run_id, Path(plan.run_dir), [str(q) for q in plan.target_ids]


def _busy_writers(run_dir: Path) -> list[str]:
    """Stores of the run whose writer lock is held now (a local engine or a running shard)."""
    return [f"{lock.writer}: {lock.holder}" for lock in writer_locks(run_dir) if lock.held]


def read_slurm_file(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / SLURM_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("not a Slurm run (slurm.json missing)", where=run_dir,
                       fix="submit it with `alignuq run ... --slurm`") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"slurm.json is not valid JSON ({err.msg})", where=path, line=err.lineno,
                       fix="the job ids are in the submitit logs under slurm/; cancel them with "
                           "scancel, move slurm.json aside and submit again") from None
    if not isinstance(data, dict) or "submissions" not in data:
        raise BadInput("slurm.json has no submissions", where=path,
                       fix="move it aside and submit the run again")
    return data


def _write_slurm_file(run_dir: Path, data: dict[str, Any]) -> None:
    write_text_atomic(Path(run_dir) / SLURM_FILE, json.dumps(data, indent=2, sort_keys=True))


def _abs_spec(spec: RunSpec) -> RunSpec:
    """Paths as the node will see them (absolute, on the shared filesystem)."""
    model = spec.model
    if model and Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    return replace(spec, workspace=str(Path(spec.workspace).expanduser().resolve()), model=model)


def _private_folder(folder: Path) -> Path:
    """The folder of submitit's pickles, made ours alone (0700, whatever the umask): a task
    unpickles its function from there and runs it as us, so no colleague may write in it."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():
        raise BadInput("the run's Slurm folder belongs to another user", where=folder,
                       fix="move it aside (a pickle in it would run as you on the node), then "
                           "submit again")
    folder.chmod(0o700)
    return folder


def private_folder_check(folder: Path) -> str:
    """The sbatch script's line that stops the task before it loads its pickle unless ``folder``
    is still ours and writable by no one else (a colleague who can write in the run folder
    could have swapped it while the job waited)."""
    q = shlex.quote(str(folder))
    return (f'if [ ! -O {q} ] || [ -n "$(find {q} -maxdepth 0 -perm /022)" ]; then '
            f"echo alignuq: error: {q} is not private to you, its pickles are not loaded >&2; "
            "exit 1; fi")


def make_executor(folder: Path, options: SlurmOptions, n_tasks: int) -> Any:
    """A submitit SlurmExecutor for this run: same Python, offline hub, small per-task threads."""
    import submitit

    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=options.max_requeue,
                                      python=shlex.quote(sys.executable))
    params: dict[str, Any] = {
        "job_name": options.job_name,
        "time": time_minutes(options.time),
        "array_parallelism": max(1, min(options.array_parallelism, n_tasks)),
        "signal_delay_s": options.signal_delay_s,
        "stderr_to_stdout": False,
        "setup": [
            private_folder_check(folder),
            "export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1",
            "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}",
            f"cd {shlex.quote(os.getcwd())} 2>/dev/null || true",
        ],
    }
    if options.partition:
        params["partition"] = options.partition
    if options.gpus_per_task:
        params["gres"] = f"gpu:{int(options.gpus_per_task)}"
    if options.cpus_per_task:
        params["cpus_per_task"] = int(options.cpus_per_task)
    if options.mem_gb:
        params["mem"] = (f"{int(options.mem_gb)}GB" if float(options.mem_gb).is_integer()
                         else f"{int(options.mem_gb * 1024)}MB")
    extra: dict[str, Any] = {}
    if options.account:
        extra["account"] = options.account
    if options.qos:
        extra["qos"] = options.qos
    if extra:
        params["additional_parameters"] = extra
    executor.update_parameters(**params)
    return executor


def submit_run(spec: RunSpec, options: SlurmOptions) -> dict:
    """Submit the run as a job array; returns {"run_id", "run_dir", "job_ids", "shards", ...}.

    Only questions not yet in the run's stores are submitted; a run that is complete submits
    nothing (``job_ids`` empty). Refused while a job of an earlier submission is still active.
    """
    _require_slurm()
    if options.shards < 1:
        raise BadInput(f"--shards must be at least 1 (got {options.shards})", fix="pass --shards N")
    if options.array_parallelism < 1:
        raise BadInput("--array-parallelism must be at least 1", fix="pass --array-parallelism K")
    minutes = time_minutes(options.time)
    spec = _abs_spec(spec)
    run_id, run_dir, all_ids = _plan(spec)
    run_dir = Path(run_dir)
    previous = read_slurm_file(run_dir) if is_slurm_run(run_dir) else None
    _refuse_if_busy(run_id, run_dir, previous is not None)
    done = done_ids(run_dir)
    remaining = [q for q in all_ids if q not in done]
    first = 0
    if previous:
        first = 1 + max((s["shard"] for sub in previous["submissions"] for s in sub["shards"]),
                        default=-1)
    chunks = split_shards(remaining, options.shards)
    result: dict[str, Any] = {"run_id": run_id, "run_dir": str(run_dir), "job_ids": [],
                              "array_job_id": None, "shards": [], "n_remaining": len(remaining),
                              "n_total": len(all_ids)}
    if not chunks:
        run_dir.mkdir(parents=True, exist_ok=True)
        append_event(run_dir, LogEvent("info", "nothing to submit: every question is done"))
        return result

    folder = _private_folder(run_dir / SUBMITIT_DIR)
    # limit is already applied to all_ids (plan_run would apply it again to each subset)
    specs = [replace(spec, question_ids=tuple(chunk), writer=f"shard-{first + k:04d}",
                     limit=None, extra={**spec.extra, "slurm_run_n_total": len(all_ids),
                                        "slurm_shard": first + k}).to_dict()
             for k, chunk in enumerate(chunks)]
    job_ids = _submit_array(folder, options, specs, run_dir)
    array_id = job_ids[0].split("_")[0]
    shards = [{"shard": first + k, "writer": specs[k]["writer"], "job_id": job_ids[k],
               "n_total": len(chunks[k]), "question_ids": list(chunks[k])}
              for k in range(len(chunks))]
    submission = {"array_job_id": array_id, "submitted": time.time(), "minutes": minutes,
                  "options": asdict(options), "folder": str(folder), "python": sys.executable,
                  "shards": shards}
    data = previous or {"version": FORMAT_VERSION, "run_id": run_id, "run_dir": str(run_dir),
                        "submissions": []}
    data["n_total"] = len(all_ids)
    data["submissions"].append(submission)
    _write_slurm_file(run_dir, data)
    append_event(run_dir, LogEvent("info", f"submitted Slurm job array {array_id}: "
                                           f"{len(shards)} shard(s), {len(remaining)} question(s)"))
    result.update(job_ids=job_ids, array_job_id=array_id,
                  shards=[{k: v for k, v in s.items() if k != "question_ids"} for s in shards])
    return result


def _refuse_if_busy(run_id: str, run_dir: Path, submitted_before: bool) -> None:
    """Refuse a submission while shards of an earlier one are pending or running, or while
    another process writes the run."""
    if submitted_before:
        active = [s for s in shard_states(run_dir) if s["state"] in ("pending", "running")]
        if active:
            ids = sorted({s["job_id"] for s in active})
            raise BadInput(f"run {run_id} still has {len(active)} shard(s) pending or running "
                           f"(jobs {', '.join(ids)})", where=run_dir,
                           fix=f"wait for them (`alignuq runs show {run_id}`) or cancel them "
                               f"(`alignuq runs cancel {run_id}`), then submit again")
    busy = _busy_writers(run_dir)
    if busy:
        raise BadInput(f"run {run_id} is being written right now ({'; '.join(busy)})",
                       where=run_dir, fix="wait for that run to finish or cancel it "
                                          f"(`alignuq runs cancel {run_id}`), then submit again")


def _submit_array(folder: Path, options: SlurmOptions, specs: list[dict],
                  run_dir: Path) -> list[str]:
    """Submit one array task per shard spec; the job id of each task."""
    from engine.slurm_task import ShardTask

    executor = make_executor(folder, options, len(specs))
    try:
        jobs = executor.map_array(ShardTask(), specs)
    except Exception as err:  # sbatch refused (bad partition, account, qos, gres ...)
        message = str(err).strip().splitlines()
        detail = next((line for line in reversed(message) if "error" in line.lower()),
                      message[-1] if message else type(err).__name__)
        raise BadInput(f"Slurm refused the job array: {detail.strip()}", where=run_dir,
                       fix="check --partition, --account, --qos, --gpus-per-task and --time "
                           "against `sinfo` and your cluster's limits") from None
    return [str(job.job_id) for job in jobs]


# ---------------------------------------------------------------------------------------------
# state


def _slurm_cmd(argv: list[str], timeout: float | None = None) -> tuple[int, str, str]:
    """Run a Slurm client command under a time limit; (rc, stdout, stderr). rc -1: no answer."""
    if timeout is None:
        timeout = float(os.environ.get("ALIGNUQ_SLURM_CMD_TIMEOUT", SLURM_CMD_TIMEOUT_S))
    if shutil.which(argv[0]) is None:
        return -1, "", f"{argv[0]} not found on PATH"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "", f"{argv[0]} did not answer within {timeout:.0f} s"
    except OSError as err:
        return -1, "", f"{argv[0]} failed ({err})"
    return proc.returncode, proc.stdout, proc.stderr


def _expand(job_id: str) -> list[str]:
    """``123_[0-2,5%2]`` -> ``123_0 123_1 123_2 123_5``; a plain id is itself."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not m:
        return [job_id]
    base, spec = m.groups()
    spec = spec.split("%")[0]
    out: list[str] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out += [f"{base}_{i}" for i in range(int(a), int(b) + 1)]
        elif part:
            out.append(f"{base}_{part}")
    return out


def query_squeue(array_ids: Sequence[str]) -> tuple[dict[str, dict[str, str]], str | None]:
    """{task_id: {state, reason}} for the jobs Slurm's controller still holds (incl. recently
    finished ones, kept for MinJobAge); an error line where squeue did not answer."""
    if not array_ids:
        return {}, None
    out: dict[str, dict[str, str]] = {}
    rc, stdout, stderr = _slurm_cmd(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(array_ids),
                                     "-o", "%i|%T|%r"])
    if rc != 0:
        if "Invalid job id" in stderr:  # every one of them is gone from the controller
            return {}, None
        return {}, (stderr.strip().splitlines() or ["squeue failed"])[-1]
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3:
            continue
        for tid in _expand(parts[0]):
            out[tid] = {"state": parts[1].split()[0], "reason": parts[2], "source": "squeue"}
    return out, None


def query_sacct(array_ids: Sequence[str]) -> tuple[dict[str, dict[str, str]], str | None]:
    """{task_id: {state, reason, exit_code}} from accounting (slurmdbd); ({}, why) without it."""
    if not array_ids:
        return {}, None
    rc, stdout, stderr = _slurm_cmd(["sacct", "-X", "-P", "-n", "-j", ",".join(array_ids),
                                     "-o", "JobID,State,ExitCode,Reason"])
    if rc != 0:
        return {}, (stderr.strip().splitlines() or ["sacct failed"])[-1]
    out: dict[str, dict[str, str]] = {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 4:
            continue
        state_words = parts[1].split()
        for tid in _expand(parts[0]):
            out[tid] = {"state": state_words[0] if state_words else "", "raw": parts[1],
                        "exit_code": parts[2], "reason": parts[3], "source": "sacct"}
    return out, None


def _shard_outcome(event: TerminalEvent | None, log: Path) -> tuple[str, str] | None:
    """How a shard's process ended: ("finished", "") or ("error", what), from ``event``, the last
    terminal event in its events file, else from a Python traceback in its log (a crash before
    the runner started); None if neither says."""
    if isinstance(event, FinishedEvent):
        return "finished", ""
    if isinstance(event, ErrorEvent):
        return "error", f"{event.code}: {event.message}"
    crash = _traceback_line(_log_tail(log))
    return ("error", crash) if crash else None


def _traceback_line(lines: list[str]) -> str:
    """The exception line that ends the last Python traceback in ``lines``, without our own
    exception classes' module names ('' if there is none)."""
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call")]
    if not starts:
        return ""
    line = next((ln.strip() for ln in lines[starts[-1] + 1:] if ln.strip() and
                 not ln[0].isspace()), "")
    for prefix in ("common.errors.AlignuqError: ", "common.errors.BadInput: "):
        if line.startswith(prefix):
            return line[len(prefix):]
    return line


def _stored_count(path: Path) -> tuple[int, str | None]:
    """Questions in a shard's store, and why it cannot be read (None when it can)."""
    try:
        return len(stored_ids(path)), None
    except BadInput as err:
        return 0, err.message


def _last_event_time(run_dir: Path, writer: str) -> float | None:
    path = events_path(run_dir, writer)
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _classify(shard: dict[str, Any], slurm: dict[str, str] | None,
              outcome: tuple[str, str] | None, n_done: int, log: Path) -> tuple[str, str]:
    """(state, reason) of one shard from what Slurm, the shard's outcome and the store say."""
    complete = n_done >= shard["n_total"]
    if slurm:
        st = slurm["state"].rstrip("+")
        reason = slurm.get("reason") or ""
        reason = "" if reason in ("None", "(null)") else reason
        if st in _PENDING:
            why = "requeued" if st.startswith("REQUEUE") else reason or st.lower()
            return "pending", why
        if st in _RUNNING:
            return "running", "" if st == "RUNNING" else st.lower()
        if st == "COMPLETED":
            if complete:
                return "done", ""
            if outcome and outcome[0] == "error":
                return "failed", outcome[1]
            return "failed", (f"the job ended with {n_done} of {shard['n_total']} questions "
                              f"stored; submit the run again to finish it")
        if st == "CANCELLED":
            by = slurm.get("raw", "")
            return "cancelled", (by.lower() if by.startswith("CANCELLED by") else "cancelled") + \
                f"; {n_done} of {shard['n_total']} stored"
        if st in _FAILED_REASONS or st:
            why = _FAILED_REASONS.get(st, st.lower())
            code = slurm.get("exit_code", "")
            if code and ":" in code:
                status, sig = code.split(":", 1)
                if sig not in ("", "0"):
                    why += f" (killed by signal {sig})"
                elif status not in ("", "0"):
                    why += f" (exit code {status})"
            if outcome and outcome[0] == "error":
                why += f": {outcome[1]}"
            else:
                hint = _log_hint(log)
                why += f": {hint}" if hint else ""
                why += f"; see {log}"
            return "failed", why + "; submit the run again to resume"
    # Slurm no longer knows the job (or cannot be asked): the shard's outcome and the store
    if outcome is not None:
        if outcome[0] == "finished" and complete:
            return "done", ""
        if outcome[0] == "error":
            return "failed", outcome[1]
        return "failed", (f"the job ended with {n_done} of {shard['n_total']} questions stored; "
                          f"submit the run again to finish it")
    if complete:
        return "done", ""
    hint = _log_hint(log)
    return "failed", ("lost: Slurm no longer knows the job and it left no result"
                      + (f" ({hint})" if hint else " (killed, out of memory or node failure?)")
                      + f"; see {log}; submit the run again to resume")


def _log_tail(log: Path) -> list[str]:
    """The last lines of a task's log (read as text; [] if there is none)."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            return f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _log_hint(log: Path) -> str:
    """The last error line Slurm wrote into the task's log (``srun: error: vm: task 0: Killed``,
    ``slurmstepd: error: Detected 1 oom-kill event(s)``), if any."""
    hits = [ln.strip() for ln in _log_tail(log) if ("srun: error" in ln or "slurmstepd" in ln)
            and ("error" in ln.lower() or "oom" in ln.lower())]
    return hits[-1] if hits else ""


def shard_states(run_dir: Path) -> list[dict]:
    """One dict per shard of the latest submission:
    {"shard", "job_id", "state", "reason", "n_done", "n_total", "writer", "slurm_state",
    "last_event_age_s", "log"}. ``state`` is one of pending, running, done, failed, cancelled,
    unknown (Slurm did not answer within its time limit). Never blocks longer than about
    2 x SLURM_CMD_TIMEOUT_S.
    """
    run_dir = Path(run_dir)
    data = read_slurm_file(run_dir)
    if not data["submissions"]:
        return []
    sub = data["submissions"][-1]
    folder = Path(sub.get("folder") or run_dir / SUBMITIT_DIR)
    array_ids = [sub["array_job_id"]]
    known, squeue_err = query_squeue(array_ids)
    missing = [s for s in sub["shards"] if s["job_id"] not in known]
    acct: dict[str, dict[str, str]] = {}
    if missing or known:
        acct, _ = query_sacct(array_ids)
    terminal = terminal_events(run_dir)
    now = time.time()
    states: list[dict] = []
    array_id = sub["array_job_id"]
    for shard in sub["shards"]:
        jid = shard["job_id"]
        # tasks never split off the array (e.g. cancelled while pending) are reported under the
        # array's own id
        slurm = known.get(jid) or known.get(array_id)
        if jid not in acct and array_id in acct:
            acct[jid] = acct[array_id]
        # sacct has the exit code and the "CANCELLED by" detail: prefer it for finished jobs
        if jid in acct and (slurm is None or slurm["state"] not in _PENDING | _RUNNING):
            slurm = acct[jid]
        n_done, store_err = _stored_count(run_dir / RESULTS_DIR / f"{shard['writer']}.sqlite")
        log = folder / f"{jid}_0_log.err"
        outcome = _shard_outcome(terminal.get(shard["writer"]), log) if slurm is None or \
            slurm["state"] not in _PENDING | _RUNNING else None
        if slurm is None and squeue_err and outcome is None and n_done < shard["n_total"]:
            state, reason = "unknown", f"cannot ask Slurm: {squeue_err}"
        else:
            state, reason = _classify(shard, slurm, outcome, n_done, log)
        if store_err:
            reason = f"{store_err}; {reason}" if reason else store_err
        last = _last_event_time(run_dir, shard["writer"])
        states.append({"shard": shard["shard"], "job_id": jid, "state": state, "reason": reason,
                       "n_done": n_done, "n_total": shard["n_total"], "writer": shard["writer"],
                       "slurm_state": (slurm or {}).get("state", ""),
                       "last_event_age_s": None if last is None else round(now - last, 1),
                       "log": str(log)})
    return states


def run_state(run_dir: Path) -> dict[str, Any]:
    """The whole Slurm run in one word, for ``runs list/show/watch``: {"status": running | done |
    failed | cancelled | unknown, "reason", "n_done", "n_total", "shards"}. ``n_total`` is the
    run's (a shard's manifest only knows its own share)."""
    run_dir = Path(run_dir)
    data = read_slurm_file(run_dir)
    states = shard_states(run_dir)
    n_done = count_done(run_dir)
    n_total = data.get("n_total")
    if n_total is None:
        n_total = sum(s["n_total"] for s in data["submissions"][0]["shards"]) \
            if data["submissions"] else 0
    by = {k: [s for s in states if s["state"] == k] for k in STATES}
    active = by["pending"] + by["running"]
    if active:
        status = "running"
        reason = f"{len(by['running'])} shard(s) running, {len(by['pending'])} pending"
    elif by["unknown"]:
        status, reason = "unknown", by["unknown"][0]["reason"]
    elif n_done >= n_total:
        status, reason = "done", ""
    elif by["failed"]:
        first = by["failed"][0]
        status, reason = "failed", f"shard {first['shard']} ({first['job_id']}): {first['reason']}"
    elif by["cancelled"]:
        status, reason = "cancelled", f"{len(by['cancelled'])} shard(s) cancelled"
    else:
        status, reason = "failed", f"{n_done} of {n_total} questions stored; submit again"
    return {"status": status, "reason": reason, "n_done": n_done, "n_total": n_total,
            "shards": states}


def all_final(states: Sequence[dict]) -> bool:
    return all(s["state"] in FINAL_STATES for s in states)


def wait_run(run_dir: Path, *, timeout_s: float, poll_s: float = 5.0,
             on_states: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """Poll :func:`shard_states` until every shard is done, failed or cancelled, or the deadline
    passes; returns the last states (check :func:`all_final`). Never waits longer than
    ``timeout_s`` plus one poll."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = shard_states(run_dir)
        if on_states:
            on_states(states)
        if all_final(states) or time.monotonic() >= deadline:
            return states
        time.sleep(max(0.2, min(poll_s, deadline - time.monotonic())))


def cancel_run(run_dir: Path) -> list[str]:
    """Cancel every job of the run that is still pending or running; returns their ids."""
    run_dir = Path(run_dir)
    data = read_slurm_file(run_dir)
    array_ids = [sub["array_job_id"] for sub in data["submissions"]]
    known, err = query_squeue(array_ids)
    if err:
        raise BadInput(f"cannot ask Slurm which jobs are active: {err}", where=run_dir,
                       fix="check that Slurm answers (`squeue`), then try again")
    ours = {s["job_id"] for sub in data["submissions"] for s in sub["shards"]}
    active = sorted(j for j, info in known.items()
                    if (j in ours or j in array_ids) and info["state"] in _PENDING | _RUNNING)
    if active:
        rc, _, stderr = _slurm_cmd(["scancel", *active])
        if rc != 0 and "already completing or completed" not in stderr:
            raise BadInput(f"scancel failed: {(stderr.strip().splitlines() or ['?'])[-1]}",
                           where=run_dir, fix="cancel the jobs with scancel " + " ".join(active))
        append_event(run_dir, LogEvent("warning", f"cancelled Slurm jobs {', '.join(active)}"))
    return active
