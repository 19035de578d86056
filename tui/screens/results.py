"""Results: the paper's tables for one dataset and its runs, computed in workers.

One tab per analysis of the registry (``engine.lab.analyses``), computed with every setting the
app has (``Settings.table_settings``) through ``engine.lab.tables``. Some tabs show more than the
table: alignment (significance marked, partial r, the choice-count strata below), calibration (a
coloured model × subject table), ECE (a reliability diagram), the JSD shift (its permutation
histogram); an analysis without its own view gets its table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, OptionList, SelectionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from engine.lab.analyses import ANALYSES, SETTINGS
from tui.messages import RunsListed, TableOutcome, TableReady, WorkspaceChanged
from tui.screens.base import SectionScreen
from tui.settings import OWN_FIELDS, SCALES
from tui.widgets.frame_table import FrameTable, fmt_cell
from tui.widgets.marked_list import MarkedSelectionList
from tui.widgets.plots import LayerPlot, NullHistogram, ReliabilityPlot
from tui.workers import LoadCache

if TYPE_CHECKING:
    from engine.lab.tables import RunToPick
    from tui.dialogs.export import ExportChoice

POLL_SECONDS = 2.0      # how often the screen looks for changed settings and runs
KEYS = {"scale": "c"}
MODELS_KEYS = ("variant", "measures")
# the data behind a tab's plot, exported from its dialog: (extra output, the entry's label)
PLOT_DATA = {"ece": (("bins", "Reliability bins behind the plot (CSV)"),),
             "jsd": (("null", "Permutation null sample behind the plot (CSV)"),)}
CLIP_MIN = 8            # a model or measure is never cut shorter than this
CLIP_MAX = 32           # nor shown longer (enter shows it whole), leaving room for numbers   # set on the Models & measures screen   # the settings with a key of their own; the others are the dialog's (o)
DIALOG = tuple(name for name in SETTINGS if name not in OWN_FIELDS)


def stars(p: Any) -> str:
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if p != p:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def rho_style(value: float) -> str:
    """Calibration colours: negative ρ (calibrated) green, positive red; stronger = brighter."""
    if value != value:
        return "dim"
    mag = min(abs(value) / 0.5, 1.0)
    level = 90 + int(mag * 165)
    return f"bold rgb(0,{level},0)" if value < 0 else f"bold rgb({level},0,0)"


def setting_text(key: str, value: Any) -> str:
    """A setting's value as the settings panel and the tables' captions say it."""
    if key == "measures":
        return "all" if value is None else str(len(value))
    if isinstance(value, list):
        return ",".join(value)
    if value is None:
        return "none" if key == "reference" else "auto"
    return str(value)


def short(text: Any, width: int = 16) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def picker_label(label: str) -> str:
    """A run label for the narrow run list: what tells the run apart first (``paper ·
    SmolLM2…``), since the model's name, cut, is the same for every run of it."""
    model, *traits = label.split(" · ")
    return " · ".join([*traits, model])


def clip_middle(text: Any, width: int) -> str:
    """``text`` in ``width`` characters, cut in the middle: the end of a measure (@100) or a
    model (Instruct, Q4_1) tells rows apart more often than its middle does."""
    text = str(text)
    if len(text) <= width:
        return text
    tail = (width - 1) * 3 // 5
    return text[:width - 1 - tail] + "…" + text[len(text) - tail:]


