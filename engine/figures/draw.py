"""One function per figure kind: ``(table, kind, options) -> Drawn``, drawn from the table's
frame or its extra outputs exactly as the CLI prints them. Artists a test or a reader may look
for carry an SVG id (``gid``): heatmap cells ``cell-I-J`` and their values ``value-I-J``, the
reliability points ``reliability-points`` and bars ``bin-counts``, the observed shift
``observed-shift``, each probe line ``probe-MODEL`` and its chance line ``chance-MODEL``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from common.errors import BadInput
from engine.figures.style import DIVERGING, OKABE_ITO, SEQUENTIAL, WIDTH_IN, new_figure


@dataclass
class Drawn:
    figure: Any
    picked: dict[str, Any] = field(default_factory=dict)   # the model/measure drawn


# ------------------------------------------------------------------ picking rows

def rows_of(frame: pd.DataFrame, table: Any, what: str) -> pd.DataFrame:
    """``frame`` if it has rows; otherwise a BadInput saying what would give some."""
    if frame.empty:
        notes = "; ".join(table.result.notes[-2:]) or "the runs give no rows"
        raise BadInput(f"the {table.spec.name} table has no rows to draw {what} from ({notes})",
                       fix="pick other runs or settings (`alignuq analyze "
                           f"{table.spec.name} --help`)")
    return frame


def pick(frame: pd.DataFrame, column: str, wanted: str | None, default: str | None) -> str:
    """The value of ``column`` to draw: ``wanted``, else ``default`` where the table has it,
    else its first value. A measure is also found by its bare name (``choice_top1`` finds
    ``-choice_top1``, a negated certainty, and ``conventional:choice_top1``, an ECE bin's)."""
    values = list(dict.fromkeys(str(v) for v in frame[column]))
    name = wanted or default
    if name:
        found = [v for v in values if v == name] or [v for v in values if bare(v) == bare(name)]
        if found:
            return found[0]
        if wanted:
            raise BadInput(f"the table has no {column} {wanted!r}",
                           fix=f"use --{column} with one of {', '.join(values)}")
    return values[0]


def bare(measure: str) -> str:
    """A measure's name without its sign and an ECE bin's method (``conventional:``)."""
    return measure.split(":")[-1].lstrip("-")


def pick_model_measure(frame: pd.DataFrame, kind: Any, options: Any) -> dict[str, str]:
    model = pick(frame, "model", options.model, None)
    measures = frame[frame["model"].astype(str) == model]
    return {"model": model, "measure": pick(measures, "measure", options.measure,
                                            kind.default_measure)}


def select(frame: pd.DataFrame, picked: dict[str, str]) -> pd.DataFrame:
    keep = np.logical_and.reduce([frame[col].astype(str) == value
                                  for col, value in picked.items()])
    return frame[keep]


# ------------------------------------------------------------------ the kinds

def reliability(table: Any, kind: Any, options: Any) -> Drawn:
    bins = rows_of(table.frame(kind.extra), table, "a reliability diagram")
    picked = pick_model_measure(bins, kind, options)
    used = select(bins, picked)
    used = used[used["count"] > 0]
    fig, (top, bottom) = new_figure(options.width, 1.15 if options.width == "single" else 0.55,
                                    nrows=2, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    top.plot([0, 1], [0, 1], ls="--", color="0.5", lw=0.8, label="perfect calibration")
    errors = np.vstack([used["acc"] - used["acc_low"], used["acc_high"] - used["acc"]])
    top.errorbar(used["conf"], used["acc"], yerr=errors, fmt="none", ecolor=OKABE_ITO[0],
                 elinewidth=0.6, capsize=1.5)
    points, = top.plot(used["conf"], used["acc"], "o-", color=OKABE_ITO[0], ms=3,
                       label="bins (95% CI)")
    points.set_gid("reliability-points")
    ece = ece_of(table.frame(), picked)
    title = f"{picked['model']} | {picked['measure']}"
    top.set_title(title + (f" | ECE {float(ece.iloc[0]):.3f}" if len(ece) else ""))
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02))
    top.legend(loc="upper left", frameon=False)
    # a standardised measure's bins are equal-width in z, not in confidence: bars of one width
    bars = bottom.bar(used["conf"], used["count"], width=0.8 / table.settings["bins"],
                      color=OKABE_ITO[5])
    for number, bar in enumerate(bars):
        bar.set_gid(f"bin-count-{number}")
    bottom.set(xlabel="confidence", ylabel="count")
    return Drawn(fig, picked)


def ece_of(frame: pd.DataFrame, picked: dict[str, str]) -> pd.Series:
    """The ECE table's value for the model x measure of a bin's name (``method:measure``)."""
    method, _, measure = picked["measure"].rpartition(":")
    rows = select(frame, {"model": picked["model"], "measure": measure})
    return rows[rows["method"] == method]["ece"] if method else rows["ece"]


def permutation(table: Any, kind: Any, options: Any) -> Drawn:
    null = rows_of(table.frame(kind.extra), table, "a permutation histogram")
    picked = pick_model_measure(null, kind, options)
    samples = select(null, picked)["null"].astype(float)
    row = select(table.frame(), picked).iloc[0]
    fig, ax = new_figure(options.width, 0.7)
    ax.hist(samples, bins=30, color=OKABE_ITO[5], edgecolor="white", lw=0.3,
            label=f"null ({len(samples)} permutations)")
    line = ax.axvline(float(row["shift"]), color=OKABE_ITO[3], lw=1.2,
                      label=f"observed {float(row['shift']):.3f} (p = {float(row['p']):.3g})")
    line.set_gid("observed-shift")
    ax.set(xlabel="JSD shift", ylabel="permutations",
           title=f"{picked['model']} | {picked['measure']}")
    ax.legend(frameon=False)
    return Drawn(fig, picked)


