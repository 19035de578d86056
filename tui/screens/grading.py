"""Grading: a free-recall run's answers graded Y / N / ? with one key, by two annotators on their
own and then by a third who settles their disagreements (``engine.lab.grading`` does the work;
the grades live in the run's ``grades.sqlite``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Select, Static

from common.errors import AlignuqError
from engine.lab import grading as lab
from engine.lab.runs import listing
from engine.lab.workspaces import workspace_to_read
from tui.screens.base import SectionScreen


@dataclass
class Mark:
    """One grade given on this screen, with what it replaced (for undo)."""

    question_id: str
    previous: lab.Grade | None


class GradingScreen(SectionScreen):
    SECTION = "grading"
    TITLE = "Grading"
    HELP = """\
Grade a free-recall run's answers: pick the run and type your name (Enter starts).

* `y` correct, `n` wrong, `?` cannot tell: one key grades and moves to the next answer you have
  not graded. `j` / `k` move, `u` undoes your last grade.
* Each grader sees only their own marks; Cohen's kappa of the two graders shows once both
  have graded every answer.
* `t` switches to the settle view: the answers the two graders disagree on (or marked `?`),
  for a third annotator whose grade is final.
* The model's answer is shown whole; the key part (before the closing bracket) is underlined.
  An automatic pre-grade (`alignuq grade auto RUN`) shows as a suggestion: it is never a grade.
