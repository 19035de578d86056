"""`alignuq runs import FILE --dataset NAME --model-name NAME`: per-question results made elsewhere
(the work is ``engine.lab.run_import``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.lab.run_import import import_run, parse_mapping
from tui.cli.common import WorkspaceOpt, info, warn


def import_results(
    file: Annotated[Path, typer.Argument(help="CSV/TSV or Parquet of per-question results.")],
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset the results answer.")],
    model_name: Annotated[str, typer.Option("--model-name", help="The model's name in tables.")],
    run_id: Annotated[str | None, typer.Option("--run-id", help="Default: import-MODEL-SHA.")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="COLUMN=MEASURE (repeatable), e.g. H=choice_entropy.")] = None,
    vocab_size: Annotated[int | None, typer.Option(
        "--vocab-size", help="Vocabulary size (normalises total_entropy).")] = None,
    variant: Annotated[str, typer.Option(
        "--variant", help="How the measures were computed: corrected|paper.")] = "corrected",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run.")] = False,
    ws_path: WorkspaceOpt = None,
) -> None:
    """Import per-question results made elsewhere as a run (prints the run id)."""
    run = import_run(ws_path, file, dataset, model_name, run_id=run_id,
                     mapping=parse_mapping(map_ or []), vocab_size=vocab_size, variant=variant,
                     force=force)
    if run.ignored_columns:
        warn(f"ignored column(s) {', '.join(run.ignored_columns)}: not measures of SCIENCE.md §2 "
             "(name them with --map COLUMN=MEASURE)")
    info(f"imported {run.rows} results of {model_name} on {dataset} into {run.run_dir} "
         f"(measures: {', '.join(run.measures) or 'none'})")
    typer.echo(run.run_id)
