"""Grading a free-recall run, as the front ends do it: where it stands, one grade, the automatic
pre-grade, the released grading files and the CSV round trip (``engine.grading`` stores them).

The gold answer of a question is its dataset's correct option text; its listed variants come from
the question's ``answer_variants`` (an imported column kept in the question's ``meta``), several
variants separated by ``|``.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import BadInput
from datasets_io.atomic import write_text_atomic
from datasets_io.dataset import Dataset, load_dataset
from datasets_io.hashing import file_sha256
from datasets_io.workspace import Workspace, resolve_workspace
from engine import grading as g
from engine.lab.run_import import read_table
from engine.runs import find_run
from engine.store import read_manifest

# what the console uses of engine.grading, through the lab
Grade, graders, key_part, to_settle = g.Grade, g.graders, g.key_part, g.to_settle
VARIANTS_KEY = "answer_variants"
RELEASED_GRADERS = (("x_fr_correct", "x", "grader"), ("y_fr_correct", "y", "grader"),
                    ("final_ruling", "final", "settler"))


@dataclass
class GradingRun:
    """A generation run with what grading needs: its answers and its questions' gold answers."""

    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    answers: pd.Series                    # answer text by question id, in dataset order
    dataset: Dataset | None

    def grades(self) -> pd.DataFrame:
        return g.read_grades(self.run_dir)

    def table(self) -> pd.DataFrame:
        return g.grade_table(self.grades(), self.answers)

    def summary(self) -> g.Summary:
        grades = self.grades()
        return g.summarise(g.grade_table(grades, self.answers), g.graders(grades))

    def question(self, qid: str) -> dict[str, Any]:
        """The question's text, gold answer and variants ('' / [] without the dataset)."""
        if self.dataset is None:
            return {"text": "", "gold": "", "variants": []}
        q = self.dataset.questions.set_index("question_id").loc[qid]
        return {"text": str(q["text"]), "gold": gold_answer(q), "variants": variants(q)}


def open_run(ws: Workspace, run: str) -> GradingRun:
    """A generation run of the workspace, by id (or unique prefix)."""
    run_dir = find_run(ws, run)
    manifest = read_manifest(run_dir)
    if manifest.get("task") != "generate":
        raise BadInput(f"run {run_dir.name!r} is not a free-recall run: it has no answers to grade",
                       fix="pick a run made with --task generate (or imported `-fr` answers)")
    answers = g.run_answers(run_dir)
    try:
        ds = load_dataset(ws, str(manifest.get("dataset")))
    except BadInput:
        ds = None
    if ds is not None:
        order = [q for q in ds.questions["question_id"] if q in answers.index]
        answers = answers.reindex(order + [q for q in answers.index if q not in set(order)])
    return GradingRun(run_dir.name, run_dir, manifest, answers, ds)


def open_in(workspace: Path | None, run: str) -> GradingRun:
    return open_run(resolve_workspace(workspace), run)


def gold_answer(question: pd.Series) -> str:
    correct = question.get("correct")
    if correct is None or pd.isna(correct) or int(correct) < 0:
        return ""
    return str(list(question["choices"])[int(correct)])


def variants(question: pd.Series) -> list[str]:
    meta = question.get("meta")
    meta = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
    value = meta.get(VARIANTS_KEY) if isinstance(meta, dict) else None
    if value is None:
        return []
    parts = value if isinstance(value, list) else str(value).split("|")
    return [p.strip() for p in parts if str(p).strip()]


def set_grade(run: GradingRun, qid: str, grade: str, annotator: str, *,
              settle: bool = False) -> None:
    """``annotator``'s grade of question ``qid`` (as a grader, or the settler)."""
    if qid not in run.answers.index:
        raise BadInput(f"question {qid!r} has no answer in run {run.run_id!r}",
                       fix="`alignuq grade status RUN` lists what there is to grade")
    g.write_grades(run.run_dir, [g.Grade(qid, annotator, grade.upper(),
                                         "settler" if settle else "grader",
                                         str(run.answers[qid]))])


def auto_grade(run: GradingRun) -> int:
    """The automatic pre-grade of every answer (role ``auto``): Y where the answer's key part
    equals the gold answer or a variant after normalising. Returns how many were stored."""
    if run.dataset is None:
        raise BadInput(f"the dataset of run {run.run_id!r} is gone: no gold answers",
                       fix="import the dataset again")
    questions = run.dataset.questions.set_index("question_id")
    grades = []
    for qid, answer in run.answers.items():
        q = questions.loc[qid]
        gold = [gold_answer(q), *variants(q)]
        if gold[0] or len(gold) > 1:
            grades.append(g.Grade(str(qid), g.AUTO_ANNOTATOR, g.auto_grade(answer, gold), "auto",
                                  str(answer)))
    return g.write_grades(run.run_dir, grades)


def undo_grade(run: GradingRun, question_id: str, annotator: str,
               previous: g.Grade | None) -> None:
    """Put back what ``annotator``'s grade of ``question_id`` replaced (nothing: remove it)."""
    if previous is None:
        g.remove_grade(run.run_dir, question_id, annotator)
    else:
        g.write_grades(run.run_dir, [previous])