"""

    DEFAULT_CSS = """
    #grading-pick { height: auto; }
    #grading-run { width: 1fr; }
    #grading-annotator { width: 36; }
    #grading-card { padding: 1 2 0 2; }
    #grading-list { padding: 0 2; }
    """

    BINDINGS = [
        Binding("y", "grade('Y')", "Correct"),
        Binding("n", "grade('N')", "Wrong"),
        Binding("question_mark", "grade('?')", "Cannot tell", key_display="?"),
        Binding("j", "move(1)", "Next"),
        Binding("k", "move(-1)", "Previous"),
        Binding("u", "undo", "Undo"),
        Binding("t", "toggle_settle", "Settle view"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run: lab.GradingRun | None = None
        self.annotator = ""
        self.settling = False
        self.order: list[str] = []
        self.pos = 0
        self.marks: list[Mark] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="grading-pick"):
            yield Select(self._run_options(), prompt="free-recall run", id="grading-run")
            yield Input(placeholder="your name (Enter to start)", id="grading-annotator")
        yield Static("", id="grading-progress", classes="status-line")
        with VerticalScroll(id="grading-body"):
            yield Static("[dim]pick a run and type your name[/dim]", id="grading-card")
            yield Static("", id="grading-list")

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.run is None:       # runs imported or finished since: offer them
            self.query_one("#grading-run", Select).set_options(self._run_options())

    def _run_options(self) -> list[tuple[str, str]]:
        try:
            runs = listing(workspace_to_read(self.app.settings.workspace))
        except AlignuqError:
            return []
        return [(f"{r['label']} · {r['dataset']}", r["run_id"]) for r in runs
                if r["manifest"].get("task") == "generate"]

    # ------------------------------------------------------------------ start
    @on(Input.Submitted, "#grading-annotator")
    def _start(self, event: Input.Submitted) -> None:
        run_id = self.query_one("#grading-run", Select).value
        if not isinstance(run_id, str) or not event.value.strip():
            self.notify("Pick a run and type your name.", severity="warning")
            return
        self.open(run_id, event.value.strip())

    def open(self, run_id: str, annotator: str, *, settle: bool = False) -> None:
        """Grade ``run_id`` as ``annotator`` (the settle view with ``settle``)."""
        try:
            self.run = lab.open_run(workspace_to_read(self.app.settings.workspace), run_id)
        except AlignuqError as err:
            self.app.show_failure(err, "grading")
            return
        self.annotator, self.settling, self.marks = annotator, False, []
        picker = self.query_one("#grading-run", Select)
        if picker.value != run_id:
            picker.set_options(self._run_options())
            picker.value = run_id
        self.query_one("#grading-annotator", Input).value = annotator
        self._set_view(settle)
        self.set_focus(None)

    def _set_view(self, settle: bool) -> None:
        assert self.run is not None
        table = self.run.table()
        if settle and self.annotator in lab.graders(self.run.grades()):
            self.notify(f"{self.annotator} graded this run: a third annotator settles.",
                        severity="warning")
            return
        self.settling = settle
        self.order = list(lab.to_settle(table).index) if settle else list(table.index)
        self.pos = 0
        self._go_to_next_ungraded(table, start=0)
        self.refresh_card()

    # ------------------------------------------------------------------ actions
    def action_grade(self, grade: str) -> None:
        if self.run is None or not self.order:
            return
        qid = self.order[self.pos]
        previous = self._own_grade(qid)
        try:
            lab.set_grade(self.run, qid, grade, self.annotator, settle=self.settling)
        except AlignuqError as err:
            self.app.show_failure(err, "grading")
            return
        self.marks.append(Mark(qid, previous))
        self._go_to_next_ungraded(self.run.table(), start=self.pos + 1)
        self.refresh_card()

    def action_move(self, step: int) -> None:
        if self.order:
            self.pos = max(0, min(len(self.order) - 1, self.pos + step))
            self.refresh_card()

    def action_undo(self) -> None:
        if self.run is None or not self.marks:
            return
        mark = self.marks.pop()
        lab.undo_grade(self.run, mark.question_id, self.annotator, mark.previous)
        if mark.question_id in self.order:
            self.pos = self.order.index(mark.question_id)
        self.refresh_card()

    def action_toggle_settle(self) -> None:
        if self.run is not None:
            self._set_view(not self.settling)

    # ------------------------------------------------------------------ state
    def _own_grade(self, qid: str) -> lab.Grade | None:
        assert self.run is not None
        grades = self.run.grades()
        mine = grades[(grades["question_id"] == qid) & (grades["annotator"] == self.annotator)]
        return None if mine.empty else lab.Grade(**mine.iloc[0].to_dict())

    def _own_marks(self, table: pd.DataFrame) -> pd.Series:
        """This annotator's current grades by question id (stale ones left out)."""
        assert self.run is not None
        grades = self.run.grades()
        mine = grades[grades["annotator"] == self.annotator].set_index("question_id")
        current = mine["answer"] == table["answer"].reindex(mine.index)
        return mine.loc[current, "grade"]

    def _go_to_next_ungraded(self, table: pd.DataFrame, start: int) -> None:
        mine = self._own_marks(table)
        for i in list(range(start, len(self.order))) + list(range(0, start)):
            if self.order[i] not in mine.index:
                self.pos = i
                return
        self.pos = min(start, max(0, len(self.order) - 1))

    def progress(self) -> tuple[int, int]:
        """(answers this annotator has graded in the current view, answers in it)."""
        if self.run is None:
            return 0, 0
        mine = self._own_marks(self.run.table())
        return sum(q in mine.index for q in self.order), len(self.order)

    def refresh_card(self) -> None:
        if self.run is None:
            return
        table = self.run.table()
        summary = self.run.summary()
        done, total = self.progress()
        view = "settling" if self.settling else "grading"
        # the progress first: the line is cut at 80 columns, the run is named in the picker too
        line = f"{self.annotator} {view} · graded {done} / {total}"
        if summary.graded_a == summary.graded_b == summary.total and summary.total:
            line += f" · Cohen's kappa {summary.kappa:.3f} · agreement {summary.agreement:.3f}"
        line += f" · {self.run.run_id}"
        self.query_one("#grading-progress", Static).update(line)
        self.query_one("#grading-card", Static).update(self._card(table))
        self.query_one("#grading-list", Static).update(self._settle_list(table))

    def _card(self, table: pd.DataFrame) -> Text:
        assert self.run is not None
        if not self.order:
            return Text("Nothing to settle: the graders agree on every answer they both graded."
                        if self.settling else "This run has no answers.")
        qid = self.order[self.pos]
        row, question = table.loc[qid], self.run.question(qid)
        text = Text()
        text.append(f"Question {qid} ({self.pos + 1} of {len(self.order)})\n", style="bold")
        text.append(question["text"] + "\n\n")
        text.append("Gold answer: ", style="bold")
        text.append(question["gold"] or "(none)")
        if question["variants"]:
            text.append(f"  (also: {' | '.join(question['variants'])})")
        text.append("\nModel answer: ", style="bold")
        key = lab.key_part(str(row["answer"]))
        text.append(key, style="underline")
        text.append(str(row["answer"])[len(key):] + "\n")
        if row["auto"] is not None:
            text.append(f"Suggestion (automatic, exact match): {row['auto']}\n", style="dim")
        if self.settling:
            text.append(f"Graders: {row['grade_a'] or '-'} / {row['grade_b'] or '-'}\n")
        mine = self._own_marks(table)
        text.append("Your grade: ", style="bold")
        text.append(str(mine.get(qid, "-")))
        return text

    def _settle_list(self, table: pd.DataFrame) -> Text:
        if not self.settling:
            return Text("")
        mine = self._own_marks(table)
        text = Text("\nTo settle:\n", style="bold")
        for i, qid in enumerate(self.order):
            row = table.loc[qid]
            line = (f"{'>' if i == self.pos else ' '} {qid:>6}  {row['grade_a'] or '-'} / "
                    f"{row['grade_b'] or '-'}  final {mine.get(qid, '-')}  "
                    f"{str(row['answer'])[:40]!r}\n")
            text.append(line, style="bold" if i == self.pos else "")
        return text
