"""Grades of a free-recall run's answers: ``RUN_DIR/grades.sqlite``. Torch-free.

One row per (question, annotator): the grade (``Y`` correct, ``N`` wrong, ``?`` ungradable), the
annotator's role (``grader``: one of the two independent graders; ``settler``: the third, who
rules on disagreements; ``auto``: the automatic pre-grade, a suggestion only), the answer text
that was graded, and when (UTC, ISO 8601). A grade whose answer is no longer the run's answer is
*stale*: it is shown as such and never counted.

The final grade of a question is the settler's where there is one, else the two graders' where
they agree, else pending (None). Cohen's kappa and the raw agreement compare the two graders on
the questions both graded.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from common.errors import BadInput

GRADES = ("Y", "N", "?")
ROLES = ("grader", "settler", "auto")
GRADES_FILE = "grades.sqlite"
AUTO_ANNOTATOR = "auto"
GRADE_VALUE = {"Y": 1.0, "N": 0.0}        # '?' and pending: no value
_TABLE = """
CREATE TABLE IF NOT EXISTS grades (
    question_id TEXT NOT NULL,
    annotator   TEXT NOT NULL,
    grade       TEXT NOT NULL,
    role        TEXT NOT NULL,
    answer      TEXT NOT NULL,
    graded_at   TEXT NOT NULL,
    PRIMARY KEY (question_id, annotator)
)"""
COLUMNS = ["question_id", "annotator", "grade", "role", "answer", "graded_at"]


@dataclass(frozen=True)
class Grade:
    question_id: str
    annotator: str
    grade: str
    role: str
    answer: str
    graded_at: str = ""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def _connect(run_dir: Path, write: bool) -> Iterator[sqlite3.Connection | None]:
    path = Path(run_dir) / GRADES_FILE
    if not write and not path.exists():
        yield None
        return
    if write:
        # SQLite creates a file 0644 whatever the umask: created here first, it gets the umask's
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666))
    try:
        conn = sqlite3.connect(path if write else f"file:{path}?mode=ro", uri=not write,
                               timeout=30)
    except sqlite3.Error as err:
        raise BadInput(f"cannot open the grades ({err})", where=path) from None
    try:
        if write:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute(_TABLE)
        yield conn
    except sqlite3.DatabaseError as err:
        raise BadInput(f"the grades file cannot be read ({err})", where=path,
                       fix="move it aside (`mv FILE FILE.bad`) and grade again") from None
    finally:
        conn.close()


def check(grade: Grade) -> None:
    if grade.grade not in GRADES:
        raise BadInput(f"question {grade.question_id!r}: grade {grade.grade!r} is not Y, N or ?")
    if grade.role not in ROLES:
        raise BadInput(f"role {grade.role!r} is not one of {', '.join(ROLES)}")
    if not grade.annotator.strip():
        raise BadInput("an annotator needs a name", fix="pass --annotator NAME")


def write_grades(run_dir: Path, grades: Iterable[Grade]) -> int:
    """Store ``grades`` (replacing the same annotator's earlier grade of a question) in one
    transaction; refuses a third grader. Returns how many were written."""
    grades = list(grades)
    for g in grades:
        check(g)
    with _connect(run_dir, write=True) as conn, conn:
        assert conn is not None
        graders = {r[0] for r in conn.execute(
            "SELECT DISTINCT annotator FROM grades WHERE role = 'grader'")}
        graders |= {g.annotator for g in grades if g.role == "grader"}
        if len(graders) > 2:
            raise BadInput(f"a run has two graders; this would make {len(graders)} "
                           f"({', '.join(sorted(graders))})",
                           where=Path(run_dir) / GRADES_FILE,
                           fix="grade as one of the two, or settle (--settle)")
        conn.executemany("INSERT OR REPLACE INTO grades VALUES (?,?,?,?,?,?)",
                         [(g.question_id, g.annotator, g.grade, g.role, g.answer,
                           g.graded_at or now_iso()) for g in grades])
    return len(grades)


def remove_grade(run_dir: Path, question_id: str, annotator: str) -> None:
    """Forget ``annotator``'s grade of ``question_id`` (undo)."""
    with _connect(run_dir, write=True) as conn, conn:
        assert conn is not None
        conn.execute("DELETE FROM grades WHERE question_id = ? AND annotator = ?",
                     (question_id, annotator))


def read_grades(run_dir: Path) -> pd.DataFrame:
    """Every stored grade (``COLUMNS``), ordered by question id and annotator."""
    with _connect(run_dir, write=False) as conn:
        rows = [] if conn is None else conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM grades ORDER BY question_id, annotator").fetchall()
    return pd.DataFrame(rows, columns=COLUMNS)


def graders(grades: pd.DataFrame) -> list[str]:
    """The (at most two) graders, by name: the first is grader a, the second grader b."""
    return sorted(set(grades.loc[grades["role"] == "grader", "annotator"]))


def grade_table(grades: pd.DataFrame, answers: pd.Series) -> pd.DataFrame:
    """Per question of ``answers`` (answer text by question id): ``answer``, ``grade_a``,
    ``grade_b``, ``settled``, ``auto`` (current grades only), ``stale`` (how many grades were
    given to another answer text) and ``final`` (None while pending)."""
    out = pd.DataFrame({"answer": answers})
    out.index.name = "question_id"
    current = grades[grades["answer"].to_numpy() == answers.reindex(grades["question_id"])
                     .to_numpy()] if len(grades) else grades
    out["stale"] = grades.groupby("question_id").size().reindex(out.index, fill_value=0) \
        - current.groupby("question_id").size().reindex(out.index, fill_value=0)
    names = graders(grades)
    for column, pick in (("grade_a", names[:1]), ("grade_b", names[1:2])):
        out[column] = _marks(current[current["annotator"].isin(pick)], out.index)
    out["settled"] = _marks(current[current["role"] == "settler"], out.index)
    out["auto"] = _marks(current[current["role"] == "auto"], out.index)
    agreed = out["grade_a"].where(out["grade_a"] == out["grade_b"])
    out["final"] = out["settled"].where(out["settled"].notna(), agreed)
    out = out.astype({c: object for c in ("grade_a", "grade_b", "settled", "auto", "final")})
    return out.where(out.notna(), None)


def _marks(grades: pd.DataFrame, index: pd.Index) -> pd.Series:
    """One grade per question (the latest where several annotators share the role)."""
    latest = grades.sort_values("graded_at").drop_duplicates("question_id", keep="last")
    return latest.set_index("question_id")["grade"].reindex(index)


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two raters' labels (NaN when chance agreement is 1 or no pairs)."""
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    labels = set(a) | set(b)
    chance = sum((a.count(k) / n) * (b.count(k) / n) for k in labels)
    return math.nan if chance == 1 else (observed - chance) / (1 - chance)


def agreement(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    """Raw agreement and Cohen's kappa of two graders' marks over the questions both graded,
    and how many those are."""
    both = a.notna() & b.notna()
    x, y = list(a[both].astype(str)), list(b[both].astype(str))
    raw = sum(p == q for p, q in zip(x, y, strict=True)) / len(x) if x else math.nan
    return raw, cohen_kappa(x, y), len(x)


@dataclass
class Summary:
    """Where a run's grading stands."""

    total: int
    graders: list[str]
    graded_a: int
    graded_b: int
    both: int
    agreement: float
    kappa: float
    settled: int
    final: dict[str, int]
    pending: int
    disagreements: int
    stale: int
    auto: int


def summarise(table: pd.DataFrame, names: list[str]) -> Summary:
    both = table[table["grade_a"].notna() & table["grade_b"].notna()]
    raw, kappa, n_both = agreement(table["grade_a"], table["grade_b"])
    final = table["final"].dropna()
    return Summary(
        total=len(table), graders=names, graded_a=int(table["grade_a"].notna().sum()),
        graded_b=int(table["grade_b"].notna().sum()), both=n_both, agreement=raw,
        kappa=kappa, settled=int(table["settled"].notna().sum()),
        final={g: int((final == g).sum()) for g in GRADES}, pending=int(table["final"].isna().sum()),
        disagreements=int((both["grade_a"] != both["grade_b"]).sum()),
        stale=int(table["stale"].sum()), auto=int(table["auto"].notna().sum()))


def to_settle(table: pd.DataFrame) -> pd.DataFrame:
    """The questions a settler rules on: the graders disagree, or one of them said '?'."""
    both = table["grade_a"].notna() & table["grade_b"].notna()
    unsure = (table["grade_a"] == "?") | (table["grade_b"] == "?")
    return table[both & ((table["grade_a"] != table["grade_b"]) | unsure)]


# ---------------------------------------------------------------- automatic pre-grade

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans(string.punctuation, " " * len(string.punctuation))
CLOSERS = "}])"


def key_part(answer: str) -> str:
    """The bracketed key part of an answer: the text before its closing bracket (``}``, else
    ``]``, else ``)``; SCIENCE-successor.md §5.2), or all of it."""
    for close in CLOSERS:
        if close in answer:
            return answer.split(close, 1)[0]
    return answer


def normalise(text: str) -> str:
    """Lower case, punctuation and the articles a/an/the dropped, whitespace collapsed."""
    text = _ARTICLES.sub(" ", str(text).lower().translate(_PUNCT))
    return " ".join(text.split())


def auto_grade(answer: str, gold: Iterable[str]) -> str:
    """``Y`` if the answer's key part equals the gold answer or a variant once normalised,
    else ``N``."""
    said = normalise(key_part(answer))
    return "Y" if said and said in {normalise(g) for g in gold if str(g).strip()} else "N"


def run_answers(run_dir: Path) -> pd.Series:
    """A generation run's answers by question id (empty for a scoring run)."""
    from engine.store import read_generations

    gens = read_generations(run_dir)
    return pd.Series(list(gens["answer"]), index=pd.Index(list(gens["question_id"]), dtype=object),
                     dtype=object)


def final_grades(run_dir: Path) -> pd.DataFrame:
    """By question id: ``fr_correct`` (1 for Y, 0 for N, NaN for '?' or pending), and the two
    graders' own marks ``grade_a`` and ``grade_b`` (None where not graded)."""
    table = grade_table(read_grades(run_dir), run_answers(run_dir))
    return pd.DataFrame({"fr_correct": table["final"].map(GRADE_VALUE).astype(float),
                         "grade_a": table["grade_a"], "grade_b": table["grade_b"]},
                        index=table.index)
