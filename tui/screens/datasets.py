"""Datasets: the workspace's datasets, their questions (search and filters), a question view,
exclude / re-include (a new dataset version), and the import wizard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.dialogs.filters import Filters, FiltersDialog
from tui.messages import DatasetDeleted, DatasetLoaded, DatasetsListed, DatasetWritten
from tui.screens.base import SectionScreen
from tui.widgets.frame_table import FrameTable, fmt_cell

if TYPE_CHECKING:
    import pandas as pd

    from engine.lab.datasets import DatasetFacts
    from engine.lab.runs import RunInfo

MAX_ROWS = 2000  # rows put into the table at once; the status line says when more matched


class DatasetsScreen(SectionScreen):
    SECTION = "datasets"
    TITLE = "Datasets"
    HELP = """\
The workspace's datasets (left) and the questions of the selected one (right).

* **Import** a survey or benchmark file with `i`: the format is detected, tables get a column
  mapping preview, the refusal list is editable with live counts, and the dropped-question report
  is shown before anything is written.
* **Browse**: `/` searches question text, choices and ids; `f` filters by source, subject, number
  of choices and the (normalised) human entropy range. `enter` opens a question: its metadata, the
  human entropy, the human share bars and, when runs exist, each run's label probabilities
  beside them on the same scale, with its cloze answer and entropy.
* **Dropped**: `D` lists every question the import dropped (refused answers only, too few
  choices, unreadable shares…) with its reason and detail, as `alignuq datasets dropped NAME`
  does; `e` there exports the list.
* **Curate**: `x` marks the highlighted question as excluded (again: re-included); `v` writes a
  NEW dataset version without the excluded questions (datasets are never edited in place).
  Marks not yet written are kept with the console's settings in the workspace, so they are
  still there after a restart.
  On a version, `p` opens its parent with the version's exclusions marked: `x` re-includes
  some, `v` writes the next version.
* **Delete** the selected dataset with `delete`, after a confirmation that names its runs: they
  are deleted with it (refused while one of them is running). Exported tables are kept.
