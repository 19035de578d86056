"""`alignuq analyze NAME --dataset D ...` for each analysis of the registry, and `analyze all`.

The sub-commands, their options and their ``--help`` are made from the registry
(``engine.lab.analyses``): each lists the settings its table takes and its extra outputs. The
other settings are still accepted (hidden from ``--help``), so that one line can loop over the
tables, and a value given to one that does not change the table is reported as ignored (and
recorded so in the provenance). A command prints the table on stdout (or writes it with
``--out FILE`` and a ``FILE.provenance.json`` sidecar) and puts notes on stderr. An extra output
is either a flag that shows it instead of the table (``alignment --strata``) or a file to write
it to (``ece --bins-out FILE``, ``jsd --null-out FILE``; format from the suffix, CSV by default).

``analyze all`` computes every table the dataset has the data for from one load of its runs:
printed one after another (each under its title line), or with ``--out DIR`` one file per table
with its sidecar (``--extras``: the extra outputs too). Stale runs are always refused, partial
runs unless ``--allow-partial`` (``engine.analysis.coverage``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import BadInput
from engine.lab.analyses import ANALYSES, SETTINGS, AnalysisSpec, Extra, Setting
from tui.cli.common import WorkspaceOpt, existing_workspace, info

# the tables (scipy) are imported when a command runs, not when the CLI starts

ALL = "all"
app = typer.Typer(no_args_is_help=True, help="Tables of the paper: " + ", ".join(ANALYSES)
                  + f", or {ALL} of them from one load.")


class Fmt(str, Enum):
    human = "human"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    latex = "latex"


EXTRAS = {extra.option: extra for spec in ANALYSES.values() for extra in spec.extras}
# what a command line leaves out because it is what the user gets without saying it
DEFAULTS = {**{key: setting.default for key, setting in SETTINGS.items()},
            **{option: (False if extra.replaces_table else None)
               for option, extra in EXTRAS.items()}, "extras": False}


def split_values(values: list[str] | None) -> list[str] | None:
    out = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    return out or None


def uses(name: str) -> tuple[str, ...]:
    """The options that change the output of ``alignuq analyze NAME``."""
    spec = ANALYSES[name]
    return spec.settings + tuple(extra.option for extra in spec.extras)


def command_line(name: str, s: dict) -> list[str]:
    """The command as a user would type it, rebuilt from the parsed options (in-process callers
    have no meaningful ``sys.argv``)."""
    argv = ["alignuq", "analyze", name, "--dataset", s["dataset"]]
    for key, value in s.items():
        if key in ("dataset", "ws_path") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            argv += [flag, ",".join(value)]
        elif value is True:
            argv.append(flag)
        elif key in DEFAULTS and value == DEFAULTS[key]:
            continue
        else:
            argv += [flag, str(value)]
    return argv


def ignored_options(name: str, s: dict) -> dict[str, Any]:
    """Options given a value although they do not change this table."""
    return {key: s[key] for key in (*SETTINGS, *EXTRAS)
            if key not in uses(name) and s[key] != DEFAULTS[key]}


def run_analysis(name: str, s: dict) -> None:
    from engine.lab import tables

    argv = command_line(name, s)
    ws = existing_workspace(s.pop("ws_path"))
    spec = ANALYSES[name]
    ignored = ignored_options(name, s)
    for key in ignored:
        info(f"note: --{key.replace('_', '-')} does not change the {name} table; ignored")
    tables.settings_for(spec, s)   # checked before any run is read
    fmt = tables.file_format(s["out"], "human", given=s["format"]) if s["out"] else \
        s["format"] or "human"
    # every file's format, before anything is computed
    files = {e.key: (s[e.option], tables.file_format(s[e.option], "csv"))
             for e in spec.extras if not e.replaces_table and s[e.option]}
    loaded = tables.load(ws, s["dataset"], s["runs"], allow_partial=s["allow_partial"],
                         needs=[name])
    table = tables.compute(loaded, name, s)
    for note in table.notes:
        info(f"note: {note}")
    shown = next((e.key for e in spec.extras if e.replaces_table and s[e.option]), None)
    if s["out"]:
        table.write(s["out"], fmt, shown, argv=argv, ignored=ignored)
        info(f"wrote {s['out']} and {s['out']}.provenance.json")
    else:
        typer.echo(table.render(fmt, shown, titled=True), nl=False)
    for key, (path, file_fmt) in files.items():
        table.write(path, file_fmt, key, argv=argv, ignored=ignored)
        info(f"wrote {path} and {path}.provenance.json")


def run_all(s: dict) -> None:
    from engine.lab import tables

    argv = command_line(ALL, s)
    ws = existing_workspace(s.pop("ws_path"))
    for spec in ANALYSES.values():
        tables.settings_for(spec, s)   # checked before any run is read
    if s["extras"] and not s["out"]:
        raise BadInput("--extras writes files", fix="give the folder to write them to: --out DIR")
    out: Path | None = s["out"]
    if out is not None and out.exists() and not out.is_dir():
        raise BadInput("--out names a file; analyze all writes one file per table into a folder",
                       where=out, fix="give a folder (made if it does not exist)")
    fmt = s["format"] or ("csv" if out else "human")
    loaded = tables.load(ws, s["dataset"], s["runs"], allow_partial=s["allow_partial"])
    names, left_out = tables.applicable(loaded)
    for note in loaded.notes + left_out:
        info(f"note: {note}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for name in names:
        tables.settings_for(tables.analysis(name), s)   # a bad setting is refused, not skipped
    for name in names:
        try:
            table = tables.compute(loaded, name, s)
        except BadInput as err:     # the runs cannot give it (pairs: no base/instruct pairs)
            info(f"note: {name} left out: {err.message}")
            continue
        for note in table.result.notes:
            info(f"note: {name}: {note}")
        if out is None:
            heading = "" if fmt == "human" else table.title() + "\n"
            typer.echo(heading + table.render(fmt, titled=True))
            continue
        for extra in [None, *(e.key for e in table.spec.extras if s["extras"])]:
            path = out / (table.label(extra) + tables.suffix_for(fmt))
            table.write(path, fmt, extra, argv=argv)
            info(f"wrote {path} and {path}.provenance.json")


# ------------------------------------------------------------------ the commands, from the registry

def parameter(key: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def _setting_type(setting: Setting) -> Any:
    if setting.choices:
        return Enum(setting.name.title().replace("_", ""), [(c, c) for c in setting.choices],
                    type=str)
    return list[str] | None if setting.kind is list else setting.kind


SETTING_TYPES = {key: _setting_type(setting) for key, setting in SETTINGS.items()}


def setting_option(setting: Setting, hidden: bool) -> inspect.Parameter:
    option = typer.Option(setting.flag, help=setting.help, hidden=hidden)
    return parameter(setting.name, Annotated[SETTING_TYPES[setting.name], option], setting.default)


def _extra_option(extra: Extra, hidden: bool) -> inspect.Parameter:
    kind = bool if extra.replaces_table else Path | None
    option = typer.Option("--" + extra.option.replace("_", "-"), help=extra.help, hidden=hidden)
    return parameter(extra.option, Annotated[kind, option], DEFAULTS[extra.option])


def _signature(spec: AnalysisSpec | None) -> inspect.Signature:
    """A sub-command's options: the common ones, then every setting and extra output (hidden
    from ``--help`` where the table does not use it; ``all`` uses every setting)."""
    used = uses(spec.name) if spec else tuple(SETTINGS)
    head = [
        parameter("dataset", Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")]),
        parameter("runs", Annotated[list[str] | None, typer.Option(
            "--runs", help="Run ids (repeat or comma-separate; default: every run of the "
            "dataset).")], None),
        parameter("allow_partial", Annotated[bool, typer.Option(
            "--allow-partial", help="Let cancelled or unfinished runs in (the notes and the "
            "provenance give each one's n_done/n_total; not a random sample).")], False),
    ]
    options = [setting_option(setting, hidden=key not in used) for key, setting in SETTINGS.items()]
    if spec is None:
        options.append(parameter("extras", Annotated[bool, typer.Option(
            "--extras", help="With --out DIR, also write each table's extra outputs ("
            + ", ".join(extra.label for extra in EXTRAS.values()) + ").")], False))
        out_help = "Write one file per table into this folder (+ provenance sidecars)."
        fmt_help = "human|csv|json|markdown|latex (default: human; csv with --out DIR)."
    else:
        options += [_extra_option(extra, hidden=option not in used)
                    for option, extra in EXTRAS.items()]
        out_help = "Write here (+ provenance sidecar)."
        fmt_help = "human|csv|json|markdown|latex (default: from --out's suffix, else human)."
    tail = [
        parameter("format", Annotated[Fmt | None, typer.Option("--format", "-f", help=fmt_help)],
                   None),
        parameter("out", Annotated[Path | None, typer.Option("--out", "-o", help=out_help)], None),
        parameter("ws_path", WorkspaceOpt, None),
    ]
    return inspect.Signature(head + options + tail)


def _command(spec: AnalysisSpec | None) -> Callable[..., None]:
    def command(**given: Any) -> None:
        s = {key: value.value if isinstance(value, Enum) else value for key, value in given.items()}
        s.update(runs=split_values(s["runs"]),
                 **{key: split_values(s[key]) for key, setting in SETTINGS.items()
                    if setting.kind is list and key in s})
        if spec is None:
            run_all(s)
        else:
            run_analysis(spec.name, s)

    command.__signature__ = _signature(spec)  # type: ignore[attr-defined]
    command.__doc__ = spec.help if spec else ("Every table the dataset has the data for, from "
                                              "one load of its runs.")
    command.__name__ = spec.name if spec else ALL
    return command


for _spec in ANALYSES.values():
    app.command(_spec.name)(_command(_spec))
app.command(ALL)(_command(None))
