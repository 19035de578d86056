"""`alignuq export run RUN --out FILE [--format csv|parquet] [--with-dataset] [--with-prompts]`.

The work (columns, formats, the ``FILE.provenance.json`` sidecar, atomic writes) is
``engine.lab.run_export``. The format is FILE's suffix (``.csv``, ``.parquet``) unless ``--format``
says it; a suffix that says another format is refused.
"""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from engine.lab.run_export import export_format, export_run
from tui.cli.common import WorkspaceOpt, info, warn

app = typer.Typer(no_args_is_help=True, help="Export results and tables.")


class RunFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"


@app.command("run")
def export_run_cmd(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix, or its folder).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.csv or .parquet).")],
    fmt: Annotated[RunFormat | None, typer.Option(
        "--format", help="csv or parquet (default: from --out's suffix; csv without one).")] = None,
    with_dataset: Annotated[bool, typer.Option(
        "--with-dataset", help="Add the question's correct, human_share, subject and text.")] = False,
    with_prompts: Annotated[bool, typer.Option("--with-prompts",
                                               help="Add the exact prompt string as column `prompt`.")] = False,
    ws_path: WorkspaceOpt = None,
) -> None:
    """Per-question results of a run: cloze letter, label probabilities, choice mass, every measure."""
    file_format = export_format(out, fmt.value if fmt else None)
    command = shlex.join(["alignuq", "export", "run", run, "--format", file_format, "--out", str(out)]
                         + (["--with-dataset"] if with_dataset else [])
                         + (["--with-prompts"] if with_prompts else []))
    exported = export_run(ws_path, run, out, file_format, with_prompts=with_prompts,
                          with_dataset=with_dataset, command=command)
    for note in exported.notes:
        warn(note)
    prov = exported.provenance
    info(f"wrote {prov['rows']} rows x {len(prov['columns'])} columns to {exported.path} "
         f"(+ .provenance.json)")
