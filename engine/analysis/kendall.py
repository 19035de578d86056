"""Normalised Kendall tau distance between the model's and the humans' answer orders (SCIENCE.md §4).

Per question: ``K = discordant pairs / (n (n - 1) / 2)``; a pair tied in either order (exactly
equal probabilities or shares) counts as neither concordant nor discordant, stays in the
denominator, and is counted in ``tied_pairs``. Without ties ``K = (1 - tau) / 2``. Only this
corrected form is offered (the authors' code ranked by argsort order; SCIENCE.md §7 fault 2).
Vectorised over the questions that share a choice count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from engine.analysis.frames import Analysis
from engine.analysis.tables import TableResult, runs, table_frame, with_human


@dataclass(frozen=True)
class KendallSummary:
    n: int
    mean: float
    std: float          # population std over questions (ddof 0)
    tied_pairs: int     # pairs tied in q or in h, summed over questions

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def kendall_block(q: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances and tied-pair counts for questions stacked as rows of ``q`` and ``h`` (m x n)."""
    q = np.asarray(q, float)
    h = np.asarray(h, float)
    n = q.shape[1]
    i, j = np.triu_indices(n, k=1)
    prod = np.sign(q[:, i] - q[:, j]) * np.sign(h[:, i] - h[:, j])
    discordant = (prod < 0).sum(axis=1)
    tied = (prod == 0).sum(axis=1)
    return discordant / (n * (n - 1) / 2), tied


def kendall_distances(label_probs: Sequence[Sequence[float]],
                      human_share: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-question distance and tied pairs, in input order (questions grouped by n internally)."""
    sizes = np.array([len(x) for x in label_probs])
    dist = np.full(sizes.size, np.nan)
    tied = np.zeros(sizes.size, int)
    for n in np.unique(sizes):
        idx = np.flatnonzero(sizes == n)
        if n < 2:
            continue
        q = np.array([label_probs[i] for i in idx], float)
        h = np.array([human_share[i] for i in idx], float)
        if h.shape != q.shape:
            raise ValueError("label_probs and human_share lengths differ")
        dist[idx], tied[idx] = kendall_block(q, h)
    return dist, tied


def kendall_summary(label_probs: Sequence[Sequence[float]],
                    human_share: Sequence[Sequence[float]]) -> KendallSummary:
    dist, tied = kendall_distances(label_probs, human_share)
    ok = np.isfinite(dist)
    return KendallSummary(int(ok.sum()), float(dist[ok].mean()) if ok.any() else float("nan"),
                          float(dist[ok].std()) if ok.any() else float("nan"), int(tied[ok].sum()))


def kendall_table(a: Analysis) -> TableResult:
    """Normalised Kendall tau distance between q and h per model (mean, std, tied pairs)."""
    rows = []
    for model, run in runs(a):
        run = with_human(run)
        s = kendall_summary(list(run["label_probs"]), list(run["human_share"]))
        rows.append({"model": model, "n": s.n, "mean": s.mean, "std": s.std,
                     "tied_pairs": s.tied_pairs})
    return TableResult("kendall", table_frame(rows, "kendall"))
