"""The console's job queue (engine.lab.jobs) against a fake engine client (unit tests: the real
engine runs the queue in tests/test_tui_runs.py and tests/test_tui_e2e.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from common.errors import CANCELLED, ENGINE_START, AlignuqError
from engine.events import Progress
from engine.lab import engines, jobs
from tests.test_tui_support import make_test_app, sync, wait_for


class FakeEngine:
    """Answers each run with one progress note, then its summary, or the error ``fail`` gives
    for the job's dataset; ``close`` waits for ``closing`` (when given)."""

    def __init__(self, fail: dict[str, AlignuqError] | None = None, start_error=None,
                 closing: asyncio.Event | None = None):
        self.fail, self.start_error, self.closing = fail or {}, start_error, closing
        self.running, self.specs, self.closed = False, [], 0

    async def start(self):
        if self.start_error is not None:
            raise self.start_error
        self.running = True
        return SimpleNamespace(host="h", device="cpu", torch="t")

    async def start_run(self, spec, on_progress, on_log):
        self.specs.append(spec)
        on_progress(SimpleNamespace(progress=Progress(f"run-{spec.dataset}", 3, 3, 1.0, 0.0)))
        on_log(SimpleNamespace(level="info", message="a batch"))
        error = self.fail.get(spec.dataset)

        async def result():
            if error is not None:
                raise error
            return {"run_id": f"run-{spec.dataset}", "n_done": 3, "n_total": 3}

        return SimpleNamespace(id=f"r{len(self.specs)}", result=result)

    async def close(self, timeout):
        if self.closing is not None:
            await self.closing.wait()
        self.running = False
        self.closed += 1


class Heard:
    def __init__(self):
        self.statuses: list[tuple[str, str]] = []
        self.lines: list[str] = []

    def job_changed(self, job):
        self.statuses.append((job.id, job.status))

    def job_progress(self, job, progress):
        job.show(progress)

    def job_log(self, job, line):
        self.lines.append(line)


def _queue(tmp_path: Path, fake: FakeEngine, monkeypatch) -> tuple[jobs.JobQueue, Heard]:
    monkeypatch.setattr(engines, "client_for", lambda prefix: fake)
    heard = Heard()
    return jobs.JobQueue(tmp_path, heard), heard


def test_queued_jobs_run_one_after_the_other_in_one_engine(tmp_path, monkeypatch) -> None:
    fake = FakeEngine()
    queue, heard = _queue(tmp_path, fake, monkeypatch)
    a, b = queue.add("m", "/m", "a", limit=5), queue.add("m", "/m", "b")
    assert asyncio.run(queue.run()) is True
    assert [s.dataset for s in fake.specs] == ["a", "b"] and fake.specs[0].limit == 5
    assert heard.statuses == [("j1", "starting"), ("j1", "running"), ("j1", "done"),
                              ("j2", "starting"), ("j2", "running"), ("j2", "done")]
    assert (a.run_id, a.run_dir, a.done) == ("run-a", str(tmp_path / "runs" / "run-a"), 3)
    assert b.summary["n_done"] == 3 and fake.closed == 1
    assert "engine ready on h: device cpu, torch t" in heard.lines and "[info] a batch" in heard.lines


def test_an_engine_that_cannot_start_fails_the_job_and_leaves_the_rest_queued(
        tmp_path, monkeypatch) -> None:
    fake = FakeEngine(start_error=AlignuqError("no such engine", code=ENGINE_START))
    queue, _ = _queue(tmp_path, fake, monkeypatch)
    a, b = queue.add("m", "/m", "a"), queue.add("m", "/m", "b")
    assert asyncio.run(queue.run()) is False
    assert (a.status, a.error.code, b.status) == ("failed", ENGINE_START, "queued")


def test_cancelled_jobs_keep_their_summary_and_resume(tmp_path, monkeypatch) -> None:
    data = {"run_id": "run-a", "n_done": 1, "n_total": 3}
    fake = FakeEngine(fail={"a": AlignuqError("cancelled", code=CANCELLED, data=data)})
    queue, _ = _queue(tmp_path, fake, monkeypatch)
    a, b = queue.add("m", "/m", "a"), queue.add("m", "/m", "b")
    assert asyncio.run(queue.cancel(b)) is True            # a queued job just leaves the queue
    assert asyncio.run(queue.run()) is True
    assert (a.status, a.summary, b.status, len(fake.specs)) == ("cancelled", data, "cancelled", 1)
    assert asyncio.run(queue.cancel(a)) is False            # neither queued nor running
    queue.resume(a)
    fake.fail.clear()
    assert asyncio.run(queue.run()) is True and a.status == "done"


@sync
async def test_a_job_resumed_while_the_engine_closes_runs(tmp_path, monkeypatch) -> None:
    # the queue closes its engine once nothing is queued; `u` pressed meanwhile must not leave
    # the job queued for ever (it did, when the screen's queue was still "running")
    closing = asyncio.Event()
    fake = FakeEngine(fail={"coane": AlignuqError("cancelled", code=CANCELLED,
                                                  data={"n_done": 1, "n_total": 3})},
                      closing=closing)
    monkeypatch.setattr(engines, "client_for", lambda prefix: fake)
    app = make_test_app(tmp_path / "ws")
    async with app.run_test() as pilot:
        await pilot.press("r")
        await pilot.pause()
        screen = app.section("runs")
        (job,) = screen.queue_jobs([("m", "/m")], ["coane"])
        await wait_for(pilot, lambda: job.status == "cancelled" and screen.pumping, 10, "cancel")
        fake.fail.clear()
        await pilot.press("u")                                # the engine is still closing
        closing.set()
        await wait_for(pilot, lambda: job.status == "done", 10, "the resumed job")
        assert len(fake.specs) == 2
