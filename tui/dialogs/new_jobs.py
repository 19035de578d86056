"""``n`` on the Runs screen: queue model × dataset jobs."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static

from engine.run_spec import PROTOCOLS
from tui.widgets.marked_list import MarkedSelectionList

NO_PROTOCOL = "the first paper's"


@dataclass(frozen=True)
class JobRequest:
    models: tuple[tuple[str, str], ...]   # (label, model reference the engine resolves)
    datasets: tuple[str, ...]
    limit: int | None
    device: str
    protocol: str | None = None          # engine.run_spec.PROTOCOLS
    chat_template: bool = False


class NewJobsDialog(ModalScreen[JobRequest | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "queue", "Queue")]

    def __init__(self, models: list[tuple[str, str]], datasets: list[str],
                 preselect_dataset: str | None = None) -> None:
        super().__init__()
        self.models = models
        self.datasets = datasets
        self.preselect_dataset = preselect_dataset

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog wide"):
            yield Static("[b]Queue runs[/b]: every selected model × every selected dataset "
                         "[dim](space toggles, tab moves)[/dim]", classes="dialog-title")
            with Horizontal(id="job-picks"):
                with Vertical():
                    yield Label("Models")
                    yield MarkedSelectionList(*[(label, ref, i == 0) for i, (label, ref)
                                                in enumerate(self.models)], id="pick-models")
                with Vertical():
                    yield Label("Datasets")
                    pre = self.preselect_dataset
                    yield MarkedSelectionList(*[(d, d, d == pre or (pre is None and i == 0))
                                                  for i, d in enumerate(self.datasets)],
                                                id="pick-datasets")
            with Horizontal(classes="field"):
                yield Label("model (path/id)")
                yield Input(placeholder="optional: a folder, .gguf file or HF repo id",
                            id="model-ref")
            with Horizontal(classes="field"):
                yield Label("first N · device")
                yield Input(placeholder="first N questions: all", id="limit", type="integer")
                yield Input("auto", placeholder="device", id="device")
            with Horizontal(classes="field"):
                yield Label("prompt protocol")
                yield Select([(NO_PROTOCOL, NO_PROTOCOL), *[(p, p) for p in PROTOCOLS]],
                             value=NO_PROTOCOL, allow_blank=False, id="protocol")
                yield Checkbox("chat template", id="chat-template")
            yield Static("", id="jobs-error", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Queue (ctrl+s)", variant="primary", id="queue")
                yield Button("Cancel", id="cancel")

    def action_queue(self) -> None:
        models = {ref: label for label, ref in self.models}
        chosen = [(models[r], r) for r in self.query_one("#pick-models", SelectionList).selected]
        typed = self.query_one("#model-ref", Input).value.strip()
        if typed:
            chosen.append((typed.rstrip("/").split("/")[-1] or typed, typed))
        datasets = list(self.query_one("#pick-datasets", SelectionList).selected)
        limit_text = self.query_one("#limit", Input).value.strip()
        error = self.query_one("#jobs-error", Static)
        if not chosen:
            error.update("pick at least one model (or type a model path)")
            return
        if not datasets:
            error.update("pick at least one dataset")
            return
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            error.update("first N questions: a whole number")
            return
        if limit is not None and limit < 1:
            error.update("first N questions: at least 1")
            return
        device = self.query_one("#device", Input).value.strip() or "auto"
        protocol = str(self.query_one("#protocol", Select).value)
        self.dismiss(JobRequest(tuple(chosen), tuple(datasets), limit, device,
                                None if protocol == NO_PROTOCOL else protocol,
                                self.query_one("#chat-template", Checkbox).value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_queue()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "queue":
            self.action_queue()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
