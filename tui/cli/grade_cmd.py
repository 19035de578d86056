"""`alignuq grade ...`: the grades of a free-recall run's answers (``engine.lab.grading`` does
the work; ``engine.grading`` stores them in ``RUN_DIR/grades.sqlite``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.lab import grading as lab
from tui.cli.common import WorkspaceOpt, existing_workspace, info, warn

app = typer.Typer(no_args_is_help=True, help="Grade free-recall answers (Y / N / ?).")

RunArg = Annotated[str, typer.Argument(help="A free-recall run id (or a unique prefix).")]


@app.command("status")
def status(run: RunArg, ws_path: WorkspaceOpt = None) -> None:
    """Counts, raw agreement and Cohen's kappa of the two graders, what is left to settle."""
    typer.echo(lab.status_text(lab.open_run(existing_workspace(ws_path), run)), nl=False)


@app.command("auto")
def auto(run: RunArg, ws_path: WorkspaceOpt = None) -> None:
    """The automatic pre-grade (normalised exact match against the gold answer and its variants):
    suggestions a grader confirms, never counted as a grade."""
    n = lab.auto_grade(lab.open_run(existing_workspace(ws_path), run))
    info(f"stored {n} automatic pre-grades (role auto)")


@app.command("set")
def set_grade(
    run: RunArg,
    question_id: Annotated[str, typer.Argument(help="The question id.")],
    grade: Annotated[str, typer.Argument(help="Y, N or ?.")],
    annotator: Annotated[str, typer.Option("--annotator", help="Who grades.")],
    settle: Annotated[bool, typer.Option("--settle", help="The final ruling (the third "
                                                          "annotator).")] = False,
    ws_path: WorkspaceOpt = None,
) -> None:
    """One grade, for scripts."""
    lab.set_grade(lab.open_run(existing_workspace(ws_path), run), question_id, grade, annotator,
                  settle=settle)


@app.command("import")
def import_grades(
    file: Annotated[Path, typer.Argument(help="A released coane_grading/coane_<model>.parquet, "
                                              "or a CSV written by `grade export`.")],
    run: Annotated[str, typer.Option("--run", help="The free-recall run graded.")],
    ws_path: WorkspaceOpt = None,
) -> None:
    """Import grades into a run's grades."""
    graded = lab.open_run(existing_workspace(ws_path), run)
    if file.suffix.lower() in (".parquet", ".pq"):
        done = lab.import_released(graded, file)
        for mark in done.marks_skipped:
            warn(f"{mark} is not Y, N or ?: skipped")
        info(f"imported {done.written} grades into {graded.run_id}"
             + (f"; {done.rows_not_in_dataset} row(s) of questions the dataset leaves out "
                "skipped" if done.rows_not_in_dataset else ""))
    else:
        info(f"imported {lab.import_csv(graded, file)} grades into {graded.run_id}")


@app.command("export")
def export(run: RunArg,
           out: Annotated[Path, typer.Option("--out", "-o", help="The CSV to write.")],
           ws_path: WorkspaceOpt = None) -> None:
    """Every grade of the run as CSV, with OUT.provenance.json (importable back)."""
    graded = lab.open_run(existing_workspace(ws_path), run)
    paths = lab.export_csv(graded, out, ["alignuq", "grade", "export", run, "--out", str(out)])
    info(f"wrote {paths[0]} and {paths[1].name}")
