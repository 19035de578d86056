"""`alignuq figure KIND --dataset D --out FILE.pdf|.svg|.png|.pgf`, one sub-command per figure
kind of ``engine.lab.figures``: the table the kind is drawn from is computed as `alignuq analyze`
computes it (the same settings options, from the registry), drawn with matplotlib and written
with a ``FILE.provenance.json`` sidecar. matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from engine.lab.analyses import ANALYSES, SETTINGS
from engine.lab.figures import FIGURES, WIDTHS, FigureKind
from tui.cli.analyze_cmd import command_line, parameter, setting_option, split_values
from tui.cli.common import WorkspaceOpt, existing_workspace, info

app = typer.Typer(no_args_is_help=True, help="Figures for papers (PDF, SVG, PNG, PGF): "
                  + ", ".join(FIGURES) + ".")

Width = Enum("Width", [(w, w) for w in WIDTHS], type=str)


def run_figure(kind: FigureKind, s: dict[str, Any]) -> None:
    from engine.lab import tables
    from engine.lab.figures import FigureOptions, figure_format, make_figure

    argv = ["alignuq", "figure", kind.name, *command_line(kind.name, s)[3:]]
    ws = existing_workspace(s.pop("ws_path"))
    figure_format(s["out"])                                   # before any run is read
    tables.settings_for(ANALYSES[kind.analysis], s)
    loaded = tables.load(ws, s["dataset"], s["runs"], allow_partial=s["allow_partial"],
                         needs=[kind.analysis])
    options = FigureOptions(width=s["width"], model=s.get("model"), measure=s.get("measure"),
                            relative_depth=s.get("relative_depth", False))
    side, notes = make_figure(loaded, kind.name, s, s["out"], options, argv=argv)
    for note in notes:
        info(f"note: {note}")
    info(f"wrote {s['out']} and {side}")


def _figure_options(kind: FigureKind) -> list[inspect.Parameter]:
    """--model/--measure where the kind draws one of them, --relative-depth for the probe."""
    options = []
    if kind.picks_one:
        options.append(parameter("model", Annotated[str | None, typer.Option(
            "--model", help="The model (default: the table's first).")], None))
    if kind.picks_one or kind.by_measure:
        options.append(parameter("measure", Annotated[str | None, typer.Option(
            "--measure", help=f"The measure (default: {kind.default_measure}, else the "
            "table's first).")], None))
    if kind.name == "probe-layers":
        options.append(parameter("relative_depth", Annotated[bool, typer.Option(
            "--relative-depth", help="x = layer / the deepest layer captured.")], False))
    return options


def _signature(kind: FigureKind) -> inspect.Signature:
    spec = ANALYSES[kind.analysis]
    head = [
        parameter("dataset", Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")]),
        parameter("out", Annotated[Path, typer.Option("--out", "-o", help="The figure file: "
                   ".pdf, .svg, .pgf (vector) or .png (300 dpi); + provenance sidecar.")]),
        parameter("runs", Annotated[list[str] | None, typer.Option(
            "--runs", help="Run ids (repeat or comma-separate; default: every run of the "
            "dataset).")], None),
        parameter("allow_partial", Annotated[bool, typer.Option(
            "--allow-partial", help="Let cancelled or unfinished runs in.")], False),
        parameter("width", Annotated[Width, typer.Option(
            "--width", help="single column (3.4 in) or double (7 in).")], "single"),
    ]
    settings = [setting_option(SETTINGS[key], hidden=False) for key in spec.settings]
    return inspect.Signature([*head, *_figure_options(kind), *settings,
                              parameter("ws_path", WorkspaceOpt, None)])


def _command(kind: FigureKind) -> Callable[..., None]:
    def command(**given: Any) -> None:
        s = {key: value.value if isinstance(value, Enum) else value for key, value in given.items()}
        s.update(runs=split_values(s["runs"]), **{key: split_values(s[key]) for key in s
                                            if key in SETTINGS and SETTINGS[key].kind is list})
        run_figure(kind, s)

    command.__signature__ = _signature(kind)  # type: ignore[attr-defined]
    command.__doc__ = f"{kind.help} (From `alignuq analyze {kind.analysis}`.)"
    command.__name__ = kind.name.replace("-", "_")
    return command


for _kind in FIGURES.values():
    app.command(_kind.name)(_command(_kind))
