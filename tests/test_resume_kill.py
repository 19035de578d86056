"""SIGKILL of the engine mid-run, then running again: every question exactly once, and the same
numbers as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import sqlite3

import numpy as np
import pandas as pd

from common import errors
from engine import store
from engine.events import events_path
from engine.measure_names import measure_names
from engine.runs import INCOMPLETE, run_status
from engine.store import writer_locks
from tests.engine_helpers import EngineProc, mmlu_dataset

N = 36


def _spec(root, model, **kw):
    return {"workspace": str(root), "dataset": "mmlu-kill", "model": str(model), "variant": "paper",
            **kw}


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, data_dir, tiny_llama_dir) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for root in (whole, killed):
        mmlu_dataset(root, data_dir, "mmlu-kill", n=N, subjects=("astronomy", "virology"))

    # 1. the uninterrupted reference (large batches)
    ref = EngineProc(whole)
    try:
        assert ref.next()["type"] == "hello"
        final, _ = ref.request("a", "run", {"spec": _spec(whole, tiny_llama_dir, batch_tokens=4096)})
        assert final["type"] == "result", final
    finally:
        ref.close()

    # 2. small batches, SIGKILL once some rows are committed
    victim = EngineProc(killed)
    try:
        assert victim.next()["type"] == "hello"
        victim.send({"id": "b", "method": "run",
                     "params": {"spec": _spec(killed, tiny_llama_dir, batch_tokens=40)}})
        while True:
            msg = victim.next(timeout=120)
            assert msg["type"] not in ("result", "error"), msg
            if msg["type"] == "progress" and msg["phase"] == "running" and msg["done"] >= 5:
                break
        run_dir = killed / "runs" / msg["run_id"]
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(30)
    finally:
        if victim.proc.poll() is None:
            victim.proc.kill()
    n_before = store.count_done(run_dir)
    assert 5 <= n_before < N
    assert not any(h.held for h in writer_locks(run_dir))  # the kernel dropped the lock
    assert run_status(run_dir).status == INCOMPLETE

    # 3. run again: resumes
    again = EngineProc(killed)
    try:
        assert again.next()["type"] == "hello"
        final, _ = again.request("c", "run", {"spec": _spec(killed, tiny_llama_dir, batch_tokens=40)})
        assert final["type"] == "result", final
        assert final["result"]["n_done"] == N and final["result"]["n_new"] == N - n_before
    finally:
        again.close()

    # every question exactly once
    (db,) = store.store_files(run_dir)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT question_id, COUNT(*) FROM results GROUP BY question_id").fetchall()
    assert len(rows) == N and all(count == 1 for _, count in rows)

    # same numbers as the uninterrupted run
    assert (whole / "runs" / msg["run_id"]).is_dir(), "same settings must give the same run id"
    a = store.read_results(whole / "runs" / msg["run_id"]).set_index("question_id").sort_index()
    b = store.read_results(run_dir).set_index("question_id").sort_index()
    assert list(a.index) == list(b.index)
    assert (a["cloze"] == b["cloze"]).all()
    np.testing.assert_allclose(np.stack(a["label_probs"]), np.stack(b["label_probs"]), rtol=1e-4, atol=1e-6)
    for name in measure_names():
        x, y = a[name].to_numpy(float), b[name].to_numpy(float)
        assert (np.isnan(x) == np.isnan(y)).all(), name
        if name.startswith("topp_size"):
            # a set size can move by one where the cumulative sum sits on the boundary
            assert (np.abs(np.nan_to_num(x) - np.nan_to_num(y)) <= 1).all(), name
        else:
            np.testing.assert_allclose(np.nan_to_num(x), np.nan_to_num(y), rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    events = pd.read_json(events_path(run_dir), lines=True)
    assert events["type"].iloc[-1] == "finished"
    assert errors.CANCELLED not in set(events.get("code", pd.Series(dtype=str)).dropna())
