"""Typed messages: the only way workers talk to the screens.

Workers (``tui.workers``) run blocking or engine-bound work off the UI loop and post these; screens
handle them with ``on_<name>`` methods. Progress messages coalesce: a newer ``RunProgress`` for the
same job replaces an older one still waiting in the queue, so a fast engine never floods the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from common.errors import AlignuqError
from engine.events import Progress

if TYPE_CHECKING:
    import pandas as pd

    from engine.lab.datasets import DatasetFacts
    from engine.lab.models import ModelRef
    from engine.lab.tables import RunToPick, Table
    from engine.protocol import Hello

Provenance = Mapping[str, object]   # a sidecar record, as `alignuq analyze` writes it (JSON)


class DatasetsListed(Message):
    """The workspace's datasets and what ``engine.lab.datasets.describe`` says of each."""

    def __init__(self, summaries: list[DatasetFacts]) -> None:
        super().__init__()
        self.summaries = summaries


class DatasetLoaded(Message):
    """One dataset's questions, ready to browse (``frame`` has a ``human_entropy`` column)."""

    def __init__(self, name: str, frame: pd.DataFrame, summary: DatasetFacts) -> None:
        super().__init__()
        self.name = name
        self.frame = frame
        self.summary = summary


class DatasetDeleted(Message):
    """A dataset (and the runs listed with it) was deleted."""

    def __init__(self, name: str, n_runs: int) -> None:
        super().__init__()
        self.name = name
        self.n_runs = n_runs


class DatasetWritten(Message):
    """A new dataset (an import or a curated version) was written."""

    def __init__(self, name: str, path: str, summary: DatasetFacts,
                 source: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.path = path
        self.summary = summary
        self.source = source     # a curated version's parent (None: an import)


class ModelsFound(Message):
    """The models found locally or where the engine runs (``source``)."""

    def __init__(self, models: list[ModelRef], source: str) -> None:
        super().__init__()
        self.models = models
        self.source = source


class EngineHello(Message):
    """The engine's ``hello`` (device, versions) after a connection test."""

    def __init__(self, hello: Hello, prefix: tuple[str, ...]) -> None:
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
    """The workspace's runs with results, and what a table would say of each."""

    def __init__(self, runs: list[RunToPick]) -> None:
        super().__init__()
        self.runs = runs


@dataclass(frozen=True)
class TableOutcome:
    """One analysis of the Results screen: its table, or why it does not apply to the runs."""

    key: str                     # the analysis (``engine.lab.analyses.ANALYSES``)
    generation: int              # the screen's computation it belongs to
    table: Table | None = None
    # the sidecar of the table (key None) and of each extra output (its key)
    provenance: Mapping[str | None, Provenance] = field(default_factory=dict)
    error: str = ""              # why the analysis does not apply (then ``table`` is None)

    @property
    def frame(self) -> pd.DataFrame | None:
        return None if self.table is None else self.table.frame()

    def extra(self, key: str) -> pd.DataFrame | None:
        """The extra output ``key`` (strata, bins, null), None where the table made none."""
        return None if self.table is None else self.table.result.extra.get(key)

    @property
    def notes(self) -> list[str]:
        return [] if self.table is None else self.table.notes


class WorkspaceChanged(Message):
    """The workspace's runs or datasets changed on disk (``workers.workspace_signature``)."""

    def __init__(self, signature: tuple) -> None:
        super().__init__()
        self.signature = signature


class TableReady(Message):
    """An analysis computed by a worker (or why it does not apply)."""

    def __init__(self, outcome: TableOutcome) -> None:
        super().__init__()
        self.outcome = outcome


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
