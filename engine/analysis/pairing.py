"""Base and instruct models paired (SCIENCE-successor.md §6.1, "IFT pairs"), and the
matched-pairs statistics of their differences: the rank-biserial r and the Wilcoxon p.

Models are paired by name (the instruct model's name is the base's with an ``Instruct``/``Ins``/
``it``/``Chat`` part) or as given (``BASE=INSTRUCT``). Over differences ``d_k = v(base_k) -
v(instruct_k)``: ``r = (W+ - W-) / (n (n + 1) / 2)`` over the non-zero differences (ranks of |d|,
ties averaged), positive where the base models' values are larger; scipy's two-sided Wilcoxon
signed-rank p (exact where scipy can be: no ties, no zeros, n <= 50).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import stats

from common.errors import BadInput
from engine.analysis.stats_util import rank

INSTRUCT_PARTS = {"instruct", "ins", "it", "chat"}
_SPLIT = re.compile(r"[-_ ]+")


def base_key(model: str) -> tuple[str, bool]:
    """The name without its instruct part (lower case), and whether it had one."""
    parts = _SPLIT.split(model.lower())
    kept = [p for p in parts if p not in INSTRUCT_PARTS]
    return "-".join(kept), len(kept) < len(parts)


def detect_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    """``(base, instruct)`` for every instruct model whose base is among ``models``."""
    bases: dict[str, list[str]] = {}
    instructs: dict[str, list[str]] = {}
    for model in models:
        key, is_instruct = base_key(model)
        (instructs if is_instruct else bases).setdefault(key, []).append(model)
    pairs = []
    for key, ins in instructs.items():
        if key not in bases:
            continue
        if len(ins) > 1 or len(bases[key]) > 1:
            raise BadInput(f"cannot tell the pairs of {', '.join(bases[key] + ins)} by name",
                           fix="give them with --pair BASE=INSTRUCT")
        pairs.append((bases[key][0], ins[0]))
    return sorted(pairs)


def given_pairs(items: Sequence[str], models: Sequence[str]) -> list[tuple[str, str]]:
    """``BASE=INSTRUCT`` items, each model one of ``models``."""
    pairs = []
    for item in items:
        base, sep, instruct = (s.strip() for s in item.partition("="))
        if not sep or not base or not instruct:
            raise BadInput(f"bad --pair {item!r}", fix="write it as BASE=INSTRUCT")
        unknown = [m for m in (base, instruct) if m not in models]
        if unknown:
            raise BadInput(f"--pair {item!r}: no run of {', '.join(map(repr, unknown))}",
                           fix=f"the models are: {', '.join(models)}")
        pairs.append((base, instruct))
    return pairs


def rank_biserial(d: np.ndarray) -> float:
    """``(W+ - W-) / (n (n + 1) / 2)`` over the non-zero differences (NaN when none)."""
    d = d[d != 0]
    if not d.size:
        return float("nan")
    ranks = rank(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / (d.size * (d.size + 1) / 2))


def wilcoxon_p(d: np.ndarray) -> float:
    """scipy's two-sided Wilcoxon signed-rank p of ``d`` (zeros dropped; NaN without any)."""
    if not np.any(d != 0):
        return float("nan")
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
