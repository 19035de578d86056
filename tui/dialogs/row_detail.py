"""enter on a Results table's row: every column of that row, those the width left out too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.frame_table import fmt_cell


class RowDetail(ModalScreen[None]):
    """One row as ``column  value`` lines (numbers as the tables show them)."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("enter", "close", "Close", show=False)]

    def __init__(self, table: str, record: Mapping[str, Any]) -> None:
        super().__init__()
        self.table = table
        self.record = dict(record)

    def lines(self) -> list[str]:
        width = max(map(len, self.record), default=0)
        return [f"{name:<{width}}  {fmt_cell(value, name)}" for name, value in self.record.items()]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(f"[b]{escape(self.table)}[/b] · one row", classes="dialog-title")
            with VerticalScroll():
                yield Static(escape("\n".join(self.lines())), id="row-detail")
            yield Static("[dim]escape or enter closes[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
