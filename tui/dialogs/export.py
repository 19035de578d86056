"""``e``: export the focused table as CSV, Markdown or LaTeX (with the provenance sidecar); on the
Results screen also the data behind its plot (the reliability bins, the permutation null sample)
and its figures; to a new name in the exports folder, or to a path the user types. Every section
uses this one dialog."""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

FORMATS = (("csv", "CSV (.csv)"), ("md", "Markdown (.md)"), ("tex", "LaTeX (.tex)"))


@dataclass(frozen=True)
class ExportChoice:
    """What to write (a format of the table, or one of the dialog's ``more`` entries) and the
    path typed ('' for a new name in the exports folder)."""

    what: str
    path: str = ""


class ExportDialog(ModalScreen["ExportChoice | None"]):
    """Returns an :class:`ExportChoice` (a format, 'csv', 'md' or 'tex', or the id of one of the
    ``more`` entries: the Results' plot data and figures), or None. ``note`` says which rows
    (the table's filter and sort)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("c", "pick('csv')", "CSV"),
                Binding("m", "pick('md')", "Markdown"), Binding("l", "pick('tex')", "LaTeX")]

    def __init__(self, table_name: str, n_rows: int, folder: str, *,
                 more: tuple[tuple[str, str], ...] = (), note: str = "") -> None:
        super().__init__()
        self.table_name = table_name
        self.n_rows = n_rows
        self.folder = folder
        self.more = more
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(f"[b]Export[/b] {self.table_name} ({self.n_rows} rows)",
                         classes="dialog-title")
            if self.note:
                yield Static(f"[b]{escape(self.note)}[/b]", id="export-note")
            yield Static(f"[dim]to {self.folder}/ with a .provenance.json sidecar[/dim]")
            yield OptionList(*[Option(f"{label}", id=fmt) for fmt, label in FORMATS],
                             *[Option(label, id=key) for key, label in self.more],
                             id="formats")
            yield Static("Path [dim](empty: a new name in exports/; relative: under "
                         "exports/; never overwrites)[/dim]")
            yield Input(placeholder=f"{self.table_name}-TIME.csv", id="export-path")
            yield Static("[dim]enter picks · c/m/l · tab: the path · escape cancels[/dim]")

    def on_mount(self) -> None:
        self.query_one("#formats", OptionList).focus()

    def _result(self, what: str) -> ExportChoice:
        return ExportChoice(what, self.query_one("#export-path", Input).value.strip())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._result(str(event.option.id)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one("#formats", OptionList)
        highlighted = options.highlighted or 0
        self.dismiss(self._result(str(options.get_option_at_index(highlighted).id)))

    def action_pick(self, fmt: str) -> None:
        if isinstance(self.focused, Input):   # typing a path: the letter is the path's
            return
        self.dismiss(self._result(fmt))

    def action_cancel(self) -> None:
        self.dismiss(None)
