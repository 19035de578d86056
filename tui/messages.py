"""Typed messages: the only way workers talk to the screens.

Workers (``tui.workers``) run blocking or engine-bound work off the UI loop and post these; screens
handle them with ``on_<name>`` methods. Progress messages coalesce: a newer ``RunProgress`` for the
same job replaces an older one still waiting in the queue, so a fast engine never floods the UI.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from common.errors import AlignuqError
from engine.events import Progress


class DatasetsListed(Message):
    """The workspace's datasets and their summaries (``Dataset.summary()`` dicts)."""

    def __init__(self, summaries: list[dict[str, Any]]) -> None:
        super().__init__()
        self.summaries = summaries


class DatasetLoaded(Message):
    """One dataset's questions, ready to browse (``frame`` has a ``human_entropy`` column)."""

    def __init__(self, name: str, frame: Any, summary: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.frame = frame
        self.summary = summary


class ModelProbs(Message):
    """Each run's label probabilities for one question: ``{run label: [q_1..q_n]}``."""

    def __init__(self, question_id: str, probs: dict[str, list[float]]) -> None:
        super().__init__()
        self.question_id = question_id
        self.probs = probs


class DatasetDeleted(Message):
    """A dataset (and the runs listed with it) was deleted."""

    def __init__(self, name: str, n_runs: int) -> None:
        super().__init__()
        self.name = name
        self.n_runs = n_runs


class DatasetWritten(Message):
    """A new dataset (an import or a curated version) was written."""

    def __init__(self, name: str, path: str, summary: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.path = path
        self.summary = summary


class ModelsFound(Message):
    """Models found locally: dicts with name, path, architecture, parameters, size_bytes, kind."""

    def __init__(self, models: list[dict[str, Any]], source: str) -> None:
        super().__init__()
        self.models = models
        self.source = source


class EngineHello(Message):
    """The engine's ``hello`` (device, versions) after a connection test."""

    def __init__(self, hello: dict[str, Any], prefix: tuple[str, ...]) -> None:
        super().__init__()
        self.hello = hello
        self.prefix = prefix


class RunProgress(Message):
    """A job's progress (``engine.events.Progress``, as the runner made it, or merged over a
    run's writers). Replaces an older queued ``RunProgress`` of the same job."""

    def __init__(self, job_id: str, progress: Progress) -> None:
        super().__init__()
        self.job_id = job_id
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgress) and message.job_id == self.job_id


class RunLog(Message):
    """Log lines of a job (batched: a worker sends what arrived since its last message)."""

    def __init__(self, job_id: str, lines: list[str]) -> None:
        super().__init__()
        self.job_id = job_id
        self.lines = lines


class JobChanged(Message):
    """A job's status changed (``engine.lab.jobs.Job``: its summary or error once it ended)."""

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id


class RunsListed(Message):
    """The workspace's runs (``engine.runs.list_runs`` records)."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.runs = runs


class TableReady(Message):
    """An analysis table (a pandas frame) computed by a worker, with what is needed to plot it."""

    def __init__(self, key: str, frame: Any, extra: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.key = key
        self.frame = frame
        self.extra = extra or {}
        self.provenance = provenance or {}


class ExportWritten(Message):
    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths


class WorkerFailed(Message):
    """Posted to the app by any worker that failed; one central handler shows it."""

    def __init__(self, error: AlignuqError, context: str = "") -> None:
        super().__init__()
        self.error = error
        self.context = context
