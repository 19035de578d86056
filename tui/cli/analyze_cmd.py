"""`alignuq analyze alignment|agreement|kendall|calibration|ece|jsd --dataset NAME ...`.

Each sub-command's ``--help`` lists the options its table uses (``engine.analysis.settings``, and
:data:`OUTPUTS`); the other options of :data:`OPTIONS` are still accepted, so that one line can
loop over the tables, and a value given to one that does not change the table is reported as
ignored (and recorded so in the provenance). A command prints the table on stdout (or writes it
with ``--out FILE`` and a ``FILE.provenance.json`` sidecar) and puts notes on stderr.
``alignment --strata`` shows r within each choice count (>= 30 questions) instead of the main
table. ``ece --bins-out FILE`` and ``jsd --null-out FILE`` also write the reliability bins and the
permutation null samples (format from the suffix; CSV by default), each with its sidecar.
Stale runs are always refused, partial runs unless ``--allow-partial`` (``engine.analysis.coverage``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import BadInput
from engine.analysis.settings import ANALYSES, SETTINGS
from engine.analysis.settings import DEFAULTS as TABLE_DEFAULTS
from tui.cli.common import Variant, WorkspaceOpt, existing_workspace, info

# the tables (scipy) are imported when a command runs, not when the CLI starts

app = typer.Typer(no_args_is_help=True, help="Tables of the paper: alignment, agreement, "
                  "kendall, calibration, ece, jsd.")


class Fmt(str, Enum):
    human = "human"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    latex = "latex"


class Scale(str, Enum):
    raw = "raw"
    normalized = "normalized"
    paper = "paper"


class Cdf(str, Enum):
    empirical = "empirical"
    normal = "normal"


class Adjust(str, Enum):
    none = "none"
    holm = "holm"
    bh = "bh"


DOCS = {
    "alignment": "Pearson r (p, 95% CI), Spearman and partial r | log n of each measure with "
                 "human entropy (--strata: r within each choice count).",
    "agreement": "Share of questions whose cloze answer is a human top answer, vs chance.",
    "kendall": "Normalised Kendall tau distance between the model's and the humans' orders.",
    "calibration": "Spearman(correct, measure) overall (subject ALL) and per subject.",
    "ece": "The paper's standardised ECE per measure and the conventional ECE of choice_top1.",
    "jsd": "JSD shift between uncertain and certain questions, with a permutation test.",
}
# what else each sub-command can write, with the defaults (off)
OUTPUTS = {"alignment": ("strata",), "ece": ("bins_out",), "jsd": ("null_out",)}
DEFAULTS = {**TABLE_DEFAULTS, "strata": False, "bins_out": None, "null_out": None}


@dataclass(frozen=True)
class Opt:
    """One option of `alignuq analyze`: its type, flags and help line (default: DEFAULTS)."""

    kind: Any
    flags: tuple[str, ...]
    help: str
    min: int | None = None


MEASURES_HELP = ("Measures (repeat or comma-separate; default: all; ece/jsd: the uncertainties). "
                 "A certainty (top1_prob, choice_top1, choice_margin) enters negated, as -NAME.")
OPTIONS = {
    "measures": Opt(list[str] | None, ("--measures",), MEASURES_HELP),
    "variant": Opt(Variant, ("--variant",), "corrected or paper (SCIENCE.md)."),
    "scale": Opt(Scale, ("--scale",), "raw, normalized or paper (SCIENCE.md §4)."),
    "seed": Opt(int, ("--seed",), "Seed of every random step (z = 0 ties, permutations)."),
    "permutations": Opt(int, ("--permutations",), "Permutations of the test."),
    "bins": Opt(int, ("--bins",), "ECE bins."),
    "cdf": Opt(Cdf, ("--cdf",), "ECE confidence: empirical or normal CDF."),
    "adjust": Opt(Adjust, ("--adjust",), "Multiple-comparison adjustment (adds p_adj)."),
    "min_subject_n": Opt(int, ("--min-subject-n",), "Leave out subjects with fewer questions "
                         "(ALL is always shown; a note counts them).", min=1),
    "strata": Opt(bool, ("--strata",), "r within each choice count instead."),
    "bins_out": Opt(Path | None, ("--bins-out",), "Also write every reliability bin here."),
    "null_out": Opt(Path | None, ("--null-out",), "Also write the null samples here."),
}


def _split(values: list[str] | None) -> list[str] | None:
    out = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    return out or None


def uses(name: str) -> tuple[str, ...]:
    """The options that change the output of ``alignuq analyze NAME``."""
    return SETTINGS[name] + OUTPUTS.get(name, ())


def command_line(name: str, s: dict) -> list[str]:
    """The command as a user would type it, rebuilt from the parsed options (in-process callers
    such as the TUI or tests have no meaningful ``sys.argv``)."""
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
    return {key: s[key] for key in OPTIONS if key not in uses(name) and s[key] != DEFAULTS[key]}


def check_counts(name: str, s: dict) -> None:
    for key in ("permutations", "bins"):
        if key in uses(name) and s[key] < 1:
            raise BadInput(f"--{key} must be at least 1 (got {s[key]})")


def title(label: str, dataset: str, name: str, s: dict) -> str:
    """The human table's first line: only the settings that made this table."""
    shown = [f"{key} {s[key]}" for key in ("variant", "scale") if key in uses(name)]
    return " | ".join([label, f"dataset {dataset}", *shown])


