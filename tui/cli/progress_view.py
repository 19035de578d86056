"""The CLI's progress bar on stderr, for a run it drives (`alignuq run`) or follows
(`alignuq runs watch`): done/total, questions/s, ETA; plain lines every 10 s and at each phase
change when stderr is not a terminal."""

from __future__ import annotations

import time
from typing import Any

from engine.events import Progress
from engine.protocol import CANCEL_ACK, LogNote, ProgressNote


class ProgressView:
    """A rich progress bar on stderr (plain lines every 10 s when stderr is not a terminal)."""

    def __init__(self, description: str = "starting engine", total: int | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bar

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                            TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn(),
                            console=self.console, disable=not self.live)
        self.task = self.progress.add_task(description, total=total, rate="", eta="-")
        self.last: Progress | None = None
        self.cancel_asked = False
        self._last_line = 0.0
        self._phase = ""

    def __enter__(self) -> ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def hello(self, hello: Any) -> None:
        where = f"{hello.host} pid {hello.pid}, {hello.device}"
        if hello.cuda_devices:
            where += f" ({', '.join(hello.cuda_devices)})"
        self.log(f"engine ready on {where}; torch {hello.torch}, transformers {hello.transformers}")
        self.progress.update(self.task, description="loading model")

    def on_progress(self, note: ProgressNote) -> None:
        self.show(note.progress)

    def show(self, p: Progress) -> None:
        self.last = p
        desc = {"loading": "loading model", "running": "running", "done": "done"}.get(p.phase, p.phase)
        rate = f"{p.rate:.2f} q/s" if p.rate else ""
        eta = fmt_eta(p.eta_s)
        total = p.total if (p.total or p.phase != "loading") else None
        self.progress.update(self.task, description=desc, completed=p.done, total=total,
                             rate=rate, eta=eta)
        now = time.monotonic()
        if not self.live and (p.phase != self._phase or now - self._last_line >= 10):
            self._last_line = now
            if p.phase != "loading":
                self.console.print(f"{desc}: {p.done}/{p.total} questions, {rate or '- q/s'}, "
                                   f"ETA {eta}", highlight=False, soft_wrap=True)
        self._phase = p.phase

    def on_log(self, note: LogNote) -> None:
        if self.cancel_asked and note.message == CANCEL_ACK:
            return  # `cancelling()` has said so already
        self.log(note.message, note.level)

    def cancelling(self) -> None:
        self.cancel_asked = True
        self.progress.update(self.task, description="cancelling")
        self.log("cancelling: the engine stops after the current batch (Ctrl-C again to stop "
                 "at once)", "warning")

    def finish(self, description: str) -> None:
        """Leave the bar in its last state under ``description``, so nothing redraws after it."""
        self.progress.update(self.task, description=description)
        self.progress.stop()

    def log(self, message: str, level: str = "info") -> None:
        style = {"warning": "yellow", "error": "red"}.get(level)
        prefix = "" if level in ("info", "debug") else f"{level}: "
        self.console.print(f"{prefix}{message}", style=style, highlight=False, markup=False,
                           soft_wrap=True)


def fmt_eta(eta: float | None) -> str:
    if eta is None:
        return "-"
    eta = int(round(eta))
    hours, rest = divmod(eta, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
