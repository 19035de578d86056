"""``a`` on the Runs screen: pick a run of the workspace to follow through its events files (or,
with ``x``, to export, or with ``delete``, to delete: the dialog returns the run with
``"export": True`` or ``"delete": True``)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class AttachDialog(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("x", "export", "Export run"),
                Binding("delete", "delete", "Delete run")]

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog wide"):
            yield Static("[b]Attach to a run[/b] [dim](its events files are followed; the run "
                         "itself is not touched)[/dim]", classes="dialog-title")
            options = []
            for i, run in enumerate(self.runs):
                m = run.get("manifest", {})
                label = Text(f"{run['run_id'][:28]:28} ", style="bold")
                label.append(f"{run.get('label', '?')[:24]:24} {str(run.get('dataset'))[:18]:18} ")
                label.append(f"{run.get('status', '?')} {run.get('n_done', '?')}/"
                             f"{run.get('n_total') or m.get('n_total', '?')}", style="dim")
                options.append(Option(label, id=str(i)))
            yield OptionList(*options, id="runs-list")
            yield Static("[dim]enter attaches · x exports the run (CSV to exports/) · delete "
                         "deletes it (asks first) · escape cancels[/dim]")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.runs[int(event.option.id or 0)])

    def action_export(self) -> None:
        self._dismiss_highlighted("export")

    def action_delete(self) -> None:
        self._dismiss_highlighted("delete")

    def _dismiss_highlighted(self, what: str) -> None:
        index = self.query_one("#runs-list", OptionList).highlighted
        if index is not None:
            self.dismiss({**self.runs[index], what: True})

    def action_cancel(self) -> None:
        self.dismiss(None)