def run_analysis(name: str, s: dict) -> None:
    from datasets_io.dataset import load_dataset
    from engine.analysis import tables
    from engine.analysis.frames import load_analysis
    from engine.analysis.provenance import build_provenance, write_with_provenance
    from engine.analysis.render import format_for, render

    argv = command_line(name, s)
    ws = existing_workspace(s.pop("ws_path"))
    ignored = ignored_options(name, s)
    for key in ignored:
        info(f"note: --{key.replace('_', '-')} does not change the {name} table; ignored")
    check_counts(name, s)
    fmt = format_for(s["out"], "human", given=s["format"]) if s["out"] else s["format"] or "human"
    # every file's format, before anything is computed
    extra_fmts = {key: format_for(str(s[key]), "csv") for key in ("bins_out", "null_out")
                  if s[key] and key in uses(name)}
    ds = load_dataset(ws, s["dataset"])
    tables.check_dataset(ds, name)
    analysis = load_analysis(ws, ds, s["runs"], allow_partial=s["allow_partial"])
    result = tables.make_table(name, analysis, s)
    notes = analysis.notes + result.notes
    for note in notes:
        info(f"note: {note}")
    main = result.extra["strata"] if (name == "alignment" and s["strata"]) else result.table
    label = "alignment-strata" if main is not result.table else name
    settings = {"analysis": label, "dataset": ds.name, "runs": list(analysis.manifests),
                "allow_partial": s["allow_partial"], **tables.used_settings(name, s),
                **({"measures": s["measures"] or "all"} if "measures" in uses(name) else {}),
                **({"ignored": ignored} if ignored else {})}
    if s["out"]:
        prov = build_provenance(analysis, label, settings, argv, notes)
        write_with_provenance(main, s["out"], fmt, prov)
        info(f"wrote {s['out']} and {s['out']}.provenance.json")
    else:
        heading = title(label, ds.name, name, s) if fmt == "human" else None
        typer.echo(render(main, fmt, heading), nl=False)
    extras = {"bins_out": ("bins", "ece-bins"), "null_out": ("null", "jsd-null")}
    for key, (part, part_label) in extras.items():
        if key in extra_fmts:
            prov = build_provenance(analysis, part_label, settings, argv, notes)
            write_with_provenance(result.extra[part], s[key], extra_fmts[key], prov)
            info(f"wrote {s[key]} and {s[key]}.provenance.json")


def _parameter(key: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def _option(key: str, hidden: bool) -> inspect.Parameter:
    opt = OPTIONS[key]
    extra = {"min": opt.min} if opt.min is not None else {}
    info_ = typer.Option(*opt.flags, help=opt.help, hidden=hidden, **extra)
    return _parameter(key, Annotated[opt.kind, info_], DEFAULTS[key])


def _signature(name: str) -> inspect.Signature:
    """The sub-command's options: the common ones, then every option of :data:`OPTIONS`
    (hidden from ``--help`` where the table does not use it)."""
    head = [
        _parameter("dataset", Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")]),
        _parameter("runs", Annotated[list[str] | None, typer.Option(
            "--runs", help="Run ids (repeat or comma-separate; default: every run of the "
            "dataset).")], None),
        _parameter("allow_partial", Annotated[bool, typer.Option(
            "--allow-partial", help="Let cancelled or unfinished runs in (the notes and the "
            "provenance give each one's n_done/n_total; not a random sample).")], False),
    ]
    tail = [
        _parameter("format", Annotated[Fmt | None, typer.Option(
            "--format", "-f", help="human|csv|json|markdown|latex (default: from --out's "
            "suffix, else human).")], None),
        _parameter("out", Annotated[Path | None, typer.Option(
            "--out", "-o", help="Write here (+ provenance sidecar).")], None),
        _parameter("ws_path", WorkspaceOpt, None),
    ]
    used = uses(name)
    options = [_option(key, hidden=key not in used) for key in OPTIONS]
    return inspect.Signature(head + options + tail)


def _command(name: str) -> Callable[..., None]:
    def command(**given: Any) -> None:
        s = {key: value.value if isinstance(value, Enum) else value for key, value in given.items()}
        s.update(runs=_split(s["runs"]), measures=_split(s["measures"]))
        run_analysis(name, s)

    command.__signature__ = _signature(name)  # type: ignore[attr-defined]
    command.__doc__ = DOCS[name]
    command.__name__ = name
    return command


for _name in ANALYSES:
    app.command(_name)(_command(_name))
