"""`alignuq runs import FILE --dataset NAME --model-name NAME`: per-question results made elsewhere
(the work is ``engine.lab.run_import``); with ``--layout moore2026``, the successor study's released
results files, or a folder of them (``engine.lab.moore2026``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from common.errors import BadInput
from engine.lab.run_import import ImportedRun, import_run, parse_mapping
from tui.cli.common import WorkspaceOpt, info, warn

LAYOUTS = ("alignuq", "moore2026")


def import_results(
    file: Annotated[Path, typer.Argument(help="CSV/TSV or Parquet of per-question results "
                                         "(moore2026: a released file, or its folder).")],
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset the results answer.")],
    model_name: Annotated[str | None, typer.Option(
        "--model-name", help="The model's name in tables (moore2026: the file's).")] = None,
    layout: Annotated[str, typer.Option(
        "--layout", help="alignuq (one row per question, SCIENCE.md §2 names) or moore2026 (the "
        "successor study's released Results/<ds>/<ds>_<model>.parquet).")] = "alignuq",
    run_id: Annotated[str | None, typer.Option("--run-id", help="Default: import-MODEL-SHA.")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="COLUMN=MEASURE (repeatable), e.g. H=choice_entropy.")] = None,
    vocab_size: Annotated[int | None, typer.Option(
        "--vocab-size", help="Vocabulary size (normalises total_entropy).")] = None,
    variant: Annotated[str, typer.Option(
        "--variant", help="How the measures were computed: corrected|paper.")] = "corrected",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run.")] = False,
    answers: Annotated[bool, typer.Option(
        "--answers/--no-answers", help="moore2026: also import the free-recall answers as a "
        "run MODEL-fr (where the file has them).")] = True,
    ws_path: WorkspaceOpt = None,
) -> None:
    """Import per-question results made elsewhere as a run (prints the run id)."""
    if layout == "moore2026":
        from engine.lab.moore2026 import import_released

        if model_name or run_id or map_ or vocab_size:
            raise BadInput("--model-name, --run-id, --map and --vocab-size do not apply to "
                           "--layout moore2026", fix="the released file names the model; drop them")
        for run in import_released(ws_path, file, dataset, force=force, answers=answers):
            _report(run, dataset)
        return
    if layout != "alignuq":
        raise BadInput(f"unknown --layout {layout!r}", fix=f"use one of {', '.join(LAYOUTS)}")
    if not model_name:
        raise BadInput("--model-name is needed", fix="name the model the results are of")
    _report(import_run(ws_path, file, dataset, model_name, run_id=run_id,
                       mapping=parse_mapping(map_ or []), vocab_size=vocab_size,
                       variant=variant, force=force), dataset)


def _report(run: ImportedRun, dataset: str) -> None:
    if run.ignored_columns:
        warn(f"ignored column(s) {', '.join(run.ignored_columns)}: not measures of SCIENCE.md §2 "
             "(name them with --map COLUMN=MEASURE)")
    skipped = run.manifest["import"].get("rows_not_in_dataset")
    info(f"imported {run.rows} results of {run.manifest['model']['name']} on {dataset} into "
         f"{run.run_dir} (measures: {', '.join(run.measures) or 'none'})"
         + (f"; {skipped} row(s) of questions the dataset leaves out skipped" if skipped else ""))
    typer.echo(run.run_id)
