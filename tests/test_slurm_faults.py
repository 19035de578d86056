"""A shard killed with SIGKILL mid-run resumes, when run again, with no question lost or
computed twice, and its numbers equal an uninterrupted run (the tiny seeded Llama with SmolLM2's
tokenizer, CPU).

The shard runs exactly what a Slurm array task runs (``engine.slurm_task.ShardTask``), in a child
process that SIGKILLs itself right after its second batch is committed (a deterministic point;
the real-Slurm variant with an external ``kill -9`` is in test_slurm.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from engine.run_spec import RunSpec
from engine.store import read_results
from tests.slurm_fixture import assert_same_results, make_trivia_dataset

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
N_QUESTIONS = 24

CHILD = textwrap.dedent("""
    import json, os, signal, sys
    sys.path.insert(0, sys.argv[3])
    spec, kill_after = json.loads(sys.argv[1]), int(sys.argv[2])
    if kill_after:
        import engine.store as store
        real_add, calls = store.ResultStore.add, [0]
        def add(self, rows):
            added = real_add(self, rows)          # committed
            calls[0] += 1
            if calls[0] >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return added
        store.ResultStore.add = add
    from engine.slurm_task import ShardTask
    print(json.dumps(ShardTask()(spec)), flush=True)
""")


def _shard(spec: RunSpec, kill_after: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec.to_dict()),
                           str(kill_after), str(REPO)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def _rows(store: Path) -> tuple[int, int]:
    conn = sqlite3.connect(store)
    try:
        return conn.execute("SELECT count(*), count(DISTINCT question_id) FROM results").fetchone()
    finally:
        conn.close()


def test_sigkilled_shard_resumes_without_loss_or_duplicates(tmp_path, data_dir, tiny_llama_dir):
    from engine.runner import execute_run

    ws, ref_ws = tmp_path / "ws", tmp_path / "ref"
    make_trivia_dataset(ws, data_dir, N_QUESTIONS)
    make_trivia_dataset(ref_ws, data_dir, N_QUESTIONS)
    ids = tuple(f"coane-{i:03d}" for i in range(1, N_QUESTIONS + 1))
    shard = RunSpec(workspace=str(ws), dataset="trivia", model=str(tiny_llama_dir),
                    batch_tokens=256, question_ids=ids, writer="shard-0000")

    killed = _shard(shard, kill_after=2)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = next((ws / "runs").iterdir())
    store = run_dir / "results" / "shard-0000.sqlite"
    n_before, distinct = _rows(store)
    assert 0 < n_before < N_QUESTIONS and distinct == n_before

    resumed = _shard(shard, kill_after=0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["n_done"] == N_QUESTIONS
    assert summary["n_new"] == N_QUESTIONS - n_before      # nothing computed twice
    assert _rows(store) == (N_QUESTIONS, N_QUESTIONS)      # nothing lost, nothing doubled

    reference = execute_run(RunSpec(workspace=str(ref_ws), dataset="trivia",
                                    model=str(tiny_llama_dir)), lambda e: None, threading.Event())
    assert Path(reference.run_dir).name == run_dir.name    # same settings, same run id
    assert_same_results(read_results(run_dir), read_results(Path(reference.run_dir)))
