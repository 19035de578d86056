"""EngineClient: the async API against a real engine, and its failure modes with fake engines."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from common import errors
from common.errors import ENGINE_DIED, ENGINE_START, AlignuqError
from engine import store
from engine.client import EngineClient, SyncEngineClient, default_argv, engine_argv
from engine.protocol import PROTOCOL_VERSION, Hello, LogNote, ProgressNote
from tests.engine_helpers import REPO, engine_env, mmlu_dataset


def test_engine_argv_from_prefix_settings(monkeypatch) -> None:
    monkeypatch.delenv("ALIGNUQ_ENGINE_CMD", raising=False)
    assert engine_argv(None) == default_argv() == [sys.executable, "-m", "engine.server", "--stdio"]
    assert engine_argv("") == default_argv()
    assert engine_argv("ssh gpu-node") == ["ssh", "gpu-node", "alignuq-engine", "--stdio"]
    assert engine_argv("srun --gres=gpu:1 -n1") == ["srun", "--gres=gpu:1", "-n1", "alignuq-engine",
                                                    "--stdio"]
    assert engine_argv("ssh gpu-node /opt/venv/bin/alignuq-engine") == [
        "ssh", "gpu-node", "/opt/venv/bin/alignuq-engine", "--stdio"]
    # engine commands written for the CLI's `engine serve` keep working
    assert engine_argv("ssh gpu-node /opt/venv/bin/alignuq") == [
        "ssh", "gpu-node", "/opt/venv/bin/alignuq", "engine", "serve", "--stdio"]
    assert engine_argv(["ssh", "h", "alignuq", "engine", "serve", "--stdio"]) == [
        "ssh", "h", "alignuq", "engine", "serve", "--stdio"]
    monkeypatch.setenv("ALIGNUQ_ENGINE_CMD", "ssh other")
    assert engine_argv(None)[:2] == ["ssh", "other"]


def _fake(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_start_failures_are_clear_engine_start_errors() -> None:
    async def go():
        with pytest.raises(AlignuqError) as missing:
            await EngineClient(argv=["/no/such/alignuq-engine"]).start()
        assert missing.value.code == ENGINE_START and "cannot start" in missing.value.message
        with pytest.raises(AlignuqError) as died:
            await EngineClient(argv=_fake("import sys; print('boom: no GPU here', file=sys.stderr); "
                                          "sys.exit(3)")).start()
        assert died.value.code == ENGINE_START
        assert "code 3" in died.value.message and "boom: no GPU here" in died.value.message
        assert died.value.fix
        with pytest.raises(AlignuqError) as mismatch:
            await EngineClient(argv=_fake(
                'import json; print(json.dumps({"type": "hello", "protocol": 999, "device": "cpu"}));'
                "import time; time.sleep(30)")).start()
        assert mismatch.value.code == ENGINE_START and "protocol 999" in mismatch.value.message
        with pytest.raises(AlignuqError) as silent:
            await EngineClient(argv=_fake("import time; time.sleep(30)"), hello_timeout=1).start()
        assert silent.value.code == ENGINE_START and "said nothing" in silent.value.message

    asyncio.run(go())


FAKE_ENGINE = r"""
import json, sys
from engine.protocol import PROTOCOL_VERSION
print("ssh banner: welcome to the cluster", flush=True)   # noise before hello is tolerated
print(json.dumps({"type": "hello", "protocol": PROTOCOL_VERSION, "device": "cpu", "pid": 1,
                  "host": "fake"}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req["method"] == "status":
        print(json.dumps({"type": "log", "id": req["id"], "level": "info", "message": "x" * (3 << 20)}), flush=True)
        print(json.dumps({"type": "result", "id": req["id"], "result": {"big": "y" * (5 << 20)}}), flush=True)
    elif req["method"] == "list_models":
        print("dying", file=sys.stderr, flush=True)
        sys.exit(9)
"""


def test_large_lines_noise_and_a_dying_engine() -> None:
    async def go():
        logs: list[LogNote] = []
        client = EngineClient(argv=_fake(FAKE_ENGINE))
        hello = await client.start()
        assert isinstance(hello, Hello) and hello.host == "fake"
        result = await client.request("status", on_notification=logs.append)
        assert len(result["big"]) == 5 << 20 and len(logs[0].message) == 3 << 20
        with pytest.raises(AlignuqError) as died:
            await client.list_models()
        assert died.value.code == ENGINE_DIED and "code 9" in died.value.message
        assert "dying" in died.value.message
        with pytest.raises(AlignuqError):
            await client.status()
        await client.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory, data_dir) -> Path:
    root = tmp_path_factory.mktemp("client-ws")
    mmlu_dataset(root, data_dir, "mmlu-24", n=24)
    # the cancelled run's: long enough that the cancel always lands before it ends
    mmlu_dataset(root, data_dir, "mmlu-400", n=400, subjects=("anatomy", "astronomy",
                                                               "college_biology", "prehistory"))
    return root


def test_async_run_progress_cancel_and_errors(ws_root, tiny_llama_dir) -> None:
    spec = {"workspace": str(ws_root), "dataset": "mmlu-24", "model": str(tiny_llama_dir),
            "batch_tokens": 64}

    async def go():
        progress: list[ProgressNote] = []
        logs: list[LogNote] = []
        async with EngineClient(env=engine_env(ws_root), cwd=REPO) as client:
            assert client.hello is not None and client.hello.pid == client.pid
            summary = await client.run({**spec, "limit": 8}, on_progress=progress.append,
                                       on_log=logs.append)
            assert summary["n_done"] == summary["n_total"] == 8
            assert progress and progress[-1].progress.done == 8 and logs
            # a second, cancelled run
            first_running = asyncio.Event()

            def on_progress(note: ProgressNote) -> None:
                if note.progress.phase == "running" and note.progress.done >= 1:
                    first_running.set()

            pending = await client.start_run({**spec, "dataset": "mmlu-400", "variant": "paper"},
                                             on_progress=on_progress)
            await asyncio.wait_for(first_running.wait(), 120)
            assert pending.id in client.pending_ids
            status = await client.status()
            assert status["running"][0]["id"] == pending.id
            assert await client.cancel(pending.id) is True
            with pytest.raises(AlignuqError) as cancelled:
                await pending.result()
            assert cancelled.value.code == errors.CANCELLED
            data = cancelled.value.data
            assert store.count_done(ws_root / "runs" / data["run_id"]) >= 1
            with pytest.raises(AlignuqError) as missing:
                await client.run({**spec, "model": str(ws_root / "nope")})
            assert missing.value.code == errors.MODEL_NOT_FOUND
            assert missing.value.fix == errors.DEFAULT_FIXES[errors.MODEL_NOT_FOUND]
        assert client.returncode == 0

    asyncio.run(go())


def test_sync_client_and_engine_killed_mid_request(ws_root, tiny_llama_dir) -> None:
    client = SyncEngineClient(env=engine_env(ws_root), cwd=REPO)
    try:
        hello = client.start()
        assert hello.protocol == PROTOCOL_VERSION
        assert client.status()["running"] == []
        started = []
        run = client.start_run({"workspace": str(ws_root), "dataset": "mmlu-24",
                                "model": str(tiny_llama_dir), "batch_tokens": 64, "seed": 11},
                               on_progress=lambda n: started.append(n))
        import time

        deadline = time.monotonic() + 120
        while not any(n.progress.phase == "running" for n in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(hello.pid, signal.SIGKILL)
        with pytest.raises(AlignuqError) as died:
            run.wait(timeout=60)
        assert died.value.code == ENGINE_DIED and "-9" in died.value.message
    finally:
        client.close()
