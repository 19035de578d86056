"""A real `alignuq engine serve --stdio` subprocess on the tiny Llama, spoken to line by line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from common import errors
from engine import store
from engine.events import events_path
from engine.protocol import MESSAGE_TYPES, PROTOCOL_VERSION
from tests.engine_helpers import EngineProc, mmlu_dataset


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory, data_dir) -> Path:
    root = tmp_path_factory.mktemp("server-ws")
    mmlu_dataset(root, data_dir, "mmlu-40", n=40)
    return root


@pytest.fixture
def engine(ws_root):
    proc = EngineProc(ws_root)
    hello = proc.next(timeout=120)
    proc.hello = hello
    yield proc
    proc.close(timeout=60)
    assert proc.bad == [], f"non-protocol lines on stdout: {proc.bad}"
    for raw in proc.raw:
        assert json.loads(raw)["type"] in MESSAGE_TYPES


def spec(ws_root: Path, model: Path | str, **kw) -> dict:
    return {"workspace": str(ws_root), "dataset": kw.pop("dataset", "mmlu-40"), "model": str(model),
            **kw}


def progress_of(seen, rid):
    return [(t, m) for t, m in seen if m.get("type") == "progress" and m.get("id") == rid]


def test_hello_says_protocol_versions_and_device(engine) -> None:
    hello = engine.hello
    assert hello["type"] == "hello" and hello["protocol"] == PROTOCOL_VERSION
    assert hello["device"] in ("cpu", "cuda")
    assert isinstance(hello["cuda_devices"], list)
    for key in ("torch", "transformers", "python"):
        assert isinstance(hello[key], str) and hello[key]
    assert hello["pid"] == engine.proc.pid and hello["host"]


def test_run_streams_progress_every_second_then_one_result(engine, ws_root, tiny_llama_dir) -> None:
    final, seen = engine.request("r1", "run", {"spec": spec(ws_root, tiny_llama_dir, limit=30,
                                                            batch_tokens=96)})
    assert final["type"] == "result", final
    summary = final["result"]
    assert summary["n_done"] == summary["n_total"] == 30 and summary["status"] == "done"
    notes = progress_of(seen, "r1")
    assert notes, "no progress at all"
    times = [t for t, _ in notes] + [seen[-1][0]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) <= 1.6, f"progress gap of {max(gaps):.2f} s"
    running = [m for _, m in notes if m["phase"] == "running"]
    assert running and running[-1]["total"] == 30
    assert all(m["run_id"] == summary["run_id"] for m in running)
    assert [m["done"] for m in running] == sorted(m["done"] for m in running)
    assert any(m["rate"] > 0 for m in running)
    assert store.count_done(Path(summary["run_dir"])) == 30
    # exactly one final message for the request
    finals = [m for _, m in engine.lines if m.get("id") == "r1" and m["type"] in ("result", "error")]
    assert len(finals) == 1
    # ... and nothing of the request after it
    engine.request("after", "status")
    mine = [m for _, m in engine.lines if m.get("id") == "r1"]
    assert mine[-1]["type"] == "result"


def test_cancel_answers_cancelled_and_keeps_rows(engine, ws_root, tiny_llama_dir) -> None:
    engine.send({"id": "run", "method": "run",
                 "params": {"spec": spec(ws_root, tiny_llama_dir, batch_tokens=48, variant="paper")}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        msg = engine.next(timeout=60)
        if msg.get("type") == "progress" and msg.get("phase") == "running" and msg["done"] >= 2:
            break
        assert msg.get("type") != "result" and msg.get("type") != "error", msg
    status, _ = engine.request("s", "status")
    assert [r["id"] for r in status["result"]["running"]] == ["run"]
    cancelled, _ = engine.request("c", "cancel", {"id": "run"})
    assert cancelled["result"] == {"cancelled": True}
    final, _ = engine.until_final("run", timeout=120)
    assert final["type"] == "error" and final["code"] == errors.CANCELLED, final
    assert final["fix"]
    data = final["data"]
    run_dir = ws_root / "runs" / data["run_id"]
    kept = store.count_done(run_dir)
    assert 2 <= kept < 40 and kept >= data["n_done"]
    events = [json.loads(x) for x in events_path(run_dir).read_text().splitlines()]
    assert events[-1]["type"] == "error" and events[-1]["code"] == errors.CANCELLED
    # the engine still serves after a cancel
    status, _ = engine.request("s2", "status")
    assert status["result"]["running"] == []


def test_errors_carry_the_right_codes(engine, ws_root, tiny_llama_dir, tmp_path) -> None:
    final, _ = engine.request(1, "run", {"spec": spec(ws_root, tmp_path / "no-such-model")})
    assert final["type"] == "error" and final["code"] == errors.MODEL_NOT_FOUND, final
    final, _ = engine.request(2, "run", {"spec": spec(ws_root, tiny_llama_dir, dataset="no-such-dataset")})
    assert final["code"] == errors.BAD_INPUT and "no-such-dataset" in final["what"]
    final, _ = engine.request(3, "run", {"spec": {"dataset": "x"}})
    assert final["code"] == errors.BAD_INPUT
    final, _ = engine.request(4, "run", {"spec": spec(ws_root, tiny_llama_dir, variant="nonsense")})
    assert final["code"] == errors.BAD_INPUT and "variant" in final["what"]
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text(json.dumps({"model_type": "bert",
                                                         "architectures": ["BertModel"]}))
    final, _ = engine.request(5, "run", {"spec": spec(ws_root, not_a_model)})
    assert final["code"] == errors.BAD_MODEL, final
    final, _ = engine.request(6, "cancel", {})
    assert final["code"] == errors.BAD_INPUT


def test_malformed_lines_get_bad_input_and_the_engine_goes_on(engine) -> None:
    for line in ("this is not json", "[1,2,3]", '{"method": "status"}', '{"id": "x", "method": "fly"}',
                 "{" * 5000, '{"id": "y", "method": "run", "params": 3}'):
        engine.send(line)
        msg = engine.next(timeout=30)
        assert msg["type"] == "error" and msg["code"] == errors.BAD_INPUT, msg
    engine.send("x" * (4 * 1024 * 1024))  # a very large line
    assert engine.next(timeout=30)["code"] == errors.BAD_INPUT
    final, _ = engine.request("ok", "status")
    assert final["type"] == "result" and final["result"]["pid"] == engine.proc.pid


def test_list_models_finds_the_workspace_models(engine, ws_root, tiny_llama_dir) -> None:
    import shutil

    models = ws_root / "cache" / "models"
    models.mkdir(parents=True, exist_ok=True)
    if not (models / "tiny").exists():
        shutil.copytree(tiny_llama_dir, models / "tiny")
    final, _ = engine.request("m", "list_models", {"workspace": str(ws_root)})
    assert final["type"] == "result", final
    found = final["result"]["models"]
    assert any(m.get("name") == "tiny" for m in found), found


def test_engine_exits_when_stdin_closes_even_mid_run(ws_root, tiny_llama_dir) -> None:
    proc = EngineProc(ws_root)
    try:
        assert proc.next(timeout=120)["type"] == "hello"
        proc.send({"id": "r", "method": "run",
                   "params": {"spec": spec(ws_root, tiny_llama_dir, batch_tokens=48, limit=40,
                                           variant="paper", seed=3)}})
        while True:
            msg = proc.next(timeout=120)
            if msg.get("type") == "progress" and msg.get("phase") == "running" and msg["done"] >= 1:
                break
        run_dir = ws_root / "runs" / msg["run_id"]
        started = time.monotonic()
        rc = proc.close(timeout=60)
        assert rc == 0
        assert time.monotonic() - started < 30
        from engine.store import writer_locks

        assert not any(h.held for h in writer_locks(run_dir))
        assert store.count_done(run_dir) >= 1
        assert proc.bad == []
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
