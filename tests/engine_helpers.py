"""Helpers shared by the engine-process tests: small real datasets and protocol plumbing."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from datasets_io.dataset import Dataset, questions_frame, write_dataset
from datasets_io.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


def mmlu_dataset(ws_root: Path, data_dir: Path, name: str = "mmlu-small", n: int = 24,
                 subjects: tuple[str, ...] = ("anatomy", "astronomy")) -> str:
    """Write a small real MMLU dataset (first questions of a few subjects) into the workspace."""
    ws = Workspace(Path(ws_root)).ensure()
    rows: list[dict[str, Any]] = []
    per = -(-n // len(subjects))
    for subject in subjects:
        path = data_dir / "mmlu" / "test" / f"{subject}_test.csv"
        with open(path, newline="", encoding="utf-8") as f:
            for i, rec in enumerate(csv.reader(f), start=1):
                if len(rows) >= n or i > per:
                    break
                question, *choices, answer = rec
                rows.append({"question_id": f"{subject}-{i}", "source": "mmlu", "text": question,
                             "choices": choices, "human_share": None,
                             "correct": "ABCD".index(answer.strip()), "subject": subject,
                             "n_choices": len(choices), "meta": "{}"})
    report = {"source": "mmlu", "settings": {"test": True}, "n_questions": len(rows)}
    write_dataset(ws, Dataset(name=name, questions=questions_frame(rows), report=report))
    return name


def engine_env(ws_root: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if ws_root is not None:
        env["ALIGNUQ_WORKSPACE"] = str(ws_root)
    return env


class EngineProc:
    """A real `alignuq-engine --stdio` child, driven line by line (blocking, with timeouts)."""

    def __init__(self, ws_root: Path | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.server", "--stdio"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=engine_env(ws_root), cwd=REPO, bufsize=0)
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self.raw: list[bytes] = []
        import queue
        import threading

        self._q: queue.Queue = queue.Queue()
        self._stderr: list[bytes] = []

        self.bad: list[str] = []  # stdout lines that are not valid protocol messages

        def read_out() -> None:
            from engine.protocol import ProtocolError, decode_message

            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.raw.append(line)
                try:
                    decode_message(line)
                    self._q.put((time.monotonic(), json.loads(line)))
                except (ProtocolError, ValueError) as err:
                    self.bad.append(f"{err}: {line[:200]!r}")
            self._q.put(None)

        def read_err() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self._stderr.append(line)

        threading.Thread(target=read_out, daemon=True).start()
        threading.Thread(target=read_err, daemon=True).start()

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def send(self, obj: dict[str, Any] | str) -> None:
        assert self.proc.stdin is not None
        line = obj if isinstance(obj, str) else json.dumps(obj)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def next(self, timeout: float = 120.0) -> dict[str, Any]:
        item = self._q.get(timeout=timeout)
        if item is None:
            raise EOFError(f"engine closed stdout; stderr:\n{self.stderr[-3000:]}")
        self.lines.append(item)
        return item[1]

    def until_final(self, rid: Any, timeout: float = 300.0) -> tuple[dict[str, Any], list[tuple[float, dict]]]:
        """Messages until the result/error of ``rid``; returns it and the (time, message) seen."""
        seen: list[tuple[float, dict]] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next(max(0.1, deadline - time.monotonic()))
            seen.append(self.lines[-1])
            if msg.get("type") in ("result", "error") and msg.get("id") == rid:
                return msg, seen

    def request(self, rid: Any, method: str, params: dict[str, Any] | None = None,
                timeout: float = 300.0) -> tuple[dict[str, Any], list[tuple[float, dict]]]:
        self.send({"id": rid, "method": method, "params": params or {}})
        return self.until_final(rid, timeout)

    def close(self, timeout: float = 60.0) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def finished_run(ws_root: Path, dataset: str, model: Path, **kw: Any) -> Path:
    """Run in-process (no engine child) and return the run folder."""
    from engine.run_spec import RunSpec
    from engine.runner import execute_run

    spec = RunSpec(workspace=str(ws_root), dataset=dataset, model=str(model), **kw)
    return Path(execute_run(spec).run_dir)