"""

    BINDINGS = [
        Binding("i", "import_wizard", "Import"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("f", "filters", "Filter"),
        Binding("x", "toggle_exclude", "Exclude",
                tooltip="Exclude or re-include the highlighted question"),
        Binding("v", "save_version", "Version",
                tooltip="Write a new dataset version without the excluded questions"),
        Binding("p", "open_parent", "Parent", show=False,
                tooltip="Open the parent dataset with this version's exclusions marked"),
        Binding("D", "dropped", "Dropped", key_display="D",
                tooltip="Every question the import dropped, with its reason"),
        Binding("escape", "clear_search", "Clear", show=False),
        Binding("delete", "delete_dataset", "Delete", show=False,
                tooltip="Delete the selected dataset and its runs (after a confirmation)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: dict[str, DatasetFacts] = {}
        self.current: str | None = None
        self.frame: pd.DataFrame | None = None
        self.filters = Filters()
        self.excluded: set[str] = set()
        self.shown = 0
        self.matched = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="datasets-body"):
            with Vertical(id="datasets-side", classes="side"):
                yield Static("[b]Datasets[/b]", classes="pane-title")
                yield OptionList(id="dataset-list")
                yield Static("", id="dataset-summary")
            with Vertical(id="questions-pane"):
                yield Input(placeholder="/ search text, choices or id", id="search")
                yield Static("", id="filter-status")
                yield FrameTable(export_name="questions", id="questions")

    def on_mount(self) -> None:
        self.query_one("#dataset-summary", Static).update("[dim]loading…[/dim]")
        self.call_after_refresh(self.reload)

    # ------------------------------------------------------------------ loading
    def reload(self, select: str | None = None) -> None:
        from engine.lab.datasets import summaries
        from tui.workers import workspace

        root = self.app.settings.workspace

        def work() -> None:
            self.post_message(DatasetsListed(summaries(workspace(root))))

        self._select_after = select
        self.run_worker(work, thread=True, group="datasets", exclusive=True,
                        exit_on_error=False, name="list datasets")

    def on_datasets_listed(self, message: DatasetsListed) -> None:
        self.summaries = {s["name"]: s for s in message.summaries}
        options = self.query_one("#dataset-list", OptionList)
        options.clear_options()
        for s in message.summaries:
            label = Text(s["name"], style="bold")
            label.append(f"  {s.get('n_questions', 0)}q", style="dim")
            options.add_option(Option(label, id=s["name"]))
        if not message.summaries:
            self.query_one("#dataset-summary", Static).update(
                "No datasets yet.\nPress [b]i[/b] to import a survey or benchmark file.")
            self.query_one("#filter-status", Static).update("")
            self.current = self.frame = None  # the last one was deleted: show nothing of it
            table = self.query_one("#questions", FrameTable)
            table.clear(columns=True)
            table.frame = None
            return
        wanted = getattr(self, "_select_after", None) or self.current
        names = [s["name"] for s in message.summaries]
        index = names.index(wanted) if wanted in names else 0
        options.highlighted = index
        self.open_dataset(names[index])

    @on(OptionList.OptionHighlighted, "#dataset-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.current:
            self.open_dataset(event.option.id)

    def open_dataset(self, name: str, excluded: set[str] | None = None) -> None:
        from engine.lab.datasets import questions_for_browsing
        from tui.workers import workspace

        self.current = name
        # marks not yet written as a version are kept with the console's settings (a restart
        # shows them again); open_parent passes a version's exclusions instead
        self.excluded = set(self.app.settings.exclusions.get(name, ()) if excluded is None
                            else excluded)
        self._show_summary(self.summaries.get(name, {}))
        root = self.app.settings.workspace

        def work() -> None:
            frame, summary = questions_for_browsing(workspace(root), name)
            self.post_message(DatasetLoaded(name, frame, summary))

        self.run_worker(work, thread=True, group="questions", exclusive=True,
                        exit_on_error=False, name=f"load {name}")

    def _show_summary(self, s: DatasetFacts) -> None:
        if not s:
            return
        if s.get("error"):
            self.query_one("#dataset-summary", Static).update(f"[red]{s['error']}[/red]")
            return
        hist = " ".join(f"{k}:{v}" for k, v in s.get("n_choices_histogram", {}).items())
        lines = [f"[b]{s['name']}[/b]", f"source  {s.get('source', '')}",
                 f"kept    {s.get('n_questions', 0)}", f"dropped {s.get('n_dropped', 0)}" + (" [dim](D lists)[/dim]" if s.get("n_dropped") else ""),
                 f"choices {hist}"]
        subjects = s.get("subjects", {})
        if subjects:
            lines.append(f"subjects {len(subjects)}")
        if s.get("sample"):
            lines.append(f"sample  {s['sample']['n']} of {s['sample']['of']}, "
                         f"seed {s['sample']['seed']}")
        if s.get("parent"):
            n_ex = len((s.get("curation") or {}).get("excluded_ids") or [])
            lines.append(f"[cyan]version of {s['parent']}[/cyan]")
            lines.append(f"[cyan]{n_ex} excluded · p: parent[/cyan]")
        flags = []
        if s.get("has_human_share"):
            flags.append("human shares")
        if s.get("has_correct"):
            flags.append("answer key")
        if flags:
            lines.append(" + ".join(flags))
        for w in s.get("warnings", [])[:2]:
            lines.append(f"[yellow]! {w}[/yellow]")
        self.query_one("#dataset-summary", Static).update("\n".join(lines))

    def on_dataset_loaded(self, message: DatasetLoaded) -> None:
        if message.name != self.current:
            return
        self.frame = message.frame
        self.summaries[message.name] = message.summary
        self._show_summary(message.summary)
        self._drop_unknown_marks()
        self.refresh_table()

    def _drop_unknown_marks(self) -> None:
        """Marks kept for ids the dataset no longer has (it was imported again) are dropped, and
        the user is told, rather than written into a version as excluding nothing."""
        gone = self.excluded - set(self.frame["question_id"])
        if gone:
            self.excluded -= gone
            self._keep_marks(self.current, self.excluded)
            self.notify(f"{len(gone)} kept exclusion mark(s) of {self.current} name questions it "
                        f"no longer has ({', '.join(sorted(gone)[:3])}"
                        f"{', …' if len(gone) > 3 else ''}); they were dropped.",
                        severity="warning", timeout=8)

    def _keep_marks(self, dataset: str | None, ids: set[str]) -> None:
        """Keep a dataset's marks with the console's settings (no ids: forget them)."""
        kept = {name: marks for name, marks in self.app.settings.exclusions.items()
                if name != dataset}
        if dataset and ids:
            kept[dataset] = tuple(sorted(ids))
        if kept != dict(self.app.settings.exclusions):
            self.change_settings(exclusions=kept)

    # ------------------------------------------------------------------ table
    def refresh_table(self) -> None:
        from engine.lab.datasets import filter_questions

        if self.frame is None:
            return
        f = self.filters
        search = self.query_one("#search", Input).value.strip()
        view = filter_questions(self.frame, search=search, source=f.source, subject=f.subject,
                                n_choices=f.n_choices, entropy_min=f.entropy_min,
                                entropy_max=f.entropy_max)
        self.matched = len(view)
        view = view.head(MAX_ROWS).copy()
        self.shown = len(view)
        view["excl"] = ["✗" if q in self.excluded else "" for q in view["question_id"]]
        view["choices_text"] = view["choices"].map(lambda c: " | ".join(map(str, c)))
        table = self.query_one("#questions", FrameTable)
        columns = ["excl", "question_id", "subject", "n_choices", "human_entropy_norm", "text"]
        if view["subject"].isna().all():
            columns.remove("subject")
        if view["human_entropy_norm"].isna().all():
            columns.remove("human_entropy_norm")
        columns, caps = fit_columns(view, columns, self._table_width())
        table.show_frame(view, columns=columns, key="question_id",
                         labels=LABELS,
                         styler=_styler_within(caps), max_widths=caps,
                         export_frame=view.drop(columns=["excl", "choices_text"]),
                         provenance={"dataset": self.current, "filters": f.describe(),
                                     "search": search})
        table.export_name = f"questions-{self.current}"
        self._status()

    def _table_width(self) -> int:
        """The question table's width in cells (the screen's less the side pane before layout)."""
        width = self.query_one("#questions", FrameTable).size.width
        return width or max(self.app.size.width - 30, 40)

    def on_resize(self) -> None:
        self.refresh_table()

    def _status(self) -> None:
        more = f" (first {self.shown} shown)" if self.matched > self.shown else ""
        excl = f" · [red]{len(self.excluded)} excluded[/red] (v saves a new version)" \
            if self.excluded else ""
        total = 0 if self.frame is None else len(self.frame)
        self.query_one("#filter-status", Static).update(
            f"{self.matched}/{total} questions{more} · filters: {self.filters.describe()}{excl}")

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.refresh_table()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#questions", FrameTable).focus()

    @on(DataTable.RowSelected, "#questions")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_question(str(event.row_key.value))

    def open_question(self, qid: str) -> None:
        from tui.dialogs.question import QuestionDialog

        rows = self.frame[self.frame["question_id"] == qid]
        if not len(rows):
            return
        self.app.push_screen(QuestionDialog(rows.iloc[0].to_dict(), self.current or "",
                                            qid in self.excluded))

    def highlighted_id(self) -> str | None:
        table = self.query_one("#questions", FrameTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value)

    # ------------------------------------------------------------------ actions
    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""
        self.query_one("#questions", FrameTable).focus()

    def action_filters(self) -> None:
        if self.frame is None:
            self.notify("Select a dataset first.", severity="warning")
            return
        sources = sorted(self.frame["source"].dropna().astype(str).unique().tolist())

        def done(result: Filters | None) -> None:
            if result is not None:
                self.filters = result
                self.refresh_table()

        self.app.push_screen(FiltersDialog(self.filters, sources), done)

    def action_toggle_exclude(self) -> None:
        qid = self.highlighted_id()
        if qid is None:
            return
        table = self.query_one("#questions", FrameTable)
        if qid in self.excluded:
            self.excluded.discard(qid)
        else:
            self.excluded.add(qid)
        self._keep_marks(self.current, self.excluded)
        table.update_cell(qid, "excl", Text("✗", style="bold red") if qid in self.excluded else "")
        # the cursor stays on the row just marked: moving on made it easy to mark the wrong one
        self._status()

    def action_save_version(self) -> None:
        from tui.dialogs.ask import AskText

        if not self.current:
            return
        if not self.excluded:
            self.notify("Mark questions with x first (x again re-includes them).",
                        severity="warning")
            return
        source = self.current
        excluded = sorted(self.excluded)
        suggested = _next_version_name(source, list(self.summaries))

        def named(name: str | None) -> None:
            if name:
                self._derive(source, name, excluded)

        self.app.push_screen(AskText("New dataset version",
                                     f"{len(excluded)} question(s) excluded from {source}. "
                                     "Name of the new dataset:", value=suggested), named)

    def _derive(self, source: str, name: str, excluded: list[str]) -> None:
        from engine.lab.datasets import derive, describe
        from tui.workers import workspace

        root = self.app.settings.workspace

        def work() -> None:
            # re-including is deciding again: a version is always made from its parent with
            # the exclusions the user now wants
            ds, _ = derive(workspace(root), source, name, exclude=excluded,
                           note="curated in the console")
            self.post_message(DatasetWritten(name, str(ds.path), describe(ds), source=source))

        self.run_worker(work, thread=True, group="derive", exit_on_error=False,
                        name="new dataset version")

    def on_dataset_written(self, message: DatasetWritten) -> None:
        self.notify(f"Wrote dataset {message.name} ({message.summary.get('n_questions', '?')} "
                    f"questions)\n{message.path}", title="Dataset written", timeout=8)
        self._keep_marks(message.source, set())   # written: the source's marks are done with
        if message.source == self.current:
            self.excluded = set()
        self.reload(select=message.name)

    def action_delete_dataset(self) -> None:
        from engine.lab.datasets import runs_of
        from tui.workers import workspace

        name, root = self.current, self.app.settings.workspace
        if not name:
            return

        def work() -> None:
            runs = runs_of(workspace(root), name)
            self.app.call_from_thread(self._confirm_delete, name, runs)

        self.run_worker(work, thread=True, group="delete", exclusive=True, exit_on_error=False,
                        name="runs of the dataset")

    def _confirm_delete(self, name: str, runs: list[RunInfo]) -> None:
        from tui.dialogs.ask import Confirm

        running = [r.run_id for r in runs if r.status == "running"]
        if running:
            self.notify(f"Run {running[0]} of {name} is running: cancel it first (Runs, c).",
                        severity="error", timeout=8)
            return
        listed = "".join(f"\n  {r.run_id}" for r in runs[:6]) + ("\n  …" if len(runs) > 6 else "")
        text = (f"Delete dataset {name} and its {len(runs)} run(s)?{listed}" if runs
                else f"Delete dataset {name}? It has no runs.") + "\nExported tables are kept."

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(name, runs)

        self.app.push_screen(Confirm("Delete dataset", text), answered)

    def _delete(self, name: str, runs: list[RunInfo]) -> None:
        from engine.lab.datasets import delete
        from tui.workers import workspace

        root = self.app.settings.workspace

        def work() -> None:
            delete(workspace(root), name, runs)
            self.post_message(DatasetDeleted(name, len(runs)))

        self.run_worker(work, thread=True, group="delete", exit_on_error=False,
                        name="delete dataset")

    def on_dataset_deleted(self, message: DatasetDeleted) -> None:
        self.notify(f"Deleted dataset {message.name}"
                    + (f" and {message.n_runs} run(s)" if message.n_runs else ""),
                    title="Dataset deleted", timeout=6)
        self._keep_marks(message.name, set())
        self.current, self.excluded = None, set()
        self.reload()
        if message.n_runs and (results := self.app.section("results")) is not None:
            results.runs_changed()

    def action_open_parent(self) -> None:
        """Open this version's parent with the version's exclusions marked (to re-include)."""
        s = self.summaries.get(self.current or "", {})
        parent = s.get("parent")
        if not parent:
            self.notify("This dataset is an import, not a curated version.", severity="warning")
            return
        if parent not in self.summaries:
            self.notify(f"The parent {parent!r} is not in this workspace.", severity="error")
            return
        excluded = set((s.get("curation") or {}).get("excluded_ids") or [])
        options = self.query_one("#dataset-list", OptionList)
        names = list(self.summaries)
        with options.prevent(OptionList.OptionHighlighted):
            options.highlighted = names.index(parent)
        self.open_dataset(parent, excluded)
        self.notify(f"{parent}: {len(excluded)} question(s) marked as in {s['name']}; x re-includes,"
                    " v writes a new version")

    def action_dropped(self) -> None:
        from engine.lab.datasets import load
        from tui.dialogs.dropped import DroppedDialog
        from tui.workers import workspace

        name, root = self.current, self.app.settings.workspace
        if not name:
            self.notify("Select a dataset first.", severity="warning")
            return

        def work() -> None:
            dropped = load(workspace(root), name).dropped
            self.app.call_from_thread(self.app.push_screen, DroppedDialog(name, dropped))

        self.run_worker(work, thread=True, group="dropped", exclusive=True, exit_on_error=False,
                        name="dropped questions")

    def action_import_wizard(self) -> None:
        from tui.dialogs.import_wizard import ImportWizard

        def done(name: str | None) -> None:
            if name:
                self.notify(f"Imported dataset {name}", title="Import")
                self.reload(select=name)

        self.app.push_screen(ImportWizard(self.app.settings.workspace), done)

    def palette_actions(self) -> list[tuple[str, str, str]]:
        return super().palette_actions() + [
            ("Datasets: open the highlighted question", "key enter", "open_highlighted")]

    def action_open_highlighted(self) -> None:
        qid = self.highlighted_id()
        if qid:
            self.open_question(qid)


LABELS = {"excl": "x", "question_id": "id", "n_choices": "n", "human_entropy_norm": "H/log n"}
TEXT_MIN = 60          # cells the question text gets before the id and subject are shortened
SHORTENED = {"question_id": (22, 14), "subject": (14, 10)}   # cells: first, then if still short


def fit_columns(view: pd.DataFrame, columns: list[str],
                width: int) -> tuple[list[str], dict[str, int]]:
    """The columns to show at ``width`` and the most cells each may take: the question text
    gets what the others leave. To leave it TEXT_MIN, a subject that every id already names
    (MMLU's ``abstract_algebra-1``) is left out, then the id and subject are shortened (the
    question detail shows them whole)."""
    natural = {c: max([len(fmt_cell(v, c)) for v in view[c]] + [len(LABELS.get(c, c))]) + 2
               for c in columns if c != "text"}
    room = width - sum(natural.values()) - 4   # the text's cell padding and the scroll bar
    if room < TEXT_MIN and "subject" in natural and _ids_name_subjects(view):
        columns = [c for c in columns if c != "subject"]
        room += natural.pop("subject")
    caps: dict[str, int] = {}
    for shortest in (False, True):
        for col, (cap, tight) in SHORTENED.items():
            cap = tight if shortest else cap
            if room < TEXT_MIN and natural.get(col, 0) - 2 > cap:
                room += natural[col] - 2 - cap
                natural[col] = cap + 2
                caps[col] = cap
    caps["text"] = max(room, 10)
    return columns, caps


def _ids_name_subjects(view: pd.DataFrame) -> bool:
    pairs = view[["question_id", "subject"]].dropna()
    return len(pairs) == len(view) and all(
        str(q).startswith(str(s)) for q, s in zip(pairs["question_id"], pairs["subject"],
                                                  strict=True))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _styler_within(caps: dict[str, int]):  # noqa: ANN202 - a FrameTable styler
    def styler(col: str, value: Any, rec: dict[str, Any]) -> Text | None:
        if col == "excl" and value:
            return Text(value, style="bold red")
        if col in caps and value is not None and value == value:
            return Text(_clip(str(value), caps[col]))
        return None
    return styler


def _next_version_name(source: str, existing: list[str]) -> str:
    import re

    base = re.sub(r"-v\d+$", "", source)
    n = 2
    while f"{base}-v{n}" in existing:
        n += 1
    return f"{base}-v{n}"
