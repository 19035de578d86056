"""`alignuq tui`: open the lab console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tui.cli.common import WorkspaceOpt


def tui(
    workspace: WorkspaceOpt = None,
    engine_cmd: Annotated[
        str | None,
        typer.Option("--engine-cmd", help="Command prefix that starts the engine, e.g. "
                     "\"ssh gpu-node\" or \"srun --gres=gpu:1 -n1\" (env ALIGNUQ_ENGINE_CMD; "
                     "default: a local engine process).", show_default=False),
    ] = None,
    variant: Annotated[str | None, typer.Option(
        help="Analysis variant: corrected or paper (default: the one the console used last in "
             "this workspace, else corrected).", show_default=False)] = None,
) -> None:
    """Open the lab console (Textual): datasets d, models m, runs r, results s, help ?."""
    from tui.app import make_app
    from tui.settings import Settings

    settings = Settings.build(workspace if workspace is None else Path(workspace), engine_cmd,
                              variant=variant)
    make_app(settings=settings).run()
