"""Which runs may enter a table, and what a table must say about the questions they cover.

- **Stale**: a run made on another import of its dataset than the workspace's now (the
  manifest's ``dataset_report_sha256`` differs from the dataset's ``report_hash()``: the dataset
  was replaced after the run, or the run was copied from another workspace). Its question ids
  may name other options (another shuffle seed), shares or answers: always refused.
- **Partial**: a run that is not done, or holds fewer rows than it was asked for (cancelled,
  failed, killed, still running). The runner does the longest prompts first, so what a partial
  run holds over-represents questions with many options: refused unless partial runs are allowed,
  and then the notes say ``n_done/n_total`` for each.
- **Subset**: a done run that answered only some of the dataset's questions (``--limit N``: the
  first N in dataset order; an import of part of the dataset). It is complete for what it was
  asked, so it enters the table, with a note saying how many questions it covers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.errors import BadInput
from engine.runs import DONE, run_status

NOT_RANDOM = ("the runner does the longest prompts first, so a partial run over-represents "
              "questions with many options: not a random sample")


@dataclass(frozen=True)
class RunCoverage:
    run_id: str
    status: str              # engine.runs: done | running | incomplete | failed
    n_done: int              # rows stored
    n_total: int | None      # questions the run was asked to do
    stale: bool              # made on another import of its dataset
    n_answered: int = 0      # of the dataset's questions now, how many the run has a row for
    n_dataset: int = 0       # questions in the dataset now

    @property
    def partial(self) -> bool:
        return self.status != DONE or self.n_total is None or self.n_done < self.n_total

    @property
    def subset(self) -> bool:
        return not self.partial and self.n_answered < self.n_dataset

    @property
    def problem(self) -> str:
        """Why a table cannot simply take this run: ``stale``, ``partial`` or ''."""
        return "stale" if self.stale else "partial" if self.partial else ""

    @property
    def counts(self) -> str:
        return f"{self.n_done}/{'?' if self.n_total is None else self.n_total}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "partial": self.partial, "subset": self.subset}


def is_stale(manifest: dict[str, Any], dataset_hash: str) -> bool:
    """Whether the run was made on another import than the one hashed ``dataset_hash``
    (unknown, never stale: an in-memory dataset has no hash, an old manifest may lack one)."""
    made_on = manifest.get("dataset_report_sha256")
    return bool(made_on and dataset_hash) and made_on != dataset_hash


def run_coverage(run_dir: Path, manifest: dict[str, Any], dataset_hash: str) -> RunCoverage:
    st = run_status(run_dir, manifest=manifest)
    return RunCoverage(Path(run_dir).name, st.status, st.n_done, st.n_total,
                       is_stale(manifest, dataset_hash))


def refuse_stale(runs: list[RunCoverage], dataset: str) -> None:
    stale = [r.run_id for r in runs if r.stale]
    if stale:
        raise BadInput(f"run(s) {', '.join(stale)} were made on another import of dataset "
                       f"{dataset!r} (its import report differs), so their question ids may name "
                       "other options, shares or answers",
                       fix="re-run (or re-import) them on this import, pick other runs with --runs, "
                           "or delete them (`alignuq runs delete RUN`)")


def refuse_partial(runs: list[RunCoverage]) -> None:
    partial = [f"{r.run_id} ({r.counts} questions, {r.status})" for r in runs if r.partial]
    if partial:
        raise BadInput(f"run(s) {', '.join(partial)} are partial; {NOT_RANDOM}",
                       fix="finish them (the same `alignuq run ...` command resumes a run), "
                           "leave them out with --runs, or pass --allow-partial")


def coverage_notes(runs: list[RunCoverage], dataset: str) -> list[str]:
    """What a table built from ``runs`` (already counted against the dataset) must say."""
    notes = []
    for r in runs:
        if r.partial:
            notes.append(f"run {r.run_id} is partial: {r.counts} questions ({r.status}); "
                         f"{NOT_RANDOM}")
        elif r.subset:
            notes.append(f"run {r.run_id} answered {r.n_answered} of the {r.n_dataset} questions "
                         f"of dataset {dataset} (a --limit N run holds the first N in dataset "
                         "order: not a random sample); its rows describe those questions only")
    return notes
