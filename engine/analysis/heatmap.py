"""The successor study's alignment heatmap (SCIENCE-successor.md §6.1): its reading of alignment.

Each cell is Spearman's rho of the target with a measure for one model, every measure read as an
uncertainty (a certainty negated, the project's sign rule, which is the successor's "flip every
measure named prob"); the target is used as it is, so a share correct gives negative rho. A cell
is shown only where its p < 0.05 / T; T = 4 * M * K by default, M the measure rows and K the
models of the table (the successor's figures: K = 30; the 4 is theirs, of unknown origin,
perhaps their four datasets), or the ``--tests`` given. The wide form is the figure: a row per
measure, a column per model, and the base-versus-instruct column (``engine.analysis.figure``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.analysis.alignment import alignment_table
from engine.analysis.figure import figure, pairs_or_note
from engine.analysis.frames import Analysis
from engine.analysis.tables import TableResult, table_frame
from engine.lab.analyses import default

SUCCESSOR_DATASETS = 4


def threshold(tests: int, n_measures: int, n_models: int) -> float:
    """The p a cell must be under: 0.05 / tests, or 0.05 / (4 M K) for ``tests`` 0."""
    return 0.05 / (tests or SUCCESSOR_DATASETS * n_measures * n_models)


def heatmap_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
                  scale: str = default("scale"), target: str = default("target"),
                  pair: Sequence[str] | None = default("pair"),
                  tests: int = default("tests")) -> TableResult:
    """One row per model x measure: rho, p, the threshold and the cell (rho where p is under it,
    else empty); ``extra['wide']``: the figure's layout."""
    alignment = alignment_table(a, measures, scale, "none", target)
    cells = alignment.table[["model", "measure", "target", "n", "spearman_rho", "spearman_p"]]
    cells = cells.rename(columns={"spearman_rho": "rho", "spearman_p": "p"})
    models = list(dict.fromkeys(cells["model"]))
    row_names = list(dict.fromkeys(cells["measure"]))
    cut = threshold(tests, len(row_names), len(models))
    cells = cells.assign(threshold=cut, cell=cells["rho"].where(cells["p"] < cut))
    table = table_frame(cells.to_dict("records"), "heatmap")
    notes = [*alignment.notes, f"a cell is shown where p < {cut:.3g} (0.05 / "
             f"{tests or f'(4 x {len(row_names)} measures x {len(models)} models)'})"]
    wide = figure(table, "rho", "cell", pairs_or_note(pair, models, notes), ("measure", "target"))
    return TableResult("heatmap", table, {"wide": wide}, notes)
