"""``a`` on the Runs screen: pick a run of the workspace to follow through its events files (or,
with ``x``, to export, or with ``delete``, to delete it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from engine.lab.runs import RunListing


@dataclass(frozen=True)
class RunChoice:
    """The run picked, and what to do with it."""

    run: RunListing
    action: Literal["attach", "export", "delete"] = "attach"


def run_rows(runs: list[RunListing]) -> list[Text]:
    """One line per run: its label, dataset, status and n/N, then its full id, each column as
    wide as its longest entry (nothing cut; a line too long for the screen wraps)."""
    def total(run: RunListing) -> str:
        return str(run["n_total"] or run["manifest"].get("n_total", "?"))

    wide_label = max((len(r["label"]) for r in runs), default=0)
    wide_ds = max((len(str(r["dataset"])) for r in runs), default=0)
    wide_status = max((len(f"{r['status']} {r['n_done']}/{total(r)}") for r in runs), default=0)
    rows = []
    for run in runs:
        row = Text(f"{run['label']:{wide_label}}  ", style="bold")
        row.append(f"{run['dataset']!s:{wide_ds}}  ")
        row.append(f"{run['status']} {run['n_done']}/{total(run)}".ljust(wide_status) + "  ",
                   style="dim")
        row.append(run["run_id"], style="dim")
        rows.append(row)
    return rows


class AttachDialog(ModalScreen[RunChoice | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("x", "export", "Export run"),
                Binding("delete", "delete", "Delete run")]

    def __init__(self, runs: list[RunListing]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog wide"):
            yield Static("[b]Attach to a run[/b] [dim](its events files are followed; the run "
                         "itself is not touched)[/dim]", classes="dialog-title")
            rows = run_rows(self.runs)
            yield OptionList(*(Option(row, id=str(i)) for i, row in enumerate(rows)),
                             id="runs-list")
            yield Static("[dim]enter attaches · x exports the run (CSV to exports/) · delete "
                         "deletes it (asks first) · escape cancels[/dim]")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(RunChoice(self.runs[int(event.option.id or 0)]))

    def action_export(self) -> None:
        self._dismiss_highlighted("export")

    def action_delete(self) -> None:
        self._dismiss_highlighted("delete")

    def _dismiss_highlighted(self, action: Literal["export", "delete"]) -> None:
        index = self.query_one("#runs-list", OptionList).highlighted
        if index is not None:
            self.dismiss(RunChoice(self.runs[index], action))

    def action_cancel(self) -> None:
        self.dismiss(None)