@dataclass
class GradeImport:
    written: int
    rows_not_in_dataset: int
    marks_skipped: list[str]          # 'question 67: y_fr_correct 'B'' (not Y/N/?)


def import_released(run: GradingRun, file: Path) -> GradeImport:
    """The successor's grading file (``coane_grading/coane_<model>.parquet``): its graders x and y
    and its settler ``final``, matched to the run's questions by row; every answer must be the
    run's, else nothing is written."""
    from engine.lab.moore2026 import dataset_rows

    frame, _ = read_table(Path(file))
    missing = [c for c in ("fr_model_answer", *(c for c, _, _ in RELEASED_GRADERS))
               if c not in frame.columns]
    if missing:
        raise BadInput(f"not a released grading file: no column(s) {', '.join(missing)}",
                       where=file, fix="give a coane_grading/coane_<model>.parquet file")
    if run.dataset is None:
        raise BadInput(f"the dataset of run {run.run_id!r} is gone", fix="import it again")
    rows_of = dataset_rows(run.dataset)
    grades, skipped, not_in = [], [], 0
    for i, rec in enumerate(frame.to_dict("records")):
        if i not in rows_of:
            not_in += 1
            continue
        qid = rows_of[i][0]
        answer = str(rec["fr_model_answer"])
        if run.answers.get(qid) != answer:
            raise BadInput(f"question {qid!r} (row {i + 1}): the graded answer {answer!r} is not "
                           f"the run's {run.answers.get(qid)!r}", where=file,
                           fix="import the grading file of the same model")
        for column, annotator, role in RELEASED_GRADERS:
            mark = str(rec[column]).strip()
            if mark not in g.GRADES:
                skipped.append(f"question {qid}: {column} {mark!r}")
                continue
            grades.append(g.Grade(qid, annotator, mark, role, answer))
    return GradeImport(g.write_grades(run.run_dir, grades), not_in, skipped)


def export_csv(run: GradingRun, out: Path, command: list[str] | None = None) -> list[Path]:
    """Every grade of the run as CSV (``engine.grading.COLUMNS``) with ``OUT.provenance.json``."""
    from engine.analysis.provenance import package_versions

    grades = g.read_grades(run.run_dir)
    text = grades.to_csv(index=False, lineterminator="\n")
    out = Path(out)
    write_text_atomic(out, text)
    side = out.with_name(out.name + ".provenance.json")
    provenance = {"table": "grades", "run_id": run.run_id, "manifest": run.manifest,
                  "grades_file": str(run.run_dir / g.GRADES_FILE), "file": out.name,
                  "columns": g.COLUMNS, "rows": len(grades),
                  "sha256": file_sha256(out), "versions": package_versions(),
                  "command": list(command if command is not None else sys.argv),
                  "created": g.now_iso()}
    write_text_atomic(side, json.dumps(provenance, indent=2, default=str) + "\n")
    return [out, side]


def import_csv(run: GradingRun, file: Path) -> int:
    """Grades from a CSV written by :func:`export_csv` (or by hand, with its columns); each keeps
    the answer text it graded (stale where that is no longer the run's answer)."""
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise BadInput(f"cannot read the grades ({str(err).splitlines()[0]})", where=file) from None
    missing = [c for c in g.COLUMNS if c not in frame.columns and c != "graded_at"]
    if missing:
        raise BadInput(f"missing column(s) {', '.join(missing)}", where=file,
                       fix=f"the columns are {', '.join(g.COLUMNS)}")
    grades = []
    for line, rec in enumerate(frame.to_dict("records"), start=2):
        qid = str(rec["question_id"])
        if qid not in run.answers.index:
            raise BadInput(f"question {qid!r} has no answer in run {run.run_id!r}", where=file,
                           line=line)
        grades.append(g.Grade(qid, rec["annotator"], rec["grade"], rec["role"], rec["answer"],
                              rec.get("graded_at", "")))
    return g.write_grades(run.run_dir, grades)


def status_text(run: GradingRun) -> str:
    s = run.summary()
    buf = io.StringIO()
    names = " and ".join(s.graders) or "none yet"
    buf.write(f"{run.run_id}: {s.total} answers; graders {names}\n")
    buf.write(f"graded: {s.graded_a} by grader a, {s.graded_b} by grader b\n")
    if s.both:
        buf.write(f"raw agreement {s.agreement:.3f}, Cohen's kappa {s.kappa:.3f} "
                  f"({s.both} answers graded by both)\n")
    buf.write(f"disagreements (or '?') to settle: {len(g.to_settle(run.table()))}; "
              f"settled {s.settled}\n")
    buf.write("final: " + ", ".join(f"{k} {v}" for k, v in s.final.items())
              + f"; pending {s.pending}\n")
    if s.auto:
        buf.write(f"automatic pre-grades: {s.auto} (suggestions, not counted)\n")
    if s.stale:
        buf.write(f"stale grades (their answer changed since): {s.stale}, not counted\n")
    return buf.getvalue()
