"""``i`` on the Datasets screen: the import wizard. Returns the written dataset's name (or None).

Steps: 1 the file (format detected, a name, checked there: a taken one is replaced only when
"replace" is ticked, its runs named; seed, option order and sample, as `alignuq import` has),
2 the parse preview (for tables: the column mapping, editable, and the file's first rows; Next
re-reads the file when the mapping or the human variables were edited), 3 the refusal list
(editable; live counts of what each label removes and what the list drops), 4 the
dropped-question report; only then is anything written. Every step is ``engine.lab.imports``,
the code `alignuq import` runs: the same file and settings give the same dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    Input,
    Label,
    Select,
    Static,
    TextArea,
)
from textual.worker import get_current_worker

from tui.widgets.frame_table import FrameTable

if TYPE_CHECKING:
    import pandas as pd

    from engine.lab.datasets import Dataset
    from engine.lab.imports import ImportSettings, Parsed, Preview, Source, Target

STEPS = ("step-file", "step-parse", "step-refusals", "step-report")
STEP_TITLES = ("1 File", "2 Parse & columns", "3 Refusals", "4 Report & write")
REPLACE_LABELS = {False: "replace it: no (space ticks)", True: "replace it: YES"}
ORDERS = (("shuffled", True), ("as in the file", False))


class ImportWizard(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        Binding("ctrl+r", "reparse", "Re-parse"),
        Binding("ctrl+w", "write", "Write"),
    ]

    def __init__(self, workspace: Path | None, path: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.initial_path = path
        self.step = 0
        self.source: Source | None = None    # the file and how to read it
        self.target: Target | None = None    # where the dataset goes
        self.parsed: Parsed | None = None
        self.preview: Dataset | None = None  # the unwritten dataset
        self.written: str | None = None
        self.parsed_form: tuple[object, ...] | None = None   # the step-2 fields parsed with

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        from engine.lab.imports import DEFAULT_REFUSALS, DEFAULT_SEED, FORMATS, MAPPING_FIELDS

        with Vertical(id="wizard", classes="dialog full"):
            yield Static("", id="wizard-steps", classes="dialog-title")
            with ContentSwitcher(initial="step-file", id="wizard-body"):
                with VerticalScroll(id="step-file"):
                    with Horizontal(classes="field"):
                        yield Label("file or folder")
                        yield Input(self.initial_path, placeholder="path to a Roper .txt, CSV/XLSX, "
                                    "Pew .sav, MMLU folder", id="path")
                    with Horizontal(classes="field"):
                        yield Label("format")
                        yield Select([(f, f) for f in FORMATS], allow_blank=True,
                                     prompt="(detected from the file)", id="format")
                    with Horizontal(classes="field"):
                        yield Label("dataset name")
                        yield Input(placeholder="letters, digits, . _ -", id="name")
                    with Horizontal(classes="field", id="replace-row"):
                        yield Label("")
                        yield Checkbox(REPLACE_LABELS[False], id="replace")
                    yield Static("", id="name-status")
                    with Horizontal(classes="field", id="pew-row"):
                        yield Label("Pew variables")
                        yield Input(placeholder="Pew only: Q1,Q2 or a glob such as Q* or re:REGEX",
                                    id="pew-vars")
                        yield Input(placeholder="weight: WEIGHT_W<n> (detected), a variable, or "
                                    "unweighted", id="pew-weight")
                    with Horizontal(classes="field", id="options-row"):
                        yield Label("seed/order/sample")
                        yield Input(str(DEFAULT_SEED), type="integer", id="seed")
                        yield Select(ORDERS, allow_blank=False, value=True, id="shuffle")
                        yield Input(placeholder="sample N (blank: all)", type="integer",
                                    id="sample")
                    yield Static("[dim]enter on the path detects the format; ctrl+n goes on[/dim]",
                                 id="file-status")
                with Vertical(id="step-parse"):
                    yield Static("", id="parse-status")
                    with Horizontal(id="mapping-grid"):
                        for name in MAPPING_FIELDS:
                            with Vertical(classes="map-field"):
                                yield Label(name)
                                yield Input(id=f"map-{name}", placeholder="auto", compact=True)
                    with Horizontal(classes="field"):
                        yield Label("human variables")
                        yield Input(placeholder="NAME=COLUMN or a column name or glob, "
                                    "comma-separated", id="human-cols")
                    yield Static("", id="mapping-note")
                    yield Static("[dim]file head[/dim]", id="head-title", classes="pane-title")
                    yield FrameTable(export_name="import-head", id="head")
                    yield Static("[dim]parsed questions[/dim]", classes="pane-title")
                    yield FrameTable(export_name="import-preview", id="parsed")
                with Horizontal(id="step-refusals"):
                    with Vertical(id="refusal-edit"):
                        yield Label("Refusal labels, one a line")
                        yield TextArea("\n".join(DEFAULT_REFUSALS), id="refusals")
                    with Vertical(id="refusal-counts-pane"):
                        yield Static("", id="refusal-summary")
                        yield FrameTable(export_name="refusal-counts", id="refusal-counts")
                with Vertical(id="step-report"):
                    yield Static("", id="report-summary")
                    yield FrameTable(export_name="dropped-preview", id="dropped")
            with Horizontal(classes="buttons"):
                yield Button("Back (ctrl+b)", id="back")
                yield Button("Re-read (ctrl+r)", id="reparse")
                yield Button("Next (ctrl+n)", id="next", variant="primary")
                yield Button("Write dataset (ctrl+w)", id="write", variant="success")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self._show_step()
        self.query_one("#path", Input).focus()
        if self.initial_path:
            self.detect_format()

    def _show_step(self) -> None:
        parts = []
        for i, title in enumerate(STEP_TITLES):
            parts.append(f"[reverse b] {title} [/]" if i == self.step else f"[dim]{title}[/dim]")
        self.query_one("#wizard-steps", Static).update("[b]Import[/b]  " + " › ".join(parts))
        self.query_one("#wizard-body", ContentSwitcher).current = STEPS[self.step]
        self.query_one("#back", Button).disabled = self.step == 0
        self.query_one("#next", Button).display = self.step < len(STEPS) - 1
        self.query_one("#reparse", Button).display = self.step == 1
        self.query_one("#write", Button).display = self.step == len(STEPS) - 1
        fmt = self.query_one("#format", Select).value
        self.query_one("#pew-row").display = fmt == "pew"
        is_table = self.parsed is not None and self.parsed.format == "table"
        for wid in ("#mapping-grid", "#head-title", "#head"):
            self.query_one(wid).display = is_table

    # ------------------------------------------------------------------ step 1
    @on(Input.Submitted, "#path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        self.detect_format()

    def detect_format(self) -> None:
        from common.errors import as_error
        from engine.lab.imports import detect, suggest_name

        path = self.query_one("#path", Input).value.strip()
        status = self.query_one("#file-status", Static)
        if not path:
            status.update("[red]type a path first[/red]")
            return
        try:
            fmt = detect(path)
        except Exception as err:
            f = as_error(err)
            status.update(f"[red]{f.what}[/red]\n{f.fix}")
            return
        self.query_one("#format", Select).value = fmt
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = suggest_name(path)
        status.update(f"detected format: [b]{fmt}[/b]. ctrl+n parses the file.")
        self._show_step()
        if fmt == "pew":
            self.query_one("#pew-vars", Input).focus()
        else:
            self.query_one("#name", Input).focus()

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        self.check_name()

    @on(Checkbox.Changed, "#replace")
    def _replace_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = REPLACE_LABELS[event.value]   # said in words, not by colour
        self.check_name()

    def check_name(self) -> bool:
        """Whether the name can be written: valid, and free or to be replaced (its runs named,
        deleted with it). Says which in the name's status line, at step 1."""
        from engine.lab.imports import check_target_name

        name = self.query_one("#name", Input).value.strip()
        status = self.query_one("#name-status", Static)
        row = self.query_one("#replace-row")
        checked = check_target_name(self.workspace, name) if name else None
        row.display = bool(checked and checked.taken)
        if checked is None or checked.bad:
            status.update(f"[red]{escape(checked.bad)}[/red]" if checked else "")
            return False
        if not checked.taken:
            status.update(f"[dim]new dataset {escape(name)}[/dim]")
            return True
        runs = checked.runs
        replace = self.query_one("#replace", Checkbox).value
        said = (f" and its {len(runs)} run(s) ({escape(', '.join(runs[:3]))}"
                f"{'…' if len(runs) > 3 else ''})" if runs else "")
        if replace:
            status.update(f"[yellow]writing replaces dataset {escape(name)}{said}[/yellow]")
        else:
            status.update(f"[red]dataset {escape(name)} already exists[/red]: tick "
                          f"\"replace\" to replace it{said}, or choose another name")
        return replace

    @on(Select.Changed, "#format")
    def _format_changed(self, event: Select.Changed) -> None:
        from engine.lab.imports import SHUFFLE_BY_DEFAULT

        if event.value in SHUFFLE_BY_DEFAULT:  # each format's default order, as `alignuq import`
            self.query_one("#shuffle", Select).value = SHUFFLE_BY_DEFAULT[str(event.value)]
        self._show_step()

    @on(Input.Submitted, "#name, #pew-vars, #pew-weight, #seed, #sample")
    def _name_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    # ------------------------------------------------------------------ step 2
    def _mapping(self) -> dict[str, str | None]:
        from engine.lab.imports import MAPPING_FIELDS

        return {f: self.query_one(f"#map-{f}", Input).value.strip() or None for f in MAPPING_FIELDS}

    def _form(self) -> tuple[object, ...]:
        """The step-2 fields a parse reads: the column mapping and the human variables."""
        return (tuple(self._mapping().items()), self.query_one("#human-cols", Input).value.strip())

    def _refusals(self) -> list[str]:
        return self.query_one("#refusals", TextArea).text.splitlines()

    def _source(self) -> Source:
        """What to read, as the form says (a table's mapping once the grid shows one)."""
        from engine.lab.imports import Source

        path = self.query_one("#path", Input).value.strip()
        weight = self.query_one("#pew-weight", Input).value.strip()
        unweighted = weight.lower() == "unweighted"
        questions = self.query_one("#pew-vars", Input).value.split(",")
        mapped = self.parsed is not None and self.parsed.format == "table"
        human = self.query_one("#human-cols", Input).value.split(",")
        return Source(str(self.query_one("#format", Select).value), Path(path),
                      mapping=self._mapping() if mapped else {},
                      human=tuple(h.strip() for h in human if h.strip()),
                      questions=tuple(q.strip() for q in questions if q.strip()),
                      weight=None if unweighted else weight or None, unweighted=unweighted)

    def _settings(self, fmt: str) -> ImportSettings:
        from engine.lab.imports import DEFAULT_SEED, settings

        seed = _whole_number(self.query_one("#seed", Input).value, "the seed")
        sample = _whole_number(self.query_one("#sample", Input).value, "the sample size")
        return settings(fmt, seed=DEFAULT_SEED if seed is None else seed,
                        shuffle=bool(self.query_one("#shuffle", Select).value), sample=sample,
                        refusal_lines=self._refusals())

    def parse(self, then_step: int | None = None) -> None:
        """Parse the file as the form says (read here, on the screen's thread), in a worker."""
        from common.errors import as_error

        try:
            source = self._source()
            refusals = self._settings(source.fmt).refusals
        except Exception as err:
            f = as_error(err)
            self._parse_failed(f.what, f.fix)
            return
        self.query_one("#parse-status", Static).update("[dim]parsing…[/dim]")
        self._parse_in_thread(self.query_one("#name", Input).value.strip(), source, refusals,
                              then_step, self.query_one("#replace", Checkbox).value)

    @work(thread=True, exclusive=True, group="parse", exit_on_error=False)
    def _parse_in_thread(self, name: str, source: Source, refusals: tuple[str, ...],
                         then_step: int | None, replace: bool = False) -> None:
        from common.errors import as_error
        from engine.lab import imports

        try:
            target = imports.target(self.workspace, name, force=replace, with_runs=replace)
            parsed = imports.parse(source, refusals=refusals, name=name)
            table = imports.question_rows(parsed)
            found = imports.describe(parsed)
        except Exception as err:
            f = as_error(err)
            self.app.call_from_thread(self._parse_failed, f.what, f.fix)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._parsed, source, target, parsed, table, found,
                                      then_step)

    def _parse_failed(self, message: str, suggestion: str) -> None:
        self.parsed = None
        text = f"[red]cannot parse:[/red] {message}" + (f"\n{suggestion}" if suggestion else "")
        self.query_one("#parse-status", Static).update(text)
        if self.step == 0:
            self.query_one("#file-status", Static).update(text)

    def _parsed(self, source: Source, target: Target, parsed: Parsed, table: pd.DataFrame,
                found: list[str], then_step: int | None) -> None:
        self.source, self.target, self.parsed = source, target, parsed
        lines = [f"[b]{parsed.format}[/b]: {len(parsed.raw)} question(s) read from "
                 f"{escape(str(parsed.file))}"]
        lines += [f"[dim]{escape(line)}[/dim]" for line in found]
        lines += [f"[yellow]! {escape(w)}[/yellow]" for w in parsed.warnings[:3]]
        self.query_one("#parse-status", Static).update("\n".join(lines))
        if parsed.mapping is not None:
            for f, v in parsed.mapping.as_dict().items():
                self.query_one(f"#map-{f}", Input).value = v or ""
            self.query_one("#head", FrameTable).show_frame(parsed.head.astype(str))
        self.parsed_form = self._form()
        self.query_one("#mapping-note", Static).update("")
        self.query_one("#parsed", FrameTable).show_frame(
            table, columns=["question_id", "n", "text", "choices", "shares", "correct", "subject"])
        if then_step is not None:
            self.step = then_step
        self._show_step()
        self.recount()

    @on(Input.Changed, "#mapping-grid Input, #human-cols")
    def _mapping_edited(self, event: Input.Changed) -> None:
        edited = self.parsed is not None and self._form() != self.parsed_form
        self.query_one("#mapping-note", Static).update(
            "[yellow]edited: Next (or ctrl+r) reads the file again with these columns[/yellow]"
            if edited else "")

    def action_reparse(self) -> None:
        if self.step >= 1:
            self.parse()

    # ------------------------------------------------------------------ step 3
    @on(TextArea.Changed, "#refusals")
    def _refusals_changed(self, event: TextArea.Changed) -> None:
        if self.parsed is not None:
            self.recount()

    def recount(self) -> None:
        """What the refusal list in the editor drops, counted in a worker."""
        from common.errors import as_error

        if self.source is None or self.parsed is None or self.target is None:
            return
        try:
            chosen = self._settings(self.source.fmt)
        except Exception as err:
            f = as_error(err)
            self._recount_failed(f.what, f.fix)
            return
        self._recount_in_thread(self.source, self.parsed, self.target.name, chosen)

    @work(thread=True, exclusive=True, group="recount", exit_on_error=False)
    def _recount_in_thread(self, source: Source, parsed: Parsed, name: str,
                           chosen: ImportSettings) -> None:
        import time

        from common.errors import as_error
        from engine.lab.imports import preview

        time.sleep(0.15)  # typing: let a burst of keys settle (exclusive cancels the older one)
        worker = get_current_worker()
        if worker.is_cancelled:
            return
        try:
            result = preview(source, parsed, name, chosen)
        except Exception as err:
            f = as_error(err)
            self.app.call_from_thread(self._recount_failed, f.what, f.fix)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._recounted, result)

    def _recount_failed(self, message: str, suggestion: str) -> None:
        self.preview = None
        self.query_one("#refusal-summary", Static).update(f"[red]{message}[/red]\n{suggestion}")
        self.query_one("#report-summary", Static).update(f"[red]{message}[/red]\n{suggestion}")

    def _recounted(self, result: Preview) -> None:
        self.parsed = result.parsed  # a Pew file is read again for another refusal list
        self.preview = preview = result.dataset
        counts = result.refusal_counts
        c = preview.report["counts"]
        reasons = c.get("dropped_by_reason", {})
        removed = int(c.get("refusal_options_removed", 0))
        few = int(reasons.get("fewer_than_2_options", 0))
        survey = any(q.shares is not None for q in self.parsed.raw)
        matched = counts[counts["options"] > 0]
        if survey:
            self.query_one("#refusal-summary", Static).update(
                f"this list removes [b]{removed}[/b] option(s); "
                f"[b]{few}[/b] question(s) left with < 2 options are dropped; "
                f"{c['n_kept']} of {c['n_read']} kept.\n[dim]labels that match something:[/dim]")
        else:
            self.query_one("#refusal-summary", Static).update(
                "a benchmark without human shares: refusal labels do not apply.")
        self.query_one("#refusal-counts", FrameTable).show_frame(
            matched if len(matched) else counts.head(0))
        lines = [f"[b]{preview.name}[/b]: [green]{c['n_kept']} kept[/green], "
                 f"[red]{c['n_dropped']} dropped[/red] of {c['n_read']} read"]
        for reason, n in sorted(reasons.items()):
            lines.append(f"  {reason}: {n}")
        if c.get("n_not_sampled"):
            lines.append(f"  not sampled: {c['n_not_sampled']}")
        if removed:
            lines.append(f"  refusal options removed: {removed}")
        chosen = preview.report["settings"]
        lines.append("option order: " + (f"shuffled, seed {chosen['seed']}" if chosen["shuffle"]
                                         else "as in the file"))
        if not c["n_dropped"]:
            lines.append("nothing is dropped")
        lines.append("[dim]ctrl+w writes the dataset; ctrl+b goes back to change the "
                     "refusals or the columns[/dim]")
        self.query_one("#report-summary", Static).update("\n".join(lines))
        dropped = preview.dropped
        self.query_one("#dropped", FrameTable).show_frame(
            dropped if len(dropped) else dropped.head(0), columns=["question_id", "reason",
                                                                   "detail", "text"])

    # ------------------------------------------------------------------ navigation
    def action_next(self) -> None:
        if self.step == 0:
            if not self.query_one("#path", Input).value.strip():
                self.query_one("#file-status", Static).update("[red]type a path first[/red]")
                return
            if self.query_one("#format", Select).value in (Select.NULL, None):
                self.detect_format()
                if self.query_one("#format", Select).value in (Select.NULL, None):
                    return
            if not self.query_one("#name", Input).value.strip():
                self.query_one("#file-status", Static).update("[red]give the dataset a name[/red]")
                return
            if not self.check_name():
                self.query_one("#name", Input).focus()
                return
            self.parse(then_step=1)
            return
        if self.parsed is None:
            return
        if self.step == 1 and self._form() != self.parsed_form:
            self.parse(then_step=2)   # the mapping was edited: what goes on is what it reads
            return
        if self.step < len(STEPS) - 1:
            self.step += 1
            self._show_step()
            if STEPS[self.step] == "step-refusals":
                self.query_one("#refusals", TextArea).focus()
            elif STEPS[self.step] == "step-report":
                self.query_one("#dropped", FrameTable).focus()

    def action_back(self) -> None:
        if self.step > 0:
            self.step -= 1
            self._show_step()

    def action_write(self) -> None:
        if self.step != len(STEPS) - 1 or self.preview is None or self.target is None:
            return
        self.write_dataset(self.target, self.preview)

    @work(thread=True, exclusive=True, group="write", exit_on_error=False)
    def write_dataset(self, target: Target, dataset: Dataset) -> None:
        from common.errors import as_error
        from engine.lab.imports import write

        try:
            write(target, dataset)
        except Exception as err:
            f = as_error(err)
            self.app.call_from_thread(self._recount_failed, f.what, f.fix)
            return
        self.app.call_from_thread(self.dismiss, dataset.name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        action = {"back": self.action_back, "next": self.action_next, "write": self.action_write,
                  "reparse": self.action_reparse,
                  "cancel": self.action_cancel}.get(event.button.id or "")
        if action:
            action()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _whole_number(text: str, what: str) -> int | None:
    """The number typed in an integer field; None when it is blank."""
    from common.errors import BadInput

    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{what} {text!r} is not a whole number", fix="type digits only") from None
