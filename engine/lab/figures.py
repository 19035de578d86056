"""The figure kinds for papers and how one is made: the table the CLI prints, drawn with
matplotlib (``engine.figures``) into a PDF, SVG, PNG or PGF file with a provenance sidecar.

Light (no matplotlib, no numpy): the CLI builds its ``figure`` sub-commands from
:data:`FIGURES` at start-up; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import BadInput

if TYPE_CHECKING:
    from datasets_io.workspace import Workspace
    from engine.analysis.frames import Analysis
    from engine.lab.tables import Table

# file suffix -> matplotlib's format; vector unless the user asks for PNG
FORMATS = {".pdf": "pdf", ".svg": "svg", ".png": "png", ".pgf": "pgf"}
WIDTHS = ("single", "double")       # a two-column paper's column (3.4 in) and page width (7 in)


@dataclass(frozen=True)
class FigureKind:
    name: str
    analysis: str                    # the registry's table it is drawn from
    help: str
    draw: str                        # its function in engine.figures.draw
    extra: str | None = None         # the table's extra output it is drawn from (None: the table)
    picks_one: bool = False          # drawn for one model x measure (--model, --measure)
    default_measure: str | None = None
    by_measure: bool = False         # drawn for one measure (--measure)


FIGURES: dict[str, FigureKind] = {k.name: k for k in (
    FigureKind("reliability", "ece", "Reliability diagram of one model x measure: the ECE "
               "table's bins (confidence against accuracy, Clopper-Pearson 95% intervals), the "
               "diagonal, and the bin counts below.", "reliability", "bins", picks_one=True,
               default_measure="choice_top1"),
    FigureKind("permutation", "jsd", "The JSD shift's permutation null of one model x measure "
               "as a histogram, with the observed shift as a vertical line.", "permutation",
               "null", picks_one=True, default_measure="choice_entropy"),
    FigureKind("alignment-heatmap", "alignment", "Pearson r of the alignment table, models x "
               "measures (diverging map centred on 0, cells annotated).", "alignment_heatmap"),
    FigureKind("calibration-heatmap", "calibration", "Spearman rho of the calibration table, "
               "models x subjects of one measure (the paper's Figure 3).", "calibration_heatmap",
               default_measure="choice_entropy", by_measure=True),
    FigureKind("ece-heatmap", "ece", "ECE of the ECE table, models x measures (sequential "
               "map from 0).", "ece_heatmap"),
    FigureKind("probe-layers", "probe", "The probe table's cross-validated r by layer per "
               "model, with its shuffled-target 95th percentile (chance) dotted.",
               "probe_layers"),
)}


@dataclass(frozen=True)
class FigureOptions:
    """What the figure itself takes beyond its table's settings."""

    width: str = "single"
    model: str | None = None
    measure: str | None = None
    relative_depth: bool = False     # probe-layers: x = layer / the deepest layer

    def as_dict(self) -> dict[str, Any]:
        return {"width": self.width, "model": self.model, "measure": self.measure,
                "relative_depth": self.relative_depth}


def figure_kind(name: str) -> FigureKind:
    try:
        return FIGURES[name]
    except KeyError:
        raise BadInput(f"unknown figure kind {name!r}",
                       fix=f"use one of {', '.join(FIGURES)}") from None


def figure_format(path: str | Path) -> str:
    """matplotlib's format for ``path`` from its suffix; any other suffix is a BadInput."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise BadInput(f"cannot tell a figure format from {Path(path).name!r}", where=path,
                       fix=f"end the file name with {', '.join(FORMATS)}")
    return FORMATS[suffix]


def check_options(options: FigureOptions) -> None:
    if options.width not in WIDTHS:
        raise BadInput(f"--width must be one of {', '.join(WIDTHS)} (got {options.width!r})")


def make_figure(loaded: Analysis, name: str, settings: Mapping[str, Any], out: str | Path,
                options: FigureOptions, *, argv: list[str]) -> tuple[Path, list[str]]:
    """Figure ``name`` of ``loaded`` (its table computed with ``settings``) written to ``out``
    with ``out.provenance.json``; returns the sidecar and the table's notes."""
    from engine.figures.write import write_figure
    from engine.lab import tables

    kind = figure_kind(name)
    fmt = figure_format(out)
    check_options(options)
    table = tables.compute(loaded, kind.analysis, settings)
    return write_figure(table, kind, Path(out), fmt, options, argv=argv), table.notes


def figures_of(analysis: str) -> list[FigureKind]:
    """The figures a table's tab draws (the ECE tab: the reliability diagram and the heatmap)."""
    return [kind for kind in FIGURES.values() if kind.analysis == analysis]


def export_figure(ws: Workspace, table: Table, *, argv: list[str],
                  path: Path | None = None) -> list[Path]:
    """Every figure of ``table`` (computed already, as the console shows it) as a new PDF in the
    workspace's ``exports/``, or at ``path`` (its suffix the format; where the table draws
    several, each named ``STEM-KIND.SUFFIX``); returns each figure and its sidecar."""
    from engine.figures.write import write_figure
    from engine.lab.exports import new_export_path

    kinds = figures_of(table.spec.name)
    if not kinds:
        raise BadInput(f"no figure is drawn from the {table.spec.name} table",
                       fix="pick the tab of " + ", ".join(k.analysis for k in FIGURES.values()))
    paths: list[Path] = []
    for kind in kinds:
        if path is None:
            out = new_export_path(ws, f"{kind.name}-{table.loaded.dataset.name}", ".pdf")
        else:
            out = path if len(kinds) == 1 else path.with_name(f"{path.stem}-{kind.name}{path.suffix}")
        paths += [out, write_figure(table, kind, out, figure_format(out), FigureOptions(),
                                    argv=argv)]
    return paths
