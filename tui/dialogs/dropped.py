"""``D`` on the Datasets screen: every question the import dropped, with its reason (what
`alignuq datasets dropped NAME` prints), and the counts by reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.frame_table import FrameTable

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["question_id", "reason", "detail", "text"]


def reason_counts(dropped: pd.DataFrame) -> str:
    """``reason n`` for each reason, most frequent first."""
    counts = dropped["reason"].value_counts() if len(dropped) else []
    return " · ".join(f"{escape(str(reason))} {n}" for reason, n in counts.items()) \
        if len(dropped) else ""


class DroppedDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, name: str, dropped: pd.DataFrame) -> None:
        super().__init__()
        self.dataset = name
        self.dropped = dropped

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog full"):
            n = len(self.dropped)
            title = (f"[b]{escape(self.dataset)}[/b]: {n} question(s) dropped at import"
                     if n else f"[b]{escape(self.dataset)}[/b]: no question was dropped at import")
            yield Static(title, classes="dialog-title", id="dropped-title")
            if n:
                yield Static(reason_counts(self.dropped), id="dropped-reasons")
            yield FrameTable(export_name=f"dropped-{self.dataset}", id="dropped")
            yield Static("[dim]e exports this list · escape closes[/dim]")

    def on_mount(self) -> None:
        table = self.query_one("#dropped", FrameTable)
        columns = [c for c in COLUMNS if c in self.dropped.columns]
        table.show_frame(self.dropped, columns=columns, labels={"question_id": "id"},
                         provenance={"dataset": self.dataset, "what": "dropped questions"})
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
