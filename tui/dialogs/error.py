"""An error the user should read: its code, what went wrong, where, and what to do."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from common.errors import AlignuqError
from tui.advice import console_fix


class ErrorDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, error: AlignuqError, context: str = "") -> None:
        super().__init__()
        self.error = error
        self.context = context

    def compose(self) -> ComposeResult:
        f = self.error
        with Vertical(id="dialog", classes="dialog error"):
            yield Static(f"[b]Error {f.code}[/b]" + (f" — {self.context}" if self.context else ""),
                         classes="dialog-title", id="error-title")
            yield Static(f.what, id="error-message")
            if f.where:
                yield Static(f"[dim]where:[/dim] {f.where}")
            fix = console_fix(f)
            if fix:
                yield Static(f"[b]What to do:[/b] {escape(fix)}", id="error-fix")
            with Horizontal(classes="buttons"):
                yield Button("Close", variant="primary", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