def fit_columns(frame: Any, columns: list[str], decisive: tuple[str, ...], width: int,
                labels: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """The columns of ``frame`` that fit ``width`` cells: every decisive one (the text columns,
    model and measure, cut in the middle down to CLIP_MIN to make room), then the others in
    order while they fit; the rest are in the row's detail view (enter). Returns a display
    copy with the text columns cut, and the columns to show."""
    labels = labels or {}

    def natural(col: str) -> int:
        cells = [len(fmt_cell(v, col)) for v in frame[col]] if col in frame else []
        cap = CLIP_MAX if col in ("model", "measure") else 60
        return min(max([len(labels.get(col, col)), *cells]), cap)

    widths = {col: natural(col) for col in columns}
    shown = [col for col in columns if col in decisive]

    def used(cols: list[str]) -> int:
        return sum(widths[c] + 2 for c in cols)   # a cell's padding: one each side

    clippable = [c for c in ("model", "measure") if c in shown]
    while used(shown) > width and clippable:
        widest = max(clippable, key=lambda c: widths[c])
        if widths[widest] <= CLIP_MIN:
            break
        widths[widest] -= 1
    for col in columns:
        if col not in shown and used(shown) + widths[col] + 2 <= width:
            shown.append(col)
    out = frame.copy()
    for col in clippable:
        out[col] = out[col].map(lambda v, w=widths[col]: clip_middle(v, w))
    return out, [col for col in columns if col in shown]


def with_short_models(frame: Any) -> Any:
    """A display copy whose model column fits a narrow terminal (exports keep the full name)."""
    out = frame.copy()
    if "model" in out:
        out["model"] = out["model"].map(short)
    return out


class ResultsScreen(SectionScreen):
    SECTION = "results"
    TITLE = "Results"
    DEFAULT_CSS = """
    ResultsScreen .table-caption { height: auto; max-height: 2; color: $text-muted; }
    ResultsScreen #calib-measure { height: auto; }
    """
    HELP = """\
The tables of the paper for the selected dataset (left) and its selected runs (space toggles a run).

* **Alignment**: Pearson r of each model × measure with human entropy (`*` p<0.05, `**` p<0.01,
  `***` p<0.001; bold when |r| ≥ 0.3), Spearman ρ, and the choice-count confound: the partial r
  controlling for log n, and r within each choice-count stratum (≥ 30 questions) below.
  `k` switches the scale: raw, normalized, paper (SCIENCE.md §4), successor.
* **Agreement** (top-answer, with chance and tests) and **Kendall** τ distance.
* **Calibration**: Spearman ρ(correct, measure) per subject as a model × subject table, green =
  calibrated (negative), red = the wrong way; `[` and `]` change the measure.
* **ECE** with the reliability diagram of the highlighted row (bins against the diagonal).
* **JSD shift** with the permutation null of the highlighted row and the observed shift as a line.
* The successor study's tables (SCIENCE-successor.md): **Base vs instruct** (the pairs'
  Wilcoxon column), **Heatmap** (its alignment cells, blank unless p < 0.05/(4·M·K)),
  **RMS-CE** and **ECE-sweep** (its calibration errors), **Agreement (successor)**.
* Beyond the papers: **Accuracy** (letter bias, choice mass), **Brier**, **AUROC**,
  **Risk-coverage**, **ECE (adaptive)**, **Recalibration**.
* **Probe** (the last tab, `,` from the first): per layer, the cross-validated r of a linear
  read-out of the hidden state, for runs made with `--capture-activations`, and r by layer for
  each run with chance (the shuffles' 95th percentile) dotted.
* `1` … `9`, `0` pick a tab, `.` and `,` the next and previous one; `ctrl+r` recomputes (rarely
  needed: the tables follow every setting and every run as it appears, grows or finishes; the
  workspace is looked at every 2 s); `enter` on a row shows all its columns (at 80 columns only
  the decisive ones fit: r, partial r, ECE, the JSD shift and p; model and measure are cut in the
  middle).
* `e` exports the focused table (CSV / Markdown / LaTeX) with the provenance `alignuq analyze`
  writes; on the ECE and JSD shift tabs also the data behind the plot (the reliability bins, the
  permutation null sample), and on a tab with figures its figures. Type a path in the dialog
  (relative: under exports/; a file there already is refused) or leave it empty for a new name
  in exports/. `f` writes the tab's figures for a paper (`alignuq figure`: reliability,
  permutation, the heatmaps, probe by layer) as PDFs into the exports folder.
* The settings panel (left) shows every setting of the tables: first those the table on show
  takes, then (dim) the others'. `k` the scale, `m` (the Models screen) the variant and
  measures, `o` the others (seed, permutations, bins, cdf, adjust, min subject n, target,
  bootstrap, the probe's settings, ...), each with its help and the tables that use it; they
  mean what `alignuq analyze`'s options of the same name mean, and the provenance records them.
  Each table's first line says the settings it was made with. The settings are kept in the
  workspace (`console-settings.json`) for the next start.

Measures that grow with certainty (`top1_prob`, `choice_top1`, `choice_margin`) enter every table
negated, as `-NAME`, so each row reads as an uncertainty. Runs made on another import of the
dataset are left out (re-run them); so are partial runs (cancelled or unfinished: the runner does
the longest prompts first, so they are not a random sample) until `p` lets them in, as
`alignuq analyze --allow-partial` does. The line under the tables names the runs left out and why.
"""

    BINDINGS = [
        Binding("c", "cycle_scale", "Scale"),   # j/k/g/G are the tables'
        Binding("left_square_bracket", "measure(-1)", "Measure−", key_display="["),
        Binding("right_square_bracket", "measure(1)", "Measure+", key_display="]"),
        Binding("o", "table_settings", "Settings"),
        Binding("ctrl+r", "recompute", "Recompute"),
        Binding("p", "toggle_partial", "Partial runs"),
        Binding("e", "app.export", "Export"),   # the app's, with export_more's plot data, figures
        Binding("f", "figure", "Figure", show=False),   # in the help and the palette
        *[Binding(key, f"tab('{name}')", spec.title, show=False)
          for key, (name, spec) in zip("1234567890", ANALYSES.items(), strict=False)],
        Binding("full_stop", "next_tab(1)", "Next tab", key_display="."),
        Binding("comma", "next_tab(-1)", "Previous tab", key_display=",", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.dataset: str | None = None
        self.runs: list[RunToPick] = []
        self.results: dict[str, TableOutcome] = {}
        self.cache = LoadCache()
        self.calib_measure_index = 0
        self.generation = 0
        self.allow_partial = False
        self.left_out = ""       # which runs the picker leaves out, and why
        # what the tables on screen were computed from: (dataset, runs, partial, settings);
        # anything else (a setting changed elsewhere, a run grew) makes them stale
        self.computed_from: tuple[Any, ...] | None = None
        self.defaults: dict[str, bool] = {}   # each listed run: selected by default?
        self.signature: tuple | None = None   # the workspace's last fingerprint
        self.settings_text = ""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="results-body"):
            with Vertical(id="results-side", classes="side"):
                yield Static("[b]Dataset[/b]", classes="pane-title")
                yield OptionList(id="results-datasets")
                yield Static("[b]Runs[/b]", classes="pane-title")
                yield MarkedSelectionList(id="results-runs")
                with VerticalScroll(id="results-settings-pane"):
                    yield Static("", id="results-settings")
            with Vertical(id="results-main"):
                with TabbedContent(id="results-tabs"):
                    for name, spec in ANALYSES.items():
                        with TabPane(spec.title, id=name):
                            yield from self._tab(name)
                yield Static("", id="results-notes", classes="hint")

    def _tab(self, name: str) -> ComposeResult:
        """What tab ``name`` holds: its table, and what the analysis shows beside it."""
        yield Static("", id=f"cap-{name}", classes="table-caption")
        if name == "calibration":
            yield Static("", id="calib-measure", classes="status-line")
        elif name == "alignment":
            yield Static("", id="align-target", classes="status-line")
        yield FrameTable(export_name=name, id=f"t-{name}")
        if name == "alignment":
            yield Static("[b]Choice-count strata[/b] (r within each n, ≥ 30 questions)",
                         classes="pane-title")
            yield FrameTable(export_name="alignment-strata", id="t-strata")
        elif name == "ece":
            yield ReliabilityPlot(id="reliability")
        elif name == "jsd":
            yield NullHistogram(id="null-hist")
        elif name == "probe":
            yield LayerPlot(id="probe-layers")

    def on_mount(self) -> None:
        self._show_settings()
        self.call_after_refresh(self.runs_changed)
        self.set_interval(POLL_SECONDS, self._poll, name="watch the workspace")

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.settings_changed()

    def settings_changed(self) -> None:
        """A setting changed (here, on Models, ...): recompute what is shown, now if this screen
        is on show, else when it is next (``on_screen_resume``)."""
        self._show_settings()
        if self.is_current and self.dataset and self._inputs() != self.computed_from:
            self.compute()

    def _inputs(self) -> tuple[Any, ...]:
        return (self.dataset, tuple(sorted(self.selected_runs())), self.allow_partial,
                repr(sorted(self.app.settings.table_settings().items())))

    def _poll(self) -> None:
        """Every POLL_SECONDS: the settings (however they were changed) and the workspace's
        fingerprint (``workers.workspace_signature``, in a thread); a changed fingerprint
        re-lists the runs, which recomputes the tables if their runs changed."""
        from tui.workers import workspace_signature

        self.settings_changed()
        root = self.app.settings.workspace

        def work() -> None:
            signature = workspace_signature(root)
            if signature != self.signature:
                self.post_message(WorkspaceChanged(signature))

        self.run_worker(work, thread=True, group="results-poll", exclusive=True,
                        exit_on_error=False, name="watch the workspace")

    def on_workspace_changed(self, message: WorkspaceChanged) -> None:
        if message.signature != self.signature:
            self.signature = message.signature
            self.cache.clear()
            self.runs_changed()

    def _show_settings(self) -> None:
        """Whether partial runs are in, then every setting of the tables (the registry's): those
        the table on show takes first, then the others' (dim)."""
        spec = ANALYSES.get(self._active_tab())
        takes = spec.settings if spec else ()
        shown = self.app.settings.table_settings()
        lines = [f"partial runs [b]{'in' if self.allow_partial else 'left out'}[/b] (p)",
                 f"[u]{escape(spec.title) if spec else 'this table'}[/u]"
                 + ("" if takes else " [dim]takes no setting[/dim]")]
        others = ["[u]other tables[/u]"]
        for key, value in shown.items():
            shortcut = KEYS.get(key, "o" if key in DIALOG else "m" if key in MODELS_KEYS else "")
            line = (f"{key.replace('_', ' ')} [b]{escape(setting_text(key, value))}[/b]"
                    + (f" ({shortcut})" if shortcut else ""))
            (lines if key in takes else others).append(line if key in takes
                                                       else f"[dim]{line}[/dim]")
        text = "\n".join(lines + others)
        if text != self.settings_text:      # the poll calls this every POLL_SECONDS
            self.settings_text = text
            self.query_one("#results-settings", Static).update(text)

    def _active_tab(self) -> str:
        return self.query_one("#results-tabs", TabbedContent).active

    @on(TabbedContent.TabActivated, "#results-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._show_settings()

    def _caption(self, out: TableOutcome) -> None:
        """The line above a table: the settings it was made with (``Table.settings``)."""
        caption = self.query_one(f"#cap-{out.key}", Static)
        if out.table is None:
            caption.update("")
            return
        used = out.table.settings
        text = " · ".join(f"{key.replace('_', ' ')} {setting_text(key, value)}"
                          for key, value in used.items()) or "no settings"
        runs = len(out.table.loaded.manifests)
        caption.update(f"[dim]made with {escape(text)} · {runs} run{'s' if runs != 1 else ''}"
                       f"{' (partial in)' if out.table.loaded.allow_partial else ''}[/dim]")

    # ------------------------------------------------------------------ datasets and runs
    def runs_changed(self) -> None:
        """Re-read the workspace's runs (after a run finished, or on first visit)."""
        from tui.workers import analysis_runs, workspace_signature

        root = self.app.settings.workspace

        def work() -> None:
            # the fingerprint first: a change while listing shows up at the next poll
            listed = RunsListed([])
            listed.signature = workspace_signature(root)
            listed.runs = analysis_runs(root)
            self.post_message(listed)

        self.run_worker(work, thread=True, group="results-runs", exclusive=True,
                        exit_on_error=False, name="list runs")

    def on_runs_listed(self, message: RunsListed) -> None:
        self.signature = getattr(message, "signature", self.signature)
        self.runs = message.runs
        datasets = list(dict.fromkeys(r["dataset"] for r in self.runs if r.get("dataset")))
        options = self.query_one("#results-datasets", OptionList)
        options.clear_options()
        for name in datasets:
            n = sum(1 for r in self.runs if r.get("dataset") == name)
            label = Text(name, style="bold")
            label.append(f"  {n} run{'s' if n != 1 else ''}", style="dim")
            options.add_option(Option(label, id=name))
        if not datasets:
            self.dataset = None
            self.query_one("#results-notes", Static).update(
                "No runs with results yet: queue one on the Runs screen (r, then n).")
            return
        wanted = self.dataset if self.dataset in datasets else datasets[0]
        options.highlighted = datasets.index(wanted)
        self._select_dataset(wanted, force=True)

    def show_dataset(self, name: str) -> bool:
        """Show dataset ``name``'s tables (False: it has no runs to show)."""
        options = self.query_one("#results-datasets", OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        if name not in ids:
            return False
        options.highlighted = ids.index(name)
        return True

    @on(OptionList.OptionHighlighted, "#results-datasets")
    def _dataset_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._select_dataset(event.option.id)

    def _select_dataset(self, name: str, force: bool = False) -> None:
        """Show dataset ``name``'s runs in the picker and compute its tables. Listed again (a
        run appeared, grew or finished), a run keeps the user's choice unless what selects it
        by default changed (it finished; partial runs were let in)."""
        if name == self.dataset and not force:
            return
        same = name == self.dataset
        self.dataset = name
        runs = [r for r in self.runs if r.get("dataset") == name]
        picker = self.query_one("#results-runs", SelectionList)
        chosen = set(picker.selected)
        defaults = {r["run_id"]: not self._why_left_out(r["coverage"]) for r in runs}
        with picker.prevent(SelectionList.SelectedChanged):
            picker.clear_options()
            for r in runs:
                cov, rid = r["coverage"], r["run_id"]
                tag = {"stale": " stale", "partial": f" {cov.counts} partial"}.get(cov.problem, "")
                kept = same and self.defaults.get(rid) == defaults[rid]
                picker.add_option((f"{picker_label(r['label'])} {r['n_done']}q{tag}", rid,
                                   rid in chosen if kept else defaults[rid]))
        self.defaults = defaults
        left = [f"{short(r['label'])} ({why})" for r in runs
                if (why := self._why_left_out(r["coverage"]))]
        self.left_out = f"left out: {'; '.join(left)}" if left else ""
        if self._inputs() != self.computed_from or not same:
            self.compute()
        else:
            self._notes()

    def _why_left_out(self, cov: Any) -> str:
        """Why the picker does not select a run by default ('' where it does)."""
        if cov.problem == "stale":
            return "made on another import of the dataset: re-run it"
        if cov.problem == "partial" and not self.allow_partial:
            return f"partial, {cov.counts} questions, {cov.status}: p lets partial runs in"
        return ""

    @on(SelectionList.SelectedChanged, "#results-runs")
    def _runs_picked(self, event: SelectionList.SelectedChanged) -> None:
        self.compute()

    def selected_runs(self) -> list[str]:
        return list(self.query_one("#results-runs", SelectionList).selected)

    # ------------------------------------------------------------------ computing
    def compute(self) -> None:
        """Compute every table for the dataset and runs, one worker, tables posted as ready."""
        from tui.workers import compute_table

        if not self.dataset:
            return
        # the runs picked are a set: ordered as `alignuq analyze` orders every run of a dataset
        run_ids = sorted(self.selected_runs())
        self.generation += 1
        gen = self.generation
        notes = self.query_one("#results-notes", Static)
        if not run_ids:
            self.computed_from = self._inputs()
            notes.update("\n".join(filter(None, [self._left_out_line(),
                                                  "Select at least one run (space)."])))
            return
        notes.update("[dim]computing…[/dim]")
        settings, dataset, cache = self.app.settings, self.dataset, self.cache
        allow_partial = self.allow_partial
        self.computed_from = self._inputs()

        def work() -> None:
            worker = get_current_worker()
            for key in ANALYSES:
                if worker.is_cancelled:     # a newer computation replaced this one
                    return
                self.post_message(TableReady(compute_table(settings, dataset, run_ids, key, gen,
                                                           cache, allow_partial=allow_partial)))

        self.run_worker(work, thread=True, group="results", exclusive=True,
                        exit_on_error=False, name="compute tables")

    def on_table_ready(self, message: TableReady) -> None:
        out = message.outcome
        if out.generation != self.generation:
            return  # a newer computation is on its way
        self.results[out.key] = out
        self._caption(out)
        show = getattr(self, f"_show_{out.key}", None)
        if show is None:
            self._show_table(out.key, out)
        else:
            show(out)
        self._notes()

    def _left_out_line(self) -> str:
        return f"[yellow]{escape(self.left_out)}[/yellow]" if self.left_out else ""

    def _notes(self) -> None:
        """The runs left out, then each error once (with the tables it stopped), then notes."""
        tables_by_error: dict[str, list[str]] = {}
        for key in ANALYSES:
            out = self.results.get(key)
            if out and out.error:
                tables_by_error.setdefault(out.error, []).append(key)
        lines = [self._left_out_line()] if self.left_out else []
        lines += [f"[yellow]{', '.join(keys)}[/yellow]: {escape(error)}"
                  for error, keys in tables_by_error.items()]
        first = self.results.get("alignment")
        lines += [f"[dim]{escape(note)}[/dim]" for note in (first.notes if first else [])[:2]]
        self.query_one("#results-notes", Static).update("\n".join(lines[:4]))

    def _empty(self, table_id: str, out: TableOutcome) -> bool:
        table = self.query_one(table_id, FrameTable)
        if out.frame is None:
            import textwrap

            import pandas as pd

            width = max(20, self._room() - 4)
            lines = textwrap.wrap(out.error or "no data", width)
            table.show_frame(pd.DataFrame({"not available": lines}),
                             max_widths={"not available": width})
            table.frame = None  # nothing to export
            return True
        return False

    def _room(self) -> int:
        """Cells a table of the tabs has for its columns (less its scroll bar)."""
        return max(self.query_one("#results-main").size.width - 2, 40)

    def on_resize(self) -> None:
        """Columns are fitted to the width: fit them again."""
        for out in list(self.results.values()):
            if out.generation == self.generation:
                self.on_table_ready(TableReady(out))

    @on(DataTable.RowSelected)
    def _row_detail(self, event: DataTable.RowSelected) -> None:
        """enter on a table's row: every column of it (those the width left out too)."""
        from tui.dialogs.row_detail import RowDetail

        table = event.data_table
        if not isinstance(table, FrameTable) or not table.has_data or table.id == "t-calibration":
            return
        try:
            record = table.frame.iloc[int(event.row_key.value)].to_dict()
        except (TypeError, ValueError, IndexError):
            return
        self.app.push_screen(RowDetail(table.export_name, record))

    # ------------------------------------------------------------------ tables
    def _show_alignment(self, out: TableOutcome) -> None:
        target = out.table.settings["target"] if out.table else ""
        self.query_one("#align-target", Static).update(
            f"each measure with [b]{escape(target)}[/b] (target, o)" if target else "")
        if self._empty("#t-alignment", out):
            return
        frame = out.frame.copy()
        frame["sig"] = frame["p"].map(stars)
        labels = {"spearman_rho": "ρ", "partial_r": "partial r", "ci_low": "CI lo",
                  "ci_high": "CI hi"}
        frame, columns = fit_columns(
            frame, ["measure", "model", "n", "r", "sig", "partial_r", "p", "spearman_rho",
                    "ci_low", "ci_high"], ("measure", "model", "r", "sig", "partial_r"),
            self._room(), labels)

        def styler(col: str, value: Any, rec: dict[str, Any]) -> Text | None:
            if col == "r" and value == value and value is not None:
                strong = abs(float(value)) >= 0.3
                return Text(fmt_cell(value, col), style="bold" if strong else "")
            if col == "sig":
                return Text(str(value), style="bold yellow")
            return None

        self.query_one("#t-alignment", FrameTable).show_frame(
            frame, columns=columns, labels=labels, styler=styler, export_frame=out.frame, provenance=out.provenance[None])
        strata = out.extra("strata")
        st = self.query_one("#t-strata", FrameTable)
        if strata is not None and len(strata):
            shown, columns = fit_columns(strata, ["measure", "model", "n_choices", "r", "n", "p"],
                                         ("measure", "model", "n_choices", "r"), self._room(),
                                         {"n_choices": "choices"})
            st.show_frame(shown, columns=columns, labels={"n_choices": "choices"},
                          export_frame=strata, provenance=out.provenance["strata"])
        else:
            import pandas as pd

            st.show_frame(pd.DataFrame({"strata": ["no choice count has ≥ 30 questions"]}))
            st.frame = None
        self.query_one("#t-alignment", FrameTable).export_name = f"alignment-{self.dataset}"

    def _show_agreement(self, out: TableOutcome) -> None:
        if self._empty("#t-agreement", out):
            return
        frame = out.frame.copy()
        frame["sig"] = frame["p_z"].map(stars)
        frame, columns = fit_columns(frame, ["model", "n", "agreement", "chance", "z", "sig",
                                             "p_z", "p_exact"],
                                     ("model", "agreement", "chance", "sig", "p_z"), self._room())
        t = self.query_one("#t-agreement", FrameTable)
        t.show_frame(frame, columns=columns,
                     export_frame=out.frame, provenance=out.provenance[None])
        t.export_name = f"agreement-{self.dataset}"

    def _show_table(self, name: str, out: TableOutcome) -> None:
        """The table as it is (an analysis without a view of its own: kendall, ...)."""
        if self._empty(f"#t-{name}", out):
            return
        t = self.query_one(f"#t-{name}", FrameTable)
        t.show_frame(with_short_models(out.frame), export_frame=out.frame,
                     provenance=out.provenance[None])
        t.export_name = f"{name}-{self.dataset}"

    def _calib_measures(self, out: TableOutcome) -> list[str]:
        table = out.frame
        return [] if table is None else list(dict.fromkeys(table["measure"]))

    def _show_calibration(self, out: TableOutcome) -> None:
        label = self.query_one("#calib-measure", Static)
        if self._empty("#t-calibration", out):
            label.update("")
            return
        measures = self._calib_measures(out)
        if not measures:
            label.update("no measure")
            return
        self.calib_measure_index %= len(measures)
        measure = measures[self.calib_measure_index]
        table = out.frame
        sub = table[table["measure"] == measure]
        subjects = list(dict.fromkeys(sub["subject"]))
        if "ALL" in subjects:
            subjects.remove("ALL")
            subjects.insert(0, "ALL")
        pivot = sub.pivot_table(index="model", columns="subject", values="spearman_rho",
                                aggfunc="first", sort=False)
        pivot = pivot.reindex(columns=subjects).reset_index()
        pivot["model"] = pivot["model"].map(short)
        label.update(f"measure [b]{measure}[/b] ({self.calib_measure_index + 1}/{len(measures)}, "
                     "\\[ and ] change it)\nSpearman ρ(correct, measure): "
                     "[green]negative = calibrated[/green], [red]positive = wrong way[/red]")

        def styler(col: str, value: Any, rec: dict[str, Any]) -> Text | None:
            if col == "model":
                return None
            try:
                v = float(value)
            except (TypeError, ValueError):
                return Text("")
            return Text(fmt_cell(v, "spearman_rho"), style=rho_style(v))

        t = self.query_one("#t-calibration", FrameTable)
        t.show_frame(pivot, styler=styler, export_frame=table, reshaped=True,
                     labels={s: s[:14] for s in subjects},
                     provenance=out.provenance[None])
        t.export_name = f"calibration-{self.dataset}"

    def _show_ece(self, out: TableOutcome) -> None:
        if self._empty("#t-ece", out):
            self.query_one(ReliabilityPlot).empty(out.error or "no data")
            return
        t = self.query_one("#t-ece", FrameTable)
        frame, columns = fit_columns(out.frame, ["measure", "model", "method", "ece", "n"],
                                     ("measure", "model", "method", "ece"), self._room())
        t.show_frame(frame, columns=columns,
                     export_frame=out.frame, provenance=out.provenance[None])
        t.export_name = f"ece-{self.dataset}"
        self._plot_reliability(0)

    def _plot_reliability(self, row: int) -> None:
        out = self.results.get("ece")
        table = out.frame if out else None
        plot = self.query_one(ReliabilityPlot)
        if out is None or table is None or not len(table) or row >= len(table):
            plot.empty("no ECE rows")
            return
        rec = table.iloc[row]
        label = rec["measure"] if rec["method"] != "conventional" else f"conventional:{rec['measure']}"
        bins = out.extra("bins")
        b = bins[(bins["model"] == rec["model"]) & (bins["measure"] == label)]
        plot.show_bins(b["conf"].tolist(), b["acc"].tolist(), b["count"].tolist(),
                       f"{short(rec['model'])} · {rec['measure']} · ECE {fmt_cell(rec['ece'], 'ece')}")

    def _show_jsd(self, out: TableOutcome) -> None:
        if self._empty("#t-jsd", out):
            self.query_one(NullHistogram).empty(out.error or "no data")
            return
        frame = out.frame.copy()
        frame["sig"] = frame["p"].map(stars)
        labels = {"n_uncertain": "n unc", "n_certain": "n cert"}
        frame, columns = fit_columns(frame, ["measure", "model", "shift", "sig", "p",
                                             "n_uncertain", "n_certain"],
                                     ("measure", "model", "shift", "sig", "p"), self._room(),
                                     labels)
        t = self.query_one("#t-jsd", FrameTable)
        t.show_frame(frame, columns=columns, labels=labels,
                     export_frame=out.frame, provenance=out.provenance[None])
        t.export_name = f"jsd-{self.dataset}"
        self._plot_null(0)

    def _show_probe(self, out: TableOutcome) -> None:
        """The probe table (the scores first: at 80 columns the rest scrolls), and r (AUROC
        for correctness) by layer for each run."""
        plot = self.query_one(LayerPlot)
        if self._empty("#t-probe", out):
            plot.empty(out.error or "no data")
            return
        scores = ["model", "layer", "r", "auroc", "r2", "null_95", "p_perm"]
        t = self.query_one("#t-probe", FrameTable)
        t.show_frame(with_short_models(out.frame),
                     columns=scores + [c for c in out.frame.columns if c not in scores],
                     export_frame=out.frame, provenance=out.provenance[None])
        t.export_name = f"probe-{self.dataset}"
        if not len(out.frame):
            plot.empty(next((n for n in out.notes if "activations" in n), "no probe rows"))
            return
        frame = out.frame
        score = "auroc" if (frame["method"] == "logistic").all() else "r"
        plot.show_layers([(short(str(model)), rows["layer"].tolist(), rows[score].tolist(),
                           rows["null_95"].tolist())
                          for model, rows in frame.groupby("model", sort=False)], score)

    def _plot_null(self, row: int) -> None:
        out = self.results.get("jsd")
        table = out.frame if out else None
        plot = self.query_one(NullHistogram)
        if out is None or table is None or not len(table) or row >= len(table):
            plot.empty("no JSD rows")
            return
        rec = table.iloc[row]
        null = out.extra("null")
        n = null[(null["model"] == rec["model"]) & (null["measure"] == rec["measure"])]
        plot.show_null(n["null"].tolist(), float(rec["shift"]),
                       f"{short(rec['model'])} · {rec['measure']} · p {fmt_cell(rec['p'], 'p')}")

    @on(DataTable.RowHighlighted, "#t-ece")
    def _ece_row(self, event: DataTable.RowHighlighted) -> None:
        self._plot_reliability(event.control.frame_row(event.cursor_row))  # sorted: its row

    @on(DataTable.RowHighlighted, "#t-jsd")
    def _jsd_row(self, event: DataTable.RowHighlighted) -> None:
        self._plot_null(event.control.frame_row(event.cursor_row))  # sorted: its row

    # ------------------------------------------------------------------ actions
    def action_cycle_scale(self) -> None:
        s = self.app.settings
        scale = SCALES[(SCALES.index(s.scale) + 1) % len(SCALES)]
        self.notify(f"Scale: {scale}")
        self.change_settings(scale=scale)

    def action_table_settings(self) -> None:
        from tui.dialogs.table_settings import TableSettingsDialog

        current = self.app.settings.table_settings()

        def chosen(values: dict[str, str | int] | None) -> None:
            if values is None or values == {name: current[name] for name in DIALOG}:
                return
            self.notify("Table settings: " + ", ".join(
                f"{name.replace('_', ' ')} {value}" for name, value in values.items()
                if value != current[name]))
            self.change_settings(tables={name: value for name, value in values.items()
                                         if value != SETTINGS[name].default})

        self.app.push_screen(TableSettingsDialog(DIALOG, current), chosen)

    def action_measure(self, step: int) -> None:
        out = self.results.get("calibration")
        if not out or out.error:
            return
        self.calib_measure_index += step
        self._show_calibration(out)

    def action_figure(self, path: str = "") -> None:
        """The current tab's figures (``alignuq figure``'s, with its defaults) into exports/,
        or at ``path`` (typed in the export dialog)."""
        from engine.lab.figures import figures_of

        key = self._active_tab()
        out = self.results.get(key)
        if not figures_of(key) or out is None or out.table is None:
            self.notify("No figure for this tab (the alignment, calibration, ECE, JSD shift and "
                        "probe tabs have one).", severity="warning")
            return
        self._export_in_worker(lambda: self._figure_paths(out.table, path))

    def _figure_paths(self, table: Any, path: str) -> list[str]:
        from tui.workers import export_figure

        return [str(p) for p in export_figure(self.app.settings, table, path)]

    def _export_in_worker(self, write: Any) -> None:
        """Run ``write`` (returning the paths written) in a thread; the app says where."""
        from tui.messages import ExportWritten

        def work() -> None:
            self.post_message(ExportWritten(write()))

        self.run_worker(work, thread=True, group="export", exit_on_error=False, name="export")

    def export_more(self) -> tuple[tuple[str, str], ...]:
        """The export dialog's entries beyond the table: the tab's plot data and figures."""
        from engine.lab.figures import figures_of

        key = self._active_tab()
        out = self.results.get(key)
        if out is None or out.table is None:
            return ()
        more = [(f"extra:{extra}", label) for extra, label in PLOT_DATA.get(key, ())
                if out.extra(extra) is not None]
        if figures_of(key):
            kinds = ", ".join(kind.name for kind in figures_of(key))
            more.append(("figure", f"Figure: {kinds} (.pdf, or .svg/.png/.pgf as typed; f)"))
        return tuple(more)

    def export_other(self, choice: ExportChoice) -> None:
        """The export dialog's entries beyond the table: the figures, the plot's data."""
        out = self.results.get(self._active_tab())
        if choice.what == "figure":
            self.action_figure(choice.path)
        elif choice.what.startswith("extra:") and out is not None:
            self._export_extra(out, choice.what.removeprefix("extra:"), choice.path)

    def _export_extra(self, out: TableOutcome, extra: str, path: str) -> None:
        """An extra output of the table (the bins, the null sample) as CSV with its own sidecar,
        as `alignuq analyze ece --bins-out` / `jsd --null-out` write it."""
        from tui.workers import export_table

        frame, prov = out.extra(extra), dict(out.provenance[extra])
        name = f"{out.table.label(extra)}-{self.dataset}"
        settings = self.app.settings
        self._export_in_worker(lambda: [str(p) for p in export_table(
            settings, frame, name, "csv", prov, path)])

    def action_toggle_partial(self) -> None:
        self.allow_partial = not self.allow_partial
        self._show_settings()
        self.notify("Partial runs: " + ("in (the notes give each one's n_done/n_total)"
                                        if self.allow_partial else "left out"))
        if self.dataset:
            self._select_dataset(self.dataset, force=True)

    def action_recompute(self) -> None:
        self.cache.clear()
        self.computed_from = None
        self.runs_changed()

    def action_next_tab(self, step: int) -> None:
        names = list(ANALYSES)
        active = self.query_one("#results-tabs", TabbedContent).active
        self.action_tab(names[(names.index(active) + step) % len(names)]
                        if active in names else names[0])

    def action_tab(self, key: str) -> None:
        self.query_one("#results-tabs", TabbedContent).active = key
        table = self.query_one(f"#t-{key}", FrameTable)
        table.focus()

    def current_table(self) -> FrameTable | None:
        focused = self.focused
        if isinstance(focused, FrameTable) and focused.has_data:
            return focused
        active = self.query_one("#results-tabs", TabbedContent).active
        table = self.query_one(f"#t-{active}", FrameTable)
        return table if table.has_data else None


