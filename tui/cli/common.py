"""Options and output helpers shared by every CLI command."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from common.errors import BadInput
from engine.lab.workspaces import Workspace, workspace_to_read, workspace_to_write

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (env ALIGNUQ_WORKSPACE; "
                 "default ./alignuq-workspace).", show_default=False),
]


class Variant(str, Enum):
    """SCIENCE.md's variants: the corrected computations (default) or the paper's code."""

    corrected = "corrected"
    paper = "paper"


class Format(str, Enum):
    human = "human"
    json = "json"
    csv = "csv"


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def confirm(question: str, yes: bool) -> None:
    """Ask on the terminal (stop with exit 1 on no); without a terminal, ``--yes`` is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput(f"{question} needs a confirmation and there is no terminal to ask on",
                       fix="pass --yes")
    if not typer.confirm(question, err=True):
        info("nothing deleted")
        raise typer.Exit(1)


def workspace(path: Path | None) -> Workspace:
    """The workspace a command writes into (import, run): created if it does not exist."""
    return workspace_to_write(path)


def existing_workspace(path: Path | None) -> Workspace:
    """The workspace a command reads: refused if it does not exist (never created)."""
    return workspace_to_read(path)


def info(message: str) -> None:
    """Diagnostics go to stderr so stdout stays machine-readable."""
    typer.echo(message, err=True)


def warn(message: str) -> None:
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_csv(frame: pd.DataFrame) -> None:
    frame.to_csv(sys.stdout, index=False)
