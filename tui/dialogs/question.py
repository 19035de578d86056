"""Enter on a question: its text, its metadata, its human variables and entropy, the human share
bars and each model run's label probabilities on the same scale, with each run's cloze answer and
entropy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.share_bars import LETTERS, ShareBars, bar_width

if TYPE_CHECKING:
    from engine.lab.runs import Answer

META_SHOWN = 12      # metadata entries shown (the rest are counted)


class RunAnswers(Message):
    """Each run's answer to one question: ``{run label: Answer}``."""

    def __init__(self, question_id: str, answers: dict[str, Answer]) -> None:
        super().__init__()
        self.question_id = question_id
        self.answers = answers


def human_line(row: dict[str, Any]) -> str:
    """The question's human variables, ``name value`` each (``-`` where it has none)."""
    from engine.lab.datasets import HUMAN_PREFIX

    values = [(key[len(HUMAN_PREFIX):], value) for key, value in row.items()
              if str(key).startswith(HUMAN_PREFIX)]
    return "  ".join(f"[dim]{escape(name)}[/dim] {'-' if value != value else f'{value:.6g}'}"
                     for name, value in values)


def human_entropy(row: dict[str, Any]) -> str:
    """The entropy of the human shares (nats) and normalised by log n, as the question list has
    them (``engine.lab.datasets.questions_for_browsing``); '' where there are no shares."""
    h, norm = row.get("human_entropy"), row.get("human_entropy_norm")
    if h is None or h != h:
        return ""
    return f"{h:.3f} nats" + (f" ({norm:.3f} of log n)" if norm is not None and norm == norm
                              else "")


def meta_line(row: dict[str, Any]) -> str:
    """The question's metadata (the import's ``meta``), ``key value`` each."""
    try:
        meta = json.loads(row.get("meta") or "{}")
    except (TypeError, ValueError):
        return ""
    if not isinstance(meta, dict):
        return ""
    items = [(k, ", ".join(map(str, v)) if isinstance(v, list) else str(v))
             for k, v in meta.items() if v not in (None, "", [])]
    shown = "  ".join(f"[dim]{escape(k)}[/dim] {escape(v)}" for k, v in items[:META_SHOWN])
    more = len(items) - META_SHOWN
    return shown + (f"  [dim](+{more} more)[/dim]" if more > 0 else "")


def answer_line(number: int, label: str, answer: Answer) -> str:
    """``run N  label  answer X  entropy H nats  run id``."""
    cloze = LETTERS[answer.cloze] if answer.cloze is not None and answer.cloze < 26 else "-"
    h = "-" if answer.choice_entropy is None else f"{answer.choice_entropy:.3f}"
    return (f"[b]run {number}[/b] {escape(label)}  [dim]cloze answer[/dim] {cloze}  "
            f"[dim]entropy[/dim] {h} nats  [dim]{escape(answer.run_id)}[/dim]")


class QuestionDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, row: dict[str, Any], dataset: str, excluded: bool = False) -> None:
        super().__init__()
        self.row = row
        self.dataset = dataset
        self.excluded = excluded
        self.answers: dict[str, Answer] = {}

    def compose(self) -> ComposeResult:
        r = self.row
        with VerticalScroll(id="dialog", classes="dialog wide"):
            flag = "  [red]excluded[/red]" if self.excluded else ""
            where = " · ".join(str(r[k]) for k in ("source", "subject")
                               if isinstance(r.get(k), str) and r.get(k))
            yield Static(f"[b]{escape(str(r['question_id']))}[/b]  [dim]{escape(where)}[/dim]"
                         f"{flag}", classes="dialog-title")
            yield Static(escape(str(r["text"])), id="question-text")
            if meta := meta_line(r):
                yield Static(meta, id="question-meta")
            if h := human_entropy(r):
                yield Static(f"[dim]human entropy[/dim] {h}", id="human-entropy")
            if human := human_line(r):
                yield Static(human, id="human-vars")
            yield ShareBars(id="bars")
            yield Static("[dim]looking for runs on this dataset…[/dim]", id="runs-note")
            yield Static("[dim]escape closes[/dim]")

    def on_mount(self) -> None:
        self._draw()
        from engine.lab.runs import answers_of
        from tui.workers import workspace

        qid, dataset = str(self.row["question_id"]), self.dataset
        root = self.app.settings.workspace

        def work() -> None:
            self.post_message(RunAnswers(qid, answers_of(workspace(root), dataset, qid)))

        self.run_worker(work, thread=True, exit_on_error=False, name="question runs")

    def _draw(self) -> None:
        r = self.row
        correct = r.get("correct")
        try:
            correct = None if correct is None or correct != correct else int(correct)
        except (TypeError, ValueError):
            correct = None
        probs = {label: a.probs for label, a in self.answers.items()}
        n_bars = len(probs) + (r.get("human_share") is not None)
        self.query_one(ShareBars).show(list(r["choices"]), r.get("human_share"), correct, probs,
                                       width=bar_width(self.app.size.width, n_bars))

    def on_run_answers(self, message: RunAnswers) -> None:
        self.answers = message.answers
        self._draw()
        note = self.query_one("#runs-note", Static)
        if message.answers:
            lines = [answer_line(i, label, a)
                     for i, (label, a) in enumerate(message.answers.items(), start=1)]
            note.update(f"{len(lines)} run(s) on this dataset:\n" + "\n".join(lines)
                        + "\n[dim]label probabilities renormalised over the choices; every bar "
                        "on one scale[/dim]")
        else:
            note.update("[dim]no run of any model has answered this question yet[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
