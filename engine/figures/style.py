"""Sizes, fonts and palettes of the figures: a two-column paper's widths, 8-9 pt text, the
Okabe-Ito palette for lines, viridis for magnitudes and RdBu (centred on 0) for signed values.
Text stays text (SVG, Type 42 fonts in PDF) so that a journal can edit it."""

from __future__ import annotations

import shutil
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

WIDTH_IN = {"single": 3.4, "double": 7.0}
# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"      # ColorBrewer RdBu, blue negative, red positive: colour-blind safe
RC = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "legend.fontsize": 7, "figure.titlesize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "lines.linewidth": 1.0, "svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42,
    "svg.hashsalt": "alignuq", "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pgf.rcfonts": False,
}
PNG_DPI = 300


def paper_style() -> Any:
    """The context every figure is drawn and saved in (fonts are fixed when text is made)."""
    return plt.rc_context(RC)


def new_figure(width: str, aspect: float, **subplots: Any) -> tuple[Any, Any]:
    """A figure ``width`` (single or double column) wide and ``aspect`` x that high."""
    inches = WIDTH_IN[width]
    return plt.subplots(figsize=(inches, inches * aspect), **subplots)


def check_format(fmt: str) -> None:
    """PGF measures its text with LaTeX: without one installed it is a BadInput, before drawing."""
    from common.errors import BadInput

    tex = str(RC.get("pgf.texsystem", matplotlib.rcParams["pgf.texsystem"]))
    if fmt == "pgf" and shutil.which(tex) is None:
        raise BadInput(f"a .pgf figure needs {tex} (LaTeX) to measure its text, and {tex} is "
                       "not installed", fix="install a TeX distribution, or write .pdf or .svg "
                       "(both keep the text as text)")


def save(fig: Any, path: Any, fmt: str) -> None:
    """Save ``fig`` as ``fmt`` (PNG at 300 dpi; no creation date, so that files repeat)."""
    metadata = {"png": {"Software": None}, "svg": {"Date": None},
                "pdf": {"CreationDate": None}}.get(fmt)
    try:
        fig.savefig(path, format=fmt, dpi=PNG_DPI, metadata=metadata)
    finally:
        plt.close(fig)
