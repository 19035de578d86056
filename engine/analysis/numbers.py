"""How a number is shown to a reader (human, Markdown and LaTeX tables, the console), by what its
column means.

- p-values (``p``, ``p_z``, ``p_exact``, ``spearman_p``, ``p_adj``: any ``p``, ``p_*`` or ``*_p``
  column): 3 decimals, and ``<0.001`` below that (LaTeX: ``$1.6\\times10^{-4}$``).
- p thresholds (``threshold``, a Bonferroni cut such as 0.05 / 2040): 3 significant digits,
  ``2.45e-05`` (LaTeX: ``$2.45\\times10^{-5}$``), since 3 decimals would show them as 0.000.
- counts (``n``, ``n_*``, ``bins``, ``count``, ``seed``, ...): integers, even when a missing value
  made the column float.
- every other number (r, rho, shifts, ECE, agreement, chance, z, mean, std, conf, acc, bin edges,
  null samples): 3 decimals, never scientific notation; ``-0.000`` shows as ``0.000``.

CSV, JSON and Parquet never go through here: they keep every bit of every float.
"""

from __future__ import annotations

import math
import numbers

DECIMALS = 3
P_FLOOR = 10.0 ** -DECIMALS
COUNT_COLUMNS = frozenset({"n", "bins", "bin", "count", "permutations", "permutation", "seed",
                           "tied_pairs"})


def is_p_column(column: object) -> bool:
    name = str(column)
    return name == "p" or name.startswith("p_") or name.endswith("_p")


def is_count_column(column: object) -> bool:
    name = str(column)
    return name in COUNT_COLUMNS or name.startswith("n_")


def _fixed(value: float) -> str:
    """``value`` with :data:`DECIMALS` decimals; a value that rounds to zero has no sign."""
    text = f"{value:.{DECIMALS}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _p_value(value: float, *, latex: bool) -> str:
    """3 decimals; under 0.001 ``<0.001``, or in LaTeX the value in math (2 significant digits).
    A p of exactly 0 (an underflow, or no null sample as large) is ``<0.001`` in both."""
    if value >= P_FLOOR:
        return _fixed(value)
    if not latex:
        return f"<{P_FLOOR:.{DECIMALS}f}"
    if value <= 0:
        return f"$<{P_FLOOR:.{DECIMALS}f}$"
    return _latex_power(f"{value:.1e}")


def _significant(value: float, *, latex: bool) -> str:
    text = f"{value:.3g}"
    return _latex_power(text) if latex and "e" in text else text


def _latex_power(text: str) -> str:
    """``1.6e-04`` as LaTeX math: ``$1.6\\times10^{-4}$``."""
    mantissa, exponent = text.split("e")
    return f"${mantissa}\\times10^{{{int(exponent)}}}$"


def format_number(value: numbers.Real, column: object = "", *, latex: bool = False) -> str:
    """``value`` (a number, not a bool) of column ``column`` as a reader sees it; ``""`` for NaN.
    With ``latex``, the text is LaTeX source (a small p in math mode), not to be escaped."""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    v = float(value)
    if math.isnan(v):
        return ""
    if is_p_column(column):
        return _p_value(v, latex=latex)
    if str(column) == "threshold":
        return _significant(v, latex=latex)
    if is_count_column(column) and v.is_integer():
        return str(int(v))
    return _fixed(v)
