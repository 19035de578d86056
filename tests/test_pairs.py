"""Base versus instruct (engine.analysis.pairs): pairing by name, the rank-biserial r and the
Wilcoxon p against independent computations (a loop over pairs of differences, and the exact
null by enumerating every sign assignment)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from common.errors import BadInput
from engine.analysis.pairing import detect_pairs, given_pairs, rank_biserial, wilcoxon_p


def test_pairs_by_name_across_naming_habits() -> None:
    models = ["SmolLM2-135M", "SmolLM2-135M-Instruct", "gemma-3-270m", "gemma-3-270m-it",
              "Llama-2-7b-hf", "Llama-2-7b-chat-hf", "Mistral-7B-v0.1", "Mistral-7B-Instruct-v0.1",
              "Falcon3_1B", "Falcon3_1B_Ins", "Qwen2-0.5B-Instruct"]          # no base: unpaired
    assert detect_pairs(models) == sorted([
        ("SmolLM2-135M", "SmolLM2-135M-Instruct"), ("gemma-3-270m", "gemma-3-270m-it"),
        ("Llama-2-7b-hf", "Llama-2-7b-chat-hf"), ("Mistral-7B-v0.1", "Mistral-7B-Instruct-v0.1"),
        ("Falcon3_1B", "Falcon3_1B_Ins")])


def test_ambiguous_or_unknown_pairs_are_refused() -> None:
    with pytest.raises(BadInput, match="cannot tell the pairs of m, M, m-it"):
        detect_pairs(["m", "M", "m-it"])
    with pytest.raises(BadInput, match="no run of 'z'"):
        given_pairs(["a=z"], ["a", "b"])
    with pytest.raises(BadInput, match="bad --pair 'a'"):
        given_pairs(["a"], ["a"])
    assert given_pairs(["a = b"], ["a", "b"]) == [("a", "b")]


def _rank_biserial_by_hand(d: list[float]) -> float:
    nonzero = [x for x in d if x != 0]
    absolute = sorted(abs(x) for x in nonzero)
    def mean_rank(v: float) -> float:      # 1-based, ties averaged
        at = [i + 1 for i, a in enumerate(absolute) if a == v]
        return sum(at) / len(at)
    plus = sum(mean_rank(abs(x)) for x in nonzero if x > 0)
    minus = sum(mean_rank(abs(x)) for x in nonzero if x < 0)
    n = len(nonzero)
    return (plus - minus) / (n * (n + 1) / 2)


def _exact_p(d: list[float]) -> float:
    """Two-sided exact p of W+ over all 2^n sign assignments (no ties, no zeros)."""
    n = len(d)
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    w = ranks[np.asarray(d) > 0].sum()
    null = [sum(r for r, s in zip(ranks, signs, strict=True) if s)
            for signs in itertools.product((0, 1), repeat=n)]
    mean = n * (n + 1) / 4
    return min(1.0, float(np.mean([abs(x - mean) >= abs(w - mean) for x in null])))


@pytest.mark.parametrize("seed", range(5))
def test_statistics_match_independent_computations(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = rng.normal(0.1, 0.2, 12)
    assert rank_biserial(d) == pytest.approx(_rank_biserial_by_hand(list(d)), abs=1e-12)
    assert wilcoxon_p(d) == pytest.approx(_exact_p(list(d)), rel=1e-9)
    with_ties_and_zeros = np.array([0.0, 0.1, -0.1, 0.2, 0.2, -0.3, 0.0, 0.4])
    assert rank_biserial(with_ties_and_zeros) == pytest.approx(
        _rank_biserial_by_hand(list(with_ties_and_zeros)), abs=1e-12)
    assert np.isnan(rank_biserial(np.zeros(3))) and np.isnan(wilcoxon_p(np.zeros(3)))