def heatmap(values: pd.DataFrame, options: Any, *, cmap: str, limits: tuple[float, float],
            label: str, title: str) -> Any:
    """Rows x columns of ``values`` as annotated cells (NaN: blank, no value)."""
    n_rows, n_cols = values.shape
    fig, ax = new_figure(options.width, (1.0 + 0.22 * n_rows) / WIDTH_IN[options.width])
    norm = Normalize(*limits)
    colours = colormaps[cmap]
    for i, j in np.ndindex(n_rows, n_cols):
        value = float(values.iat[i, j])
        colour = colours(norm(value)) if np.isfinite(value) else (1, 1, 1, 1)
        cell = Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", lw=0.5)
        cell.set_gid(f"cell-{i}-{j}")
        ax.add_patch(cell)
        if np.isfinite(value):
            text = ax.text(j + 0.5, i + 0.5, f"{value:.2f}", ha="center", va="center",
                           fontsize=7, color=_ink(colour))
            text.set_gid(f"value-{i}-{j}")
    ax.set(xlim=(0, n_cols), ylim=(n_rows, 0), title=title)
    ax.set_xticks(np.arange(n_cols) + 0.5, [str(c) for c in values.columns], rotation=40,
                  ha="right")
    ax.set_yticks(np.arange(n_rows) + 0.5, [str(r) for r in values.index])
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=colours), ax=ax, label=label, fraction=0.05,
                 pad=0.02)
    return fig


def _ink(colour: tuple[float, ...]) -> str:
    """Black on light cells, white on dark ones (relative luminance)."""
    r, g, b = colour[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def grid(frame: pd.DataFrame, columns: str, value: str) -> pd.DataFrame:
    """Models down, ``columns`` across, in the table's order."""
    out = frame.pivot_table(index="model", columns=columns, values=value, sort=False,
                            aggfunc="first", dropna=False)
    return out.loc[list(dict.fromkeys(frame["model"])), list(dict.fromkeys(frame[columns]))]


def alignment_heatmap(table: Any, kind: Any, options: Any) -> Drawn:
    frame = rows_of(table.frame(), table, "a heatmap")
    target = str(frame["target"].iloc[0])
    fig = heatmap(grid(frame, "measure", "r"), options, cmap=DIVERGING, limits=(-1, 1),
                  label="Pearson r", title=f"alignment with {target}")
    return Drawn(fig, {"target": target})


def calibration_heatmap(table: Any, kind: Any, options: Any) -> Drawn:
    frame = rows_of(table.frame(), table, "a heatmap")
    measure = pick(frame, "measure", options.measure, kind.default_measure)
    used = frame[frame["measure"].astype(str) == measure]
    fig = heatmap(grid(used, "subject", "spearman_rho"), options, cmap=DIVERGING,
                  limits=(-1, 1), label="Spearman rho", title=f"calibration | {measure}")
    return Drawn(fig, {"measure": measure})


def ece_heatmap(table: Any, kind: Any, options: Any) -> Drawn:
    frame = rows_of(table.frame(), table, "a heatmap")
    values = grid(frame, "measure", "ece")
    top = float(np.nanmax(values.to_numpy(dtype=float))) if values.size else 1.0
    fig = heatmap(values, options, cmap=SEQUENTIAL, limits=(0, max(top, 1e-9)), label="ECE",
                  title="ECE (choice_top1: conventional; others standardised)")
    return Drawn(fig, {})


def probe_layers(table: Any, kind: Any, options: Any) -> Drawn:
    """Each run's r by layer in colour, chance dotted; the released probes (``--reference``) as
    thin grey lines under them, one legend entry for all."""
    from engine.analysis.probe_reference import SUFFIX

    frame = rows_of(table.frame(), table, "probe lines")
    fig, ax = new_figure(options.width, 0.7)
    released = frame["model"].astype(str).str.endswith(SUFFIX)
    for number, (model, rows) in enumerate(frame[~released].groupby("model", sort=False)):
        colour = OKABE_ITO[number % len(OKABE_ITO)]
        x = _depth(rows, options)
        line, = ax.plot(x, rows["r"], "o-", ms=2.5, color=colour, label=str(model), zorder=3)
        line.set_gid(f"probe-{model}")
        chance, = ax.plot(x, rows["null_95"], ":", color=colour, lw=0.9, zorder=3)
        chance.set_gid(f"chance-{model}")
    n_released = frame.loc[released, "model"].nunique()
    for number, (model, rows) in enumerate(frame[released].groupby("model", sort=False)):
        line, = ax.plot(_depth(rows, options), rows["r"], "-", color="0.75", lw=0.6, zorder=1,
                        label=f"released probes ({n_released} models)" if number == 0 else None)
        line.set_gid(f"released-{model}")
    ax.axhline(0, color="0.7", lw=0.5)
    target = str(frame["target"].iloc[0])
    ax.set(xlabel="relative depth" if options.relative_depth else "layer",
           ylabel=f"cross-validated r ({target})", title="probe by layer (dotted: chance)")
    if not options.relative_depth:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, ncols=2 if ax.get_legend_handles_labels()[1][4:] else 1)
    return Drawn(fig, {"target": target})


def _depth(rows: Any, options: Any) -> Any:
    layers = rows["layer"].astype(float)
    return layers / layers.max() if options.relative_depth else layers
