"""`alignuq run` end to end: the CLI drives a real engine child on a real (small) dataset."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine import store
from engine.measure_names import measure_names
from engine.protocol import CANCEL_ACK
from tests.engine_helpers import REPO, engine_env, mmlu_dataset


@pytest.fixture
def small(ws_dir, data_dir) -> str:
    return mmlu_dataset(ws_dir, data_dir, "mmlu-12", n=12)


def test_run_then_run_again_resumes_with_nothing_new(cli, ws_dir, small, tiny_llama_dir) -> None:
    res = cli("run", "--dataset", small, "--model", tiny_llama_dir, "--batch-tokens", "512")
    assert res.code == 0, res.err
    assert "12/12 questions done (12 new)" in res.out
    run_id = res.out.split()[1].rstrip(":")
    run_dir = ws_dir / "runs" / run_id
    assert store.count_done(run_dir) == 12
    assert "engine ready" in res.err
    again = cli("run", "--dataset", small, "--model", tiny_llama_dir, "--format", "json")
    assert again.code == 0, again.err
    summary = json.loads(again.out)
    assert summary["run_id"] == run_id and summary["n_new"] == 0 and summary["n_done"] == 12


@pytest.mark.parametrize("args, code, fragment", [
    (["--dataset", "no-such-dataset"], 2, "no dataset named 'no-such-dataset'"),
    (["--model", "/no/such/model"], 2, "MODEL_NOT_FOUND"),
    (["--device", "tpu"], 2, "unknown device"),
    (["--engine-cmd", "/no/such/engine-prefix"], 1, "ENGINE_START"),
])
def test_bad_input_is_one_line_and_the_right_exit_code(cli, small, tiny_llama_dir, args, code,
                                                       fragment) -> None:
    base = {"--dataset": small, "--model": str(tiny_llama_dir)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for kv in base.items() for x in kv]
    res = cli("run", *argv)
    assert res.code == code, (res.out, res.err)
    errors_lines = [line for line in res.err.splitlines() if line.startswith("alignuq: error")]
    assert len(errors_lines) == 1 and fragment in errors_lines[0], res.err
    assert "Traceback" not in res.err


N_INTERRUPTED = 60   # SmolLM2 runs them in seconds: the resume stays short


def _default_sigint() -> None:
    """In the child: Ctrl-C's default action. A suite started in the background (`nohup ... &`)
    hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_run(ws_dir: Path, model: Path) -> tuple[subprocess.Popen, str, Path]:
    """Start `alignuq run` on mmlu-interrupted (N_INTERRUPTED questions); SIGINT once 3 rows are stored; the process, its
    stderr and the run folder."""
    argv = [sys.executable, "-m", "tui.cli.main", "run", "--dataset", "mmlu-interrupted", "--model",
            str(model), "--batch-tokens", "40"]
    proc = subprocess.Popen(argv, cwd=REPO, env=engine_env(ws_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 180
        run_dir = None
        while time.monotonic() < deadline:
            dirs = [d for d in (ws_dir / "runs").glob("*") if store.store_files(d)]
            if dirs and store.count_done(dirs[0]) >= 3:
                run_dir = dirs[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert run_dir is not None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, err, run_dir


def test_ctrl_c_cancels_cleanly_and_the_same_command_resumes(tmp_path, data_dir, smollm_dir,
                                                            cli, monkeypatch) -> None:
    # SmolLM2, not the tiny Llama: the tiny model answered 190 questions a second, so on a
    # loaded machine all three attempts ended before the signal landed (one CI run)
    for attempt in range(3):
        ws_dir = tmp_path / f"ws-{attempt}"
        mmlu_dataset(ws_dir, data_dir, "mmlu-interrupted", n=N_INTERRUPTED)
        proc, err, run_dir = _interrupt_run(ws_dir, smollm_dir)
        if not (proc.returncode == 0 and store.count_done(run_dir) == N_INTERRUPTED):
            break
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err and run_dir.name in err
    assert err.count("cancelling") == 1, err  # ours; the engine's acknowledgement is not repeated
    assert err.rstrip().splitlines()[-1].startswith(f"alignuq: run {run_dir.name} cancelled")
    kept = store.count_done(run_dir)
    assert 3 <= kept < N_INTERRUPTED
    monkeypatch.setenv("ALIGNUQ_WORKSPACE", str(ws_dir))
    res = cli("run", "--dataset", "mmlu-interrupted", "--model", smollm_dir, "--format", "json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["n_done"] == N_INTERRUPTED and summary["n_new"] == N_INTERRUPTED - kept


def test_ctrl_c_in_a_terminal_leaves_the_cancelled_line_last(tmp_path, data_dir,
                                                             smollm_dir) -> None:
    # with a terminal the progress bar is live: nothing may redraw after the cancelled line
    import os
    import pty
    import select

    ws_dir = tmp_path / "ws"
    mmlu_dataset(ws_dir, data_dir, "mmlu-600", n=600, subjects=("high_school_biology", "prehistory"))
    argv = [sys.executable, "-m", "tui.cli.main", "run", "--dataset", "mmlu-600", "--model",
            str(smollm_dir), "--batch-tokens", "40"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        _default_sigint()
        os.chdir(REPO)
        os.execve(sys.executable, argv, {**engine_env(ws_dir), "COLUMNS": "120", "TERM": "xterm"})
    output, sent, status = b"", False, None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and status is None:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    output += os.read(fd, 65536)
                except OSError:  # the pty closed: every process holding it has gone
                    pass
            dirs = [d for d in (ws_dir / "runs").glob("*") if store.store_files(d)]
            if not sent and dirs and store.count_done(dirs[0]) >= 3:
                os.write(fd, b"\x03")  # Ctrl-C: SIGINT to the foreground process group
                sent = True
            done_pid, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if done_pid else None
        while select.select([fd], [], [], 0.2)[0]:  # what it wrote last
            output += os.read(fd, 65536)
    except OSError:  # the pty closed after the last of it was read
        pass
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode("utf-8", "replace")
    assert sent and status == 130, text[-2000:]
    assert text.count("Ctrl-C again") == 1 and CANCEL_ACK not in text, text[-2000:]
    after = text[text.index("cancelled at"):]
    assert "━" not in after and "running" not in after, after  # no bar drawn after it


def test_slurm_flags_build_the_options_and_print_how_to_follow(cli, ws_dir, small, monkeypatch) -> None:
    from engine import slurm

    seen = {}

    def fake_submit(spec, options):
        seen["spec"], seen["options"] = spec, options
        return {"run_id": "mmlu-12-x-1234", "run_dir": str(ws_dir / "runs" / "mmlu-12-x-1234"),
                "job_ids": ["101_0", "101_1"]}

    monkeypatch.setattr(slurm, "submit_run", fake_submit)
    res = cli("run", "--dataset", small, "--model", "some/model", "--slurm", "--partition", "gpu",
              "--gpus-per-task", "1", "--time", "02:30", "--shards", "2", "--array-parallelism", "4",
              "--account", "acc", "--qos", "high", "--store-journal", "delete", "--limit", "10",
              "--cpus-per-task", "2", "--mem", "8")
    assert res.code == 0, res.err
    assert seen["options"] == slurm.SlurmOptions(partition="gpu", gpus_per_task=1, time="02:30",
                                                 shards=2, array_parallelism=4, account="acc",
                                                 qos="high", cpus_per_task=2, mem_gb=8.0)
    spec = seen["spec"]
    assert (spec.dataset, spec.model, spec.limit, spec.store_journal) == (small, "some/model", 10, "delete")
    assert spec.workspace == str(ws_dir.resolve())
    assert "101_0 101_1" in res.out and "alignuq runs watch mmlu-12-x-1234" in res.out


@pytest.mark.slow
def test_smollm2_end_to_end_through_the_cli(cli, ws_dir, data_dir, smollm_dir) -> None:
    mmlu_dataset(ws_dir, data_dir, "mmlu-8", n=8)
    res = cli("run", "--dataset", "mmlu-8", "--model", smollm_dir, "--format", "json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["n_done"] == 8
    frame = store.read_results(Path(summary["run_dir"]))
    assert len(frame) == 8
    # a real instruct model answers with a label: most of the next-token mass is on A-D
    assert frame["choice_mass"].median() > 0.2
    for name in measure_names():
        assert np.isfinite(frame[name].to_numpy(float)).all(), name
