"""The alignuq lab console: four sections (Textual MODES), one key each.

``make_app(workspace, settings)`` builds the app; the CLI (`alignuq tui`), the Pilot tests and the
snapshot tests all use it. Layout of the package:

- ``tui/screens/``  one screen per section (datasets, models, runs, results)
- ``tui/widgets/``  the section bar, frame-backed tables, share bars, plots (one PlotextPlot module)
- ``tui/dialogs/``  typed ``ModalScreen[T]`` dialogs (help, error, export, import wizard, ...)
- ``tui/messages.py`` typed messages; ``tui/workers.py`` the workers that post them
- ``tui/settings.py`` the frozen settings object

Never imports torch: the engine runs in its own process (``engine.client``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.worker import Worker, WorkerState

from common.errors import BAD_INPUT, CANCELLED, AlignuqError, as_error
from tui.messages import ExportWritten, Provenance, WorkerFailed
from tui.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from engine.lab.models import ModelRef
    from engine.protocol import Hello

SECTION_KEYS = {"datasets": "d", "models": "m", "runs": "r", "results": "s", "grading": "w"}


class ActionsProvider(Provider):
    """The command palette (ctrl+p): an entry for every action of the app and the current screen."""

    def _entries(self) -> list[tuple[str, str, Any]]:
        app = self.app
        screen = self.screen
        entries: list[tuple[str, str, Any]] = []
        for mode, key in SECTION_KEYS.items():
            entries.append((f"Go to {mode.title()}", f"key {key}", partial(app.switch_mode, mode)))
        entries.append(("Help for this screen", "key ?", app.action_help))
        entries.append(("Export the focused table", "key e (CSV / Markdown / LaTeX)",
                        app.action_export))
        entries.append(("Jump to a dataset, run or table by name", "key :", app.action_command_line))
        entries.append(("Quit", "key q", app.action_quit))
        target = screen
        if not hasattr(target, "palette_actions"):  # invoked over a dialog: the section below
            stack = app.screen_stack
            target = next((s for s in reversed(stack) if hasattr(s, "palette_actions")), None)
        if target is not None:
            for title, help_text, action in target.palette_actions():
                entries.append((title, help_text, partial(target.run_action, action)))
        return entries

    def _jumps(self) -> list[tuple[str, str, Any]]:
        from tui.commands import jump, targets

        app = self.app
        return [(t.title, f"{t.kind} · : {t.name}", partial(jump, app, t))
                for t in targets(app.settings.workspace) if t.kind != "section"]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries() + self._jumps():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class AlignUQApp(App[None]):
    """The console. ``settings`` is replaced (never mutated) when the user changes it."""

    TITLE = "alignuq"
    CSS_PATH = "styles.tcss"
    ENABLE_COMMAND_PALETTE = True
    COMMAND_PALETTE_BINDING = "ctrl+p"

    BINDINGS = [
        Binding("d", "section('datasets')", "Datasets", show=False),  # the section bar shows it
        Binding("m", "section('models')", "Models", show=False),  # the section bar shows it
        Binding("r", "section('runs')", "Runs", show=False),  # the section bar shows it
        Binding("s", "section('results')", "Results", show=False),  # the section bar shows it
        Binding("w", "section('grading')", "Grading", show=False),
        Binding("e", "export", "Export"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False, priority=True,
                tooltip="Help, also in a dialog and while typing in a field"),
        Binding("colon", "command_line", "Jump", key_display=":",
                tooltip="Jump to a section, dataset, run or table by name"),
        Binding("ctrl+p", "command_palette", "Palette", show=False,
                tooltip="The command palette: every action, table and screen"),
        Binding("q", "quit", "Quit", tooltip="Quit (asks first while a job runs)"),
    ]

    # The focused pane is marked by its border's line (heavy) as well as its colour.
    CSS = """
    OptionList:focus, SelectionList:focus { border-left: heavy $accent; }
    #dataset-list, #results-datasets { border-left: blank; }
    #dataset-list:focus, #results-datasets:focus { border-left: heavy $accent; }
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.failures: list[AlignuqError] = []  # every failure shown, newest last (tests read it)
        self.sections: dict[str, Any] = {}       # mode -> its screen, once built
        self.last_export: list[str] = []
        self.models_found: list[ModelRef] = []  # the Models screen's last discovery
        self.last_hello: Hello | None = None
        self.first_paint_at: float | None = None  # time.perf_counter() of the first paint

    def mark_painted(self) -> None:
        """Called after the first section screen's first refresh (the start-up time test)."""
        import time

        if self.first_paint_at is None:
            self.first_paint_at = time.perf_counter()

    # Modes are built lazily: a section's screen (and its imports) only when first visited.
    def _make_modes(self) -> dict[str, Any]:
        def build(mode: str) -> Any:
            from importlib import import_module

            module = import_module(f"tui.screens.{mode}")
            screen = getattr(module, f"{mode.title()}Screen")()
            self.sections[mode] = screen
            return screen

        return {mode: partial(build, mode) for mode in SECTION_KEYS}

    COMMANDS = App.COMMANDS | {ActionsProvider}

    def on_mount(self) -> None:
        for name, factory in self._make_modes().items():
            self.add_mode(name, factory)
        self.switch_mode("datasets")

    # ------------------------------------------------------------------ actions
    def action_section(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def section(self, mode: str) -> Any:
        """The screen of a section, or None before its first visit."""
        return self.sections.get(mode)

    def action_help(self) -> None:
        from tui.dialogs.help import HelpDialog, keys_of

        screen = self.screen
        if isinstance(screen, HelpDialog):
            return
        title = getattr(screen, "TITLE", "") or type(screen).__name__
        self.push_screen(HelpDialog(title, getattr(screen, "HELP", ""), keys_of(screen)))

    async def action_quit(self) -> None:
        """`q`: quit; while a job of this console runs (or waits), ask first: quitting stops it."""
        from tui.dialogs.ask import Confirm

        running = self.running_jobs()
        if not running:
            self.exit()
            return
        names = ", ".join(f"{j.model_label} × {j.dataset}" for j in running[:3])

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(Confirm("Quit?", f"A job is running ({names}); quit and stop it? y/n\n"
                                 "(u on Runs resumes it later where it stopped)"), answered)

    def running_jobs(self) -> list[Any]:
        """The jobs this console runs or has queued (an attached run goes on without it)."""
        from engine.lab.jobs import LOADING, QUEUED, RUNNING, STARTING

        runs = self.section("runs")
        jobs = getattr(runs, "jobs", {}) if runs is not None else {}
        return [j for j in jobs.values() if j.status in (QUEUED, STARTING, LOADING, RUNNING)]

    def action_command_line(self) -> None:
        """`:`: jump to a section, dataset, run or table by (the start of) its name."""
        from tui.commands import best, describe, jump, targets
        from tui.dialogs.line_prompt import LinePrompt

        among = targets(self.settings.workspace)

        def done(text: str | None) -> None:
            if not text or not text.strip():
                return
            target = best(text, among)
            if target is None:
                self.notify(f"Nothing called {text.strip()!r}: a section, table, dataset or run.",
                            severity="warning", markup=False)
                return
            jump(self, target)

        self.push_screen(LinePrompt(":", "jump to a section, table, dataset or run (enter goes)",
                                    hint=lambda text: describe(best(text, among))
                                    if text.strip() else ""), done)

    def action_export(self) -> None:
        """`e`: the focused table's view (its filter and sort), to a new name in exports/ or to
        a typed path; the section's ``export_more`` entries (Results: plot data, figures) go to
        its ``export_other``."""
        from tui.dialogs.export import FORMATS, ExportChoice, ExportDialog

        screen = self.screen
        table = screen.current_table() if hasattr(screen, "current_table") else None
        if table is None:
            self.notify("No table with data here to export.", severity="warning")
            return
        view, name = table.export_view(), table.export_name
        formats = {fmt for fmt, _ in FORMATS}

        def chosen(choice: ExportChoice | None) -> None:
            if choice is None:
                return
            if choice.what in formats:
                self.run_worker(partial(self._export, view.frame, name, choice.what,
                                        view.provenance, choice.path), thread=True,
                                group="export", exit_on_error=False, name="export")
            else:
                screen.export_other(choice)

        self.push_screen(ExportDialog(name, len(view.frame), str(self.settings.workspace / "exports"),
                                      more=screen.export_more(), note=view.note), chosen)

    def _export(self, frame: pd.DataFrame, name: str, fmt: str, provenance: Provenance,
                typed: str) -> None:
        from tui.workers import export_table

        paths = export_table(self.settings, frame, name, fmt, provenance, typed)
        self.post_message(ExportWritten([str(p) for p in paths]))

    def on_export_written(self, message: ExportWritten) -> None:
        self.last_export = message.paths
        self.notify("Wrote " + "\n".join(message.paths), title="Exported", timeout=8)

    # ------------------------------------------------------------------ settings
    def update_settings(self, **changes: Any) -> None:
        self.settings = self.settings.with_changes(**changes)
        from tui.widgets.section_bar import SectionBar

        for screen in self.sections.values():
            for bar in screen.query(SectionBar):
                bar.refresh_bar()

    # ------------------------------------------------------------------ failures
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors end up (workers run with ``exit_on_error=False``; the
        section screens forward their workers' state messages here, as those do not bubble)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.show_failure(as_error(event.worker.error), context=event.worker.name or "")

    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.show_failure(message.error, message.context)

    def show_failure(self, error: AlignuqError, context: str = "") -> None:
        """Bad input and cancellations are notifications; anything else opens a dialog."""
        from tui.advice import for_console

        self.failures.append(error)
        error = for_console(error)
        if error.code not in (BAD_INPUT, CANCELLED):
            from tui.dialogs.error import ErrorDialog

            self.push_screen(ErrorDialog(error, context))
        else:
            where = f"{error.where}: " if error.where else ""
            text = where + error.what + (f"\n{error.fix}" if error.fix else "")
            self.notify(text, title=error.code, severity="error", timeout=10, markup=False)


def make_app(workspace: str | Path | None = None, settings: Settings | None = None) -> AlignUQApp:
    """The app factory: ``settings`` wins; otherwise built from ``workspace`` and the env."""
    if settings is None:
        settings = Settings.build(workspace)
    return AlignUQApp(settings)


def palette_titles(app: AlignUQApp) -> Iterable[str]:  # used by tests
    provider = ActionsProvider(app.screen)
    return [t for t, _, _ in provider._entries()]
