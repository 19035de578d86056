"""The measures of the label probabilities alone (SCIENCE.md §2), torch-free: the runner takes
them for each question, and importing released results derives them from the label
probabilities a file recorded."""

from __future__ import annotations

import math

import numpy as np


def choice_measures(q: np.ndarray) -> dict[str, float]:
    """choice_entropy, choice_top1 and choice_margin of the renormalised label probabilities."""
    mass = float(q.sum())
    if not mass > 0:
        return {"choice_entropy": math.nan, "choice_top1": math.nan, "choice_margin": math.nan}
    r = q / mass
    nz = r[r > 0]
    srt = np.sort(r)[::-1]
    return {"choice_entropy": float(-(nz * np.log(nz)).sum()),
            "choice_top1": float(srt[0]),
            "choice_margin": float(srt[0] - srt[1]) if len(srt) > 1 else float(srt[0])}
