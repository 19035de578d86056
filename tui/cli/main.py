"""Entry point of the `alignuq` command.

Exit codes: 0 ok, 1 failure, 2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import click
import typer

try:  # typer >= 0.29 vendors its own click; usage errors are raised from that copy
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - older typer re-uses click itself
    _TyperClickException = click.ClickException

from common.errors import BAD_INPUT, EXIT_BAD_INPUT, AlignuqError, BadInput, as_error
from tui.cli import (
    analyze_cmd,
    datasets_cmd,
    demo_cmd,
    engine_cmd,
    export_cmd,
    figure_cmd,
    grade_cmd,
    import_cmd,
    models_cmd,
    run_cmd,
    runs_cmd,
    runs_import,
    tui_cmd,
)

app = typer.Typer(name="alignuq", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Human alignment and calibration of LLM inference-time uncertainty.")


def _print_version(asked: bool) -> None:
    if not asked:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        typer.echo(f"alignuq {version('alignuq')}")
    except PackageNotFoundError:  # run from a source tree that was never installed
        typer.echo("alignuq (version unknown: the package is not installed; pip install -e .)")
    raise typer.Exit(0)


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the installed version and exit.")] = False) -> None:
    """Human alignment and calibration of LLM inference-time uncertainty."""


app.add_typer(import_cmd.app, name="import")
app.add_typer(datasets_cmd.app, name="datasets")
app.add_typer(models_cmd.app, name="models")
app.command("run")(run_cmd.run)
runs_cmd.app.command("import")(runs_import.import_results)
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(analyze_cmd.app, name="analyze")
app.add_typer(export_cmd.app, name="export")
app.add_typer(figure_cmd.app, name="figure")
app.add_typer(engine_cmd.app, name="engine")
app.add_typer(grade_cmd.app, name="grade")
app.command("tui")(tui_cmd.tui)
app.command("demo")(demo_cmd.demo)


def _import_without_format(args: list[str]) -> str | None:
    """For `alignuq import FILE` (no format named), the command with the format the file
    looks like; None for any other usage error."""
    from pathlib import Path

    from engine.lab.imports import detect

    if len(args) < 2 or args[0] != "import" or args[1] in import_cmd.FORMATS:
        return None
    path = Path(args[1]).expanduser()
    if not path.exists():
        if not (path.suffix or "/" in args[1]):
            return None  # a mistyped format, not a file: click's own message suggests the name
        return (f"{args[1]}: no such file; the format comes first: "
                f"alignuq import {'|'.join(import_cmd.FORMATS)} FILE --name NAME")
    try:
        fmt = detect(args[1])
    except BadInput as err:
        return f"`alignuq import` needs the file's format first; {err.message}"
    command = shlex.join(["alignuq", "import", fmt, *args[1:]]) + ("" if args[2:] else " --name NAME")
    return (f"`alignuq import` needs the file's format first; {args[1]} looks like {fmt}: "
            f"{command} (see `alignuq import {fmt} --help`)")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; an error becomes one stderr line and its exit code (2: bad input)."""
    try:
        code = app(args=argv, prog_name="alignuq", standalone_mode=False)
    except AlignuqError as err:
        _exit_with(err)
    except (click.exceptions.Abort, typer.Abort):
        typer.echo("alignuq: interrupted", err=True)
        sys.exit(130)
    except (click.ClickException, _TyperClickException) as err:
        ctx = getattr(err, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        if (missing_format := _import_without_format(sys.argv[1:] if argv is None else argv)):
            typer.secho(f"alignuq: error: {missing_format}", err=True, fg=typer.colors.RED)
            sys.exit(EXIT_BAD_INPUT)
        if err.format_message():  # empty after no-args help, which is already printed
            typer.secho(f"alignuq: error: {err.format_message()}{hint}", err=True,
                        fg=typer.colors.RED)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        typer.echo("alignuq: interrupted", err=True)
        sys.exit(130)
    except OSError as err:  # a full or read-only disk is bad input, the rest a failure
        _exit_with(as_error(err))
    sys.exit(code if isinstance(code, int) else 0)


def _exit_with(err: AlignuqError) -> None:
    """The error's one line on stderr (its code first, but for bad input), then its exit code."""
    code = "" if err.code == BAD_INPUT else f"{err.code}: "
    typer.secho(f"alignuq: error: {code}{err.message}", err=True, fg=typer.colors.RED)
    sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
