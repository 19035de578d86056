"""Enter on a question: its text, its human variables, the human share bars and each model
run's label probabilities."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.messages import ModelProbs
from tui.widgets.share_bars import ShareBars


def human_line(row: dict[str, Any]) -> str:
    """The question's human variables, ``name value`` each (``-`` where it has none)."""
    from engine.lab.datasets import HUMAN_PREFIX

    values = [(key[len(HUMAN_PREFIX):], value) for key, value in row.items()
              if str(key).startswith(HUMAN_PREFIX)]
    return "  ".join(f"[dim]{escape(name)}[/dim] {'-' if value != value else f'{value:.6g}'}"
                     for name, value in values)


class QuestionDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, row: dict[str, Any], dataset: str, excluded: bool = False) -> None:
        super().__init__()
        self.row = row
        self.dataset = dataset
        self.excluded = excluded

    def compose(self) -> ComposeResult:
        r = self.row
        with VerticalScroll(id="dialog", classes="dialog wide"):
            flag = "  [red]excluded[/red]" if self.excluded else ""
            where = " · ".join(str(r[k]) for k in ("source", "subject")
                               if isinstance(r.get(k), str) and r.get(k))
            yield Static(f"[b]{escape(str(r['question_id']))}[/b]  [dim]{escape(where)}[/dim]"
                         f"{flag}", classes="dialog-title")
            yield Static(escape(str(r["text"])), id="question-text")
            if human := human_line(r):
                yield Static(human, id="human-vars")
            yield ShareBars(id="bars")
            yield Static("[dim]looking for runs on this dataset…[/dim]", id="runs-note")
            yield Static("[dim]escape closes[/dim]")

    def on_mount(self) -> None:
        self._draw({})
        from engine.lab.runs import answers_to
        from tui.workers import workspace

        qid, dataset = str(self.row["question_id"]), self.dataset
        root = self.app.settings.workspace

        def work() -> None:
            self.post_message(ModelProbs(qid, answers_to(workspace(root), dataset, qid)))

        self.run_worker(work, thread=True, exit_on_error=False, name="question runs")

    def _draw(self, probs: dict[str, list[float]]) -> None:
        r = self.row
        correct = r.get("correct")
        try:
            correct = None if correct is None or correct != correct else int(correct)
        except (TypeError, ValueError):
            correct = None
        self.query_one(ShareBars).show(list(r["choices"]), r.get("human_share"), correct, probs)

    def on_model_probs(self, message: ModelProbs) -> None:
        self._draw(message.probs)
        note = self.query_one("#runs-note", Static)
        if message.probs:
            note.update(f"[dim]{len(message.probs)} run(s) on this dataset: model label "
                        "probabilities, renormalised over the choices[/dim]")
        else:
            note.update("[dim]no run of any model has answered this question yet[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
