"""`alignuq analyze alignment|agreement|kendall|calibration|ece|jsd --dataset NAME ...`.

Every sub-command takes the same options (an option that does not change that analysis is
recorded in the provenance and otherwise ignored), prints the table on stdout (or writes it with
``--out FILE`` and a ``FILE.provenance.json`` sidecar) and puts notes on stderr.
``alignment --strata`` shows r within each choice count (>= 30 questions) instead of the main
table. ``ece --bins-out FILE`` and ``jsd --null-out FILE`` also write the reliability bins and the
permutation null samples (format from the suffix; CSV by default), each with its sidecar.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from datasets_io.errors import BadInput
from tui.cli.common import Variant, WorkspaceOpt, existing_workspace, info

# engine.analysis (scipy) is imported when a command runs, not when the CLI starts
ANALYSES = ("alignment", "agreement", "kendall", "calibration", "ece", "jsd")

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
# which settings change each analysis (the others are ignored and say so)
USES = {
    "alignment": {"measures", "scale", "adjust", "strata"},
    "agreement": {"variant"},
    "kendall": set(),
    "calibration": {"measures", "scale", "adjust", "min_subject_n"},
    "ece": {"measures", "scale", "bins", "cdf", "bins_out"},
    "jsd": {"measures", "scale", "variant", "seed", "permutations", "adjust", "null_out"},
}
DEFAULTS = {"measures": None, "scale": "raw", "variant": "corrected", "seed": 0,
            "permutations": 1000, "bins": 10, "cdf": "empirical", "adjust": "none",
            "strata": False, "min_subject_n": 1, "bins_out": None, "null_out": None}


def _split(values: list[str] | None) -> list[str] | None:
    out = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    return out or None


def compute(name: str, analysis, s: dict):
    """Dispatch to the table function of ``name`` with the settings ``s`` (a TableResult)."""
    from engine.analysis import tables

    if name == "alignment":
        return tables.alignment_table(analysis, s["measures"], s["scale"], s["adjust"])
    if name == "agreement":
        return tables.agreement_table(analysis, s["variant"])
    if name == "kendall":
        return tables.kendall_table(analysis)
    if name == "calibration":
        return tables.calibration_table(analysis, s["measures"], s["scale"], s["adjust"],
                                        s["min_subject_n"])
    if name == "ece":
        return tables.ece_table(analysis, s["measures"], s["scale"], s["bins"], s["cdf"])
    return tables.jsd_table(analysis, s["measures"], s["scale"], s["variant"], s["seed"],
                            s["permutations"], s["adjust"])


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


def run_analysis(name: str, s: dict) -> None:
    from datasets_io.dataset import load_dataset
    from engine.analysis import tables
    from engine.analysis.frames import load_analysis
    from engine.analysis.provenance import build_provenance, write_with_provenance
    from engine.analysis.render import format_for, render

    argv = command_line(name, s)
    ws = existing_workspace(s.pop("ws_path"))
    for key, default in DEFAULTS.items():
        if key not in USES[name] and s[key] != default:
            info(f"note: --{key.replace('_', '-')} does not change the {name} table; ignored")
    for key in ("permutations", "bins"):
        if key in USES[name] and s[key] < 1:
            raise BadInput(f"--{key} must be at least 1 (got {s[key]})")
    fmt = s["format"] or (format_for(str(s["out"]), "human") if s["out"] else "human")
    # every file's format, before anything is computed
    extra_fmts = {key: format_for(str(s[key]), "csv") for key in ("bins_out", "null_out")
                  if s[key] and key in USES[name]}
    ds = load_dataset(ws, s["dataset"])
    tables.check_dataset(ds, name)
    analysis = load_analysis(ws, ds, s["runs"])
    result = compute(name, analysis, s)
    notes = analysis.notes + result.notes
    for note in notes:
        info(f"note: {note}")
    main = result.extra["strata"] if (name == "alignment" and s["strata"]) else result.table
    label = "alignment-strata" if main is not result.table else name
    settings = {"analysis": label, "dataset": ds.name, "runs": list(analysis.manifests),
                **{k: s[k] for k in DEFAULTS if k not in ("bins_out", "null_out")},
                "measures": s["measures"] or "all"}
    if s["out"]:
        prov = build_provenance(analysis, label, settings, argv, notes)
        write_with_provenance(main, s["out"], fmt, prov)
        info(f"wrote {s['out']} and {s['out']}.provenance.json")
    else:
        title = (f"{label} | dataset {ds.name} | variant {s['variant']} | scale {s['scale']}")
        typer.echo(render(main, fmt, title if fmt == "human" else None), nl=False)
    extras = {"bins_out": ("bins", "ece-bins"), "null_out": ("null", "jsd-null")}
    for key, (part, part_label) in extras.items():
        if key in extra_fmts:
            prov = build_provenance(analysis, part_label, settings, argv, notes)
            write_with_provenance(result.extra[part], s[key], extra_fmts[key], prov)
            info(f"wrote {s[key]} and {s[key]}.provenance.json")


def _command(name: str) -> Callable[..., None]:
    def command(
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")],
        runs: Annotated[list[str] | None, typer.Option(
            "--runs", help="Run ids (repeat or comma-separate; default: every run of the dataset).")] = None,
        measures: Annotated[list[str] | None, typer.Option(
            "--measures", help="Measures (repeat or comma-separate; default: all; ece/jsd: "
            "the uncertainties).")] = None,
        variant: Annotated[Variant, typer.Option(help="corrected (default) or paper (SCIENCE.md).")] = Variant.corrected,
        scale: Annotated[Scale, typer.Option(help="raw, normalized or paper (SCIENCE.md §4).")] = Scale.raw,
        seed: Annotated[int, typer.Option(help="Seed of every random step (jsd).")] = 0,
        permutations: Annotated[int, typer.Option(help="Permutations of the jsd test.")] = 1000,
        bins: Annotated[int, typer.Option(help="ECE bins.")] = 10,
        cdf: Annotated[Cdf, typer.Option(help="ECE confidence: empirical or normal CDF.")] = Cdf.empirical,
        adjust: Annotated[Adjust, typer.Option(help="Multiple-comparison adjustment (adds p_adj).")] = Adjust.none,
        strata: Annotated[bool, typer.Option("--strata", help="alignment: r within each choice count.")] = False,
        min_subject_n: Annotated[int, typer.Option(
            "--min-subject-n", min=1, help="calibration: omit subjects with fewer questions (ALL is always shown).")] = 1,
        fmt: Annotated[Fmt | None, typer.Option(
            "--format", "-f", help="human|csv|json|markdown|latex (default: from --out's suffix, else human).")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (+ provenance sidecar).")] = None,
        bins_out: Annotated[Path | None, typer.Option("--bins-out", help="ece: reliability bins file.")] = None,
        null_out: Annotated[Path | None, typer.Option("--null-out", help="jsd: null samples file.")] = None,
        ws_path: WorkspaceOpt = None,
    ) -> None:
        run_analysis(name, {
            "dataset": dataset, "runs": _split(runs), "measures": _split(measures),
            "variant": variant.value, "scale": scale.value, "seed": seed,
            "permutations": permutations, "bins": bins, "cdf": cdf.value, "adjust": adjust.value,
            "strata": strata, "min_subject_n": min_subject_n, "format": fmt.value if fmt else None, "out": out,
            "bins_out": bins_out, "null_out": null_out, "ws_path": ws_path})

    command.__doc__ = DOCS[name]
    command.__name__ = name
    return command


for _name in ANALYSES:
    app.command(_name)(_command(_name))
