"""Models & measures: the models found where the engine runs, the measure set, the variant, and
the engine command prefix (local, ``ssh HOST``, ``srun …``) with a connection test."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Select, SelectionList, Static

from engine.lab.models import VARIANTS, ModelRef, measure_names
from tui.messages import EngineHello, ModelsFound
from tui.screens.base import SectionScreen
from tui.settings import parse_prefix
from tui.widgets.frame_table import FrameTable
from tui.widgets.marked_list import MarkedSelectionList


class ModelsScreen(SectionScreen):
    SECTION = "models"
    TITLE = "Models & measures"
    HELP = """\
Models found where the engine runs (left) and the settings every new run uses (right).

* Models come from the Hugging Face cache (offline), GGUF files (the demo's SmolLM2), the
  workspace's `cache/models` and any folder you add with `o`. Nothing is loaded to list them.
* **Variant**: `corrected` (default) or `paper` (reproduces the published numbers; SCIENCE.md).
* **Measures**: the per-question measures the Results screen shows. All of them selected is
  `alignuq analyze`'s default: every measure, and only the uncertainties in ECE and JSD.
* A change of variant or measures reaches the Results tables at once (they are recomputed),
  and is kept in the workspace (`console-settings.json`) for the next start.
* **Engine command**: empty for a local engine, or a prefix such as `ssh gpu-node` or
  `srun --gres=gpu:1 -n1`; `alignuq engine serve --stdio` is appended. `t` starts it and shows
  its `hello` (host, device, torch and transformers versions).
"""

    BINDINGS = [
        Binding("t", "test_connection", "Test engine"),
        Binding("l", "rescan", "Rescan"),
        Binding("o", "add_folder", "Add folder"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[ModelRef] = []
        self.extra_dirs: tuple[str, ...] = ()

    def compose_body(self) -> ComposeResult:
        settings = self.app.settings
        with Horizontal(id="models-body"):
            with Vertical(id="models-main"):
                yield Static("[b]Models found[/b]", classes="pane-title")
                yield Static("[dim]scanning…[/dim]", id="models-status", classes="status-line")
                yield FrameTable(export_name="models", id="models")
            with VerticalScroll(id="models-side", classes="side-right"):
                yield Static("[b]Variant[/b]", classes="pane-title")
                yield Select([(v, v) for v in VARIANTS], value=settings.variant,
                             allow_blank=False, id="variant")
                yield Static("[b]Engine command[/b] [dim](empty = local)[/dim]",
                             classes="pane-title")
                yield Input(settings.engine_cmd, placeholder="local · ssh HOST · srun …",
                            id="engine-cmd")
                yield Button("Test connection (t)", id="test", variant="primary")
                yield Static("[dim]not tested[/dim]", id="hello")
                yield Static("[b]Measures[/b]", classes="pane-title")
                chosen = set(measure_names() if settings.measures is None else settings.measures)
                yield MarkedSelectionList(*[(m, m, m in chosen) for m in measure_names()],
                                          id="measures")

    def on_mount(self) -> None:
        self.call_after_refresh(self.action_rescan)

    # ------------------------------------------------------------------ discovery
    def action_rescan(self) -> None:
        settings = self.app.settings
        self.query_one("#models-status", Static).update(f"[dim]scanning ({settings.where})…[/dim]")
        if settings.engine_prefix:
            from engine.lab.engines import models_on

            prefix, root = settings.engine_prefix, settings.workspace

            async def remote() -> None:
                self.post_message(ModelsFound(await models_on(prefix, root), settings.where))

            self.run_worker(remote(), group="models", exclusive=True, exit_on_error=False,
                            name="list models (engine)")
        else:
            from engine.lab.models import discover_in_child

            root, dirs = settings.workspace, self.extra_dirs

            async def local() -> None:
                self.post_message(ModelsFound(await discover_in_child(root, dirs), "local"))

            self.run_worker(local(), group="models", exclusive=True, exit_on_error=False,
                            name="list models")

    def on_models_found(self, message: ModelsFound) -> None:
        import pandas as pd

        from tui.formatting import human_params, human_size

        self.models = message.models
        self.app.models_found = message.models
        rows = [{"name": m.name, "short": _clip(m.name, 26), "source": m.source,
                 "architecture": m.architecture or "", "params": human_params(m.n_params),
                 "size": human_size(m.size_bytes), "path": m.path, "n_params": m.n_params,
                 "size_bytes": m.size_bytes}
                for m in message.models]
        frame = pd.DataFrame(rows, columns=["name", "short", "source", "architecture", "params", "size",
                                            "path", "n_params", "size_bytes"])
        table = self.query_one("#models", FrameTable)
        table.show_frame(frame, columns=["short", "architecture", "params", "size", "source"],
                         key="path", labels={"short": "name", "architecture": "arch"},
                         export_frame=frame.drop(columns=["short", "params", "size"]))
        self.query_one("#models-status", Static).update(
            f"{len(rows)} model(s) on {message.source}" if rows else
            "[yellow]no models found[/yellow]: press o to add a folder or .gguf file")

    def action_add_folder(self) -> None:
        from tui.dialogs.ask import AskText

        def added(path: str | None) -> None:
            if path:
                self.extra_dirs = (*self.extra_dirs, path)
                self.action_rescan()

        self.app.push_screen(AskText("Add a model folder",
                                     "A folder holding model folders or .gguf files "
                                     "(on this machine):", placeholder="/path/to/models"), added)

    # ------------------------------------------------------------------ settings
    @on(Select.Changed, "#variant")
    def _variant(self, event: Select.Changed) -> None:
        if event.value in VARIANTS and event.value != self.app.settings.variant:
            self.change_settings(variant=str(event.value))
            self.notify(f"Variant: {event.value} (used by new runs and the Results screen)")

    @on(SelectionList.SelectedChanged, "#measures")
    def _measures(self, event: SelectionList.SelectedChanged) -> None:
        chosen = tuple(m for m in measure_names() if m in set(event.selection_list.selected))
        self.change_settings(measures=None if chosen == tuple(measure_names()) else chosen)

    @on(Input.Submitted, "#engine-cmd")
    def _engine_cmd(self, event: Input.Submitted) -> None:
        self._apply_engine_cmd()
        self.action_rescan()

    def _apply_engine_cmd(self) -> bool:
        from common.errors import BadInput

        try:
            prefix = parse_prefix(self.query_one("#engine-cmd", Input).value)
        except BadInput as err:
            self.notify(err.message, severity="error")
            return False
        if prefix != self.app.settings.engine_prefix:
            self.change_settings(engine_prefix=prefix)
            self.notify(f"Engine: {self.app.settings.where}")
        return True

    @on(Button.Pressed, "#test")
    def _test_pressed(self, event: Button.Pressed) -> None:
        self.action_test_connection()

    def action_test_connection(self) -> None:
        from engine.lab.engines import hello

        if not self._apply_engine_cmd():
            return
        prefix = self.app.settings.engine_prefix
        self.query_one("#hello", Static).update(
            f"[dim]starting the engine ({self.app.settings.where})…[/dim]")

        async def work() -> None:
            self.post_message(EngineHello(await hello(prefix), prefix))

        self.run_worker(work(), group="hello", exclusive=True, exit_on_error=False,
                        name="test connection")

    def on_engine_hello(self, message: EngineHello) -> None:
        h = message.hello
        gpus = ", ".join(h.cuda_devices) or "none"
        self.query_one("#hello", Static).update(
            f"[green]connected[/green] host {h.host or '?'} pid {h.pid or '?'}\n"
            f"device {h.device}  GPUs: {gpus}\n"
            f"torch {h.torch or '—'}  transformers {h.transformers or '—'}\n"
            f"python {h.python or '?'}  protocol {h.protocol}")
        self.app.last_hello = h

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        super().on_worker_state_changed(event)
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "hello":
            self.query_one("#hello", Static).update("[red]connection failed[/red] (see the error)")
        elif event.worker.group == "models":
            self.query_one("#models-status", Static).update(
                "[red]listing the models failed[/red] (see the error; l to rescan)")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
