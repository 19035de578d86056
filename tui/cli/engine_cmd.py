"""`alignuq engine serve --stdio`: the engine process (``alignuq-engine --stdio`` by another
name, kept for engine commands written that way)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="The engine process (what front ends start).")


@app.command("serve")
def serve(
    stdio: Annotated[bool, typer.Option("--stdio", help="Speak the protocol over stdin/stdout "
                                        "(the only transport).")] = False,
) -> None:
    """Serve engine requests: newline-delimited JSON on stdin, answers on stdout, logs on stderr."""
    if not stdio:
        from common.errors import BadInput

        raise BadInput("only the stdio transport exists", fix="run `alignuq engine serve --stdio`")
    import os
    import sys

    # become the engine: the front end hands the process over, it does not host the engine
    os.execv(sys.executable, [sys.executable, "-m", "engine.server", "--stdio"])


@app.callback()
def _engine() -> None:
    """The engine process: front ends start it as a child speaking JSON lines over stdio."""
