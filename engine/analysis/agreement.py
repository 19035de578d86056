"""Top-answer agreement with the human majority (SCIENCE.md §4).

``corrected``: a question agrees when the cloze answer is any of its ``t_i`` tied human top answers;
chance ``p0 = mean_i(t_i / n_i)``; exact p from the Poisson-binomial with chances ``t_i / n_i``.
``paper``: only the first top answer (lowest index) counts, ``p0 = 1 / mean_i(n_i)``; the exact
tail then uses the chances ``1 / n_i`` (one top answer per question).
Both: one-sided one-proportion z-test ``z = (phat - p0) / sqrt(p0 (1 - p0) / N)``, ``p = 1 - Phi(z)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import special

from common.errors import BadInput
from engine.analysis.frames import Analysis
from engine.analysis.tables import TableResult, runs, table_frame, with_human
from engine.lab.analyses import default
from engine.measure_names import VARIANTS


@dataclass(frozen=True)
class Agreement:
    n: int
    agreement: float
    chance: float
    z: float
    p_z: float
    p_exact: float
    n_tied: int  # questions with more than one human top answer

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def poisson_binomial_sf(k: int, probs: np.ndarray) -> float:
    """``P(X >= k)`` for X a sum of independent Bernoulli(probs), exactly.

    Dynamic programming over the questions, vectorised over the count axis; questions are folded
    in by equal chance with a binomial pmf convolution (FFT-free and exact for repeated chances)."""
    from scipy import stats  # 0.5 s to import: only where an agreement table is made

    probs = np.asarray(probs, float)
    if k <= 0:
        return 1.0
    if k > probs.size:
        return 0.0
    pmf = np.ones(1)
    values, counts = np.unique(probs, return_counts=True)
    for p, c in zip(values, counts, strict=True):
        block = stats.binom.pmf(np.arange(c + 1), c, p)
        pmf = np.convolve(pmf, block)
    return float(min(1.0, max(0.0, pmf[k:].sum())))


def agreement(cloze: Sequence[int], human_top: Sequence[Sequence[int]],
              n_choices: Sequence[int], variant: str = "corrected") -> Agreement:
    """Agreement of the cloze answers with the human top answers (lists, tie-aware)."""
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant {variant!r}", fix="use corrected or paper")
    cloze = np.asarray(cloze, int)
    n_choices = np.asarray(n_choices, float)
    tops = [list(t) for t in human_top]
    if cloze.size == 0:
        raise BadInput("no questions with human shares to compare with")
    if variant == "paper":
        hits = np.array([c == t[0] for c, t in zip(cloze, tops, strict=True)], float)
        chances = 1.0 / n_choices
        p0 = 1.0 / n_choices.mean()
    else:
        hits = np.array([c in t for c, t in zip(cloze, tops, strict=True)], float)
        chances = np.array([len(t) for t in tops], float) / n_choices
        p0 = float(chances.mean())
    n = int(cloze.size)
    phat = float(hits.mean())
    z = (phat - p0) / np.sqrt(p0 * (1 - p0) / n)
    p_z = float(special.ndtr(-z))     # the standard normal's upper tail, as scipy.stats.norm.sf
    p_exact = poisson_binomial_sf(int(hits.sum()), chances)
    n_tied = sum(len(t) > 1 for t in tops)
    return Agreement(n, phat, float(p0), float(z), p_z, p_exact, int(n_tied))


def agreement_table(a: Analysis, variant: str = default("variant")) -> TableResult:
    """Top-answer agreement per model (``variant`` per SCIENCE.md §4)."""
    rows, notes = [], []
    for model, run in runs(a):
        run = with_human(run)
        res = agreement(run["cloze"], run["human_top"], run["n_choices"], variant)
        rows.append({"model": model, "n": res.n, "agreement": res.agreement, "chance": res.chance,
                     "z": res.z, "p_z": res.p_z, "p_exact": res.p_exact})
        if res.n_tied:
            notes.append(f"{model}: {res.n_tied} of {res.n} questions have tied human top answers"
                         + (" (any counts)" if variant == "corrected" else " (first one counts)"))
    return TableResult("agreement", table_frame(rows, "agreement"), notes=notes)
