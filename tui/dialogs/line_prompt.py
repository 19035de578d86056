"""A one-line prompt at the bottom of the screen, as in vim or k9s: ``/`` filters a table,
``:`` jumps. Enter returns the text; escape returns None. ``on_change`` sees every edit (a
table filters as you type); ``hint`` may describe what the text would do (the ``:`` target)."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

LIVE_DELAY_S = 0.15  # typing into a 14k-row filter re-filters once per pause, not per key


class LinePrompt(ModalScreen[str | None]):
    DEFAULT_CSS = """
    LinePrompt { background: transparent; }
    LinePrompt #prompt-box { height: auto; width: 100%; background: $surface;
                             border-top: heavy $accent; }
    LinePrompt #prompt-row { height: 1; }
    LinePrompt #prompt-sign { width: 2; text-style: bold; }
    LinePrompt #prompt-input, LinePrompt #prompt-input:focus {
        border: none; height: 1; padding: 0; width: 1fr; }
    LinePrompt #prompt-hint { height: auto; color: $text-muted; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, sign: str, help_text: str, value: str = "", *,
                 on_change: Callable[[str], None] | None = None,
                 hint: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.sign = sign
        self.help_text = help_text
        self.value = value
        self.on_change = on_change
        self.hint = hint
        self._timer = None

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            with Horizontal(id="prompt-row"):
                yield Static(self.sign, id="prompt-sign")
                yield Input(self.value, id="prompt-input", select_on_focus=False)
            yield Static(self._hint_text(self.value), id="prompt-hint", markup=False)

    def on_mount(self) -> None:
        self.styles.align = ("left", "bottom")  # inline: the app's dialogs are centred

    def _hint_text(self, text: str) -> str:
        hint = self.hint(text) if self.hint else ""
        return hint or self.help_text

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#prompt-hint", Static).update(self._hint_text(event.value))
        if self.on_change is not None:
            if self._timer is not None:
                self._timer.stop()
            self._timer = self.set_timer(LIVE_DELAY_S, lambda: self.on_change(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.dismiss(None)
