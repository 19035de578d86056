"""SCIENCE.md §2 measures: the engine's one-sort computation against direct numpy definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine import measures as measures_mod
from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP, measure_names
from engine.measures import TOPP_TOL, compute_measures, descending_head


def _H(x: np.ndarray) -> float:
    """Entropy (nats) of x renormalised, over x > 0."""
    x = np.asarray(x, dtype=np.float64)
    x = x[x > 0] / x[x > 0].sum()
    return float(-(x * np.log(x)).sum())


def reference_measures(p: np.ndarray, label_ids: list[list[int]], n: int, *,
                       topk=DEFAULT_TOPK, topp=DEFAULT_TOPP, variant: str = "corrected") -> dict:
    """Every measure straight from its definition, on a full next-token distribution ``p``."""
    p = np.asarray(p, dtype=np.float64)
    s = np.sort(p)[::-1]
    c = np.cumsum(s)
    out: dict[str, float] = {"top1_prob": s[0], "total_entropy": _H(p)}
    for k in topk:
        out[f"topk_entropy@{k}"] = _H(s[:k])
    for pv in topp:
        key = f"{pv:g}"
        if variant == "paper":
            size = int(sum(1 for cj in c if cj <= pv + TOPP_TOL))
            ent = math.nan if size == 0 else 0.0 if size == 1 else _H(s[:size])
        else:
            size = next(j + 1 for j, cj in enumerate(c) if cj >= pv - TOPP_TOL)
            ent = 0.0 if size == 1 else _H(s[:size])
        out[f"topp_size@{key}"] = float(size)
        out[f"topp_entropy@{key}"] = ent
    q = np.array([sum(p[t] for t in set(label_ids[i])) for i in range(n)])
    r = q / q.sum()
    srt = np.sort(r)[::-1]
    out.update(choice_entropy=_H(q), choice_top1=srt[0], choice_margin=srt[0] - srt[1])
    return {"measures": out, "label_probs": q, "cloze": int(np.argmax(q)),
            "choice_mass": float(q.sum()),
            "top_ids": np.argsort(-p, kind="stable")[:100]}


def assert_row_matches(row_measures: dict, ref: dict, *, atol: float = 1e-5, exact_sizes=True) -> None:
    for name, want in ref["measures"].items():
        got = row_measures[name]
        got = math.nan if got is None else got
        if math.isnan(want):
            assert math.isnan(got), (name, got, want)
        elif name.startswith("topp_size") and exact_sizes:
            assert got == want, (name, got, want)
        else:
            assert got == pytest.approx(want, abs=atol, rel=1e-5), (name, got, want)


def _run(probs: list[float], label_ids=None, n: int = 2, variant="corrected", topk=(1, 2, 5),
         topp=(0.5, 0.75, 0.95)):
    logits = torch.log(torch.tensor([probs], dtype=torch.float64)).float()
    label_ids = label_ids or [[0], [1]]
    return compute_measures(logits, label_ids, [n], topk=topk, topp=topp, variant=variant)[0]


def test_top1_above_p_corrected_is_one_token_with_zero_entropy() -> None:
    row = _run([0.96, 0.02, 0.02], topp=(0.95,))
    assert row.measures["topp_size@0.95"] == 1
    assert row.measures["topp_entropy@0.95"] == 0.0


def test_top1_above_p_paper_is_an_empty_set_stored_as_nan() -> None:
    row = _run([0.96, 0.02, 0.02], topp=(0.95, 0.5), variant="paper")
    assert row.measures["topp_size@0.95"] == 0
    assert math.isnan(row.measures["topp_entropy@0.95"])
    assert row.measures["topp_size@0.5"] == 0


def test_cumulative_sum_equal_to_p_counts_as_reaching_it() -> None:
    # c = 0.5, 0.75, 1.0: at p = 0.75 the nucleus is the first two tokens in both variants
    probs = [0.5, 0.25, 0.25]
    for variant in ("corrected", "paper"):
        row = _run(probs, variant=variant, topp=(0.75, 0.5))
        assert row.measures["topp_size@0.75"] == 2, variant
        assert row.measures["topp_entropy@0.75"] == pytest.approx(_H(np.array([0.5, 0.25])))
        assert row.measures["topp_size@0.5"] == 1
        assert row.measures["topp_entropy@0.5"] == 0.0


def test_decimal_boundaries_that_float_rounding_would_miss() -> None:
    # 0.6 + 0.3 is 0.8999999999999999 in float64: mathematically it reaches p = 0.9
    probs = [0.6, 0.3, 0.1]
    assert _run(probs, topp=(0.9,)).measures["topp_size@0.9"] == 2
    assert _run(probs, topp=(0.9,), variant="paper").measures["topp_size@0.9"] == 2


def test_paper_size_counts_tokens_below_p_and_entropy_is_normalisable() -> None:
    probs = [0.4, 0.3, 0.2, 0.1]
    row = _run(probs, topp=(0.95, 0.5), variant="paper")
    assert row.measures["topp_size@0.95"] == 3     # 0.4, 0.7, 0.9 <= 0.95
    assert row.measures["topp_entropy@0.95"] == pytest.approx(_H(np.array(probs[:3])))
    assert row.measures["topp_size@0.5"] == 1      # only 0.4 <= 0.5
    assert row.measures["topp_entropy@0.5"] == 0.0
    corrected = _run(probs, topp=(0.95, 0.5))
    assert corrected.measures["topp_size@0.95"] == 4
    assert corrected.measures["topp_size@0.5"] == 2


def test_topk_larger_than_vocabulary_uses_the_whole_distribution() -> None:
    probs = [0.7, 0.2, 0.1]
    row = _run(probs, topk=(1, 2, 100))
    assert row.measures["topk_entropy@1"] == 0.0
    assert row.measures["topk_entropy@2"] == pytest.approx(_H(np.array([0.7, 0.2])))
    assert row.measures["topk_entropy@100"] == pytest.approx(_H(np.array(probs)), abs=1e-6)
    assert row.measures["total_entropy"] == pytest.approx(_H(np.array(probs)), abs=1e-6)
    assert len(row.top_ids) == 3


def test_zero_probability_tokens_give_finite_entropies() -> None:
    logits = torch.tensor([[2.0, 1.0, -math.inf, -math.inf, 0.0]])
    row = compute_measures(logits, [[0], [1]], [2], topk=(5,), topp=(0.95,))[0]
    p = torch.softmax(logits, -1)[0].numpy()
    assert row.measures["total_entropy"] == pytest.approx(_H(p), abs=1e-6)
    assert row.measures["topk_entropy@5"] == pytest.approx(_H(p), abs=1e-6)


def test_ties_sort_lowest_token_id_first_and_cloze_takes_the_lowest_label() -> None:
    probs = [0.1, 0.3, 0.3, 0.3]
    row = _run(probs, label_ids=[[1], [2], [3]], n=3)
    assert row.top_ids.tolist()[:3] == [1, 2, 3]
    assert row.cloze == 0
    assert row.measures["choice_margin"] == pytest.approx(0.0, abs=1e-7)
    assert row.measures["choice_top1"] == pytest.approx(1 / 3)
    assert row.measures["choice_entropy"] == pytest.approx(math.log(3))


def test_label_probability_sums_spellings_and_ignores_labels_beyond_n() -> None:
    probs = [0.1, 0.2, 0.3, 0.15, 0.25]
    row = _run(probs, label_ids=[[0, 1], [3, 4], [2]], n=2)
    assert row.label_probs.tolist() == pytest.approx([0.3, 0.4])
    assert row.choice_mass == pytest.approx(0.7)
    assert row.cloze == 1


def test_choice_measures_when_no_label_has_mass() -> None:
    logits = torch.tensor([[0.0, -math.inf, -math.inf]])
    row = compute_measures(logits, [[1], [2]], [2], topk=(5,), topp=(0.5,))[0]
    assert row.choice_mass == 0.0
    assert math.isnan(row.measures["choice_entropy"])


@pytest.mark.parametrize("variant", ["corrected", "paper"])
def test_random_distributions_match_the_direct_definitions(variant: str) -> None:
    gen = torch.Generator().manual_seed(7)
    V, B = 3000, 6
    scales = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]).unsqueeze(1)
    logits = torch.randn(B, V, generator=gen) * scales
    label_ids = [[5, 17], [40], [99, 100], [2999]]
    rows = compute_measures(logits, label_ids, [4, 3, 2, 4, 4, 3], topk=DEFAULT_TOPK,
                            topp=DEFAULT_TOPP, variant=variant)
    for b, row in enumerate(rows):
        p = torch.softmax(logits[b].double(), -1).numpy()
        ref = reference_measures(p, label_ids, [4, 3, 2, 4, 4, 3][b], variant=variant)
        assert set(row.measures) == set(measure_names())
        assert_row_matches(row.measures, ref)
        assert row.cloze == ref["cloze"]
        assert row.label_probs == pytest.approx(ref["label_probs"], abs=1e-7)
        assert row.top_ids.tolist() == ref["top_ids"].tolist()
        assert row.top_probs == pytest.approx(np.sort(p)[::-1][:100], abs=1e-6)


def peaked_logits_with_ties(V: int = 5000) -> torch.Tensor:
    """Rows whose top-p nucleus is small (as a language model's usually is), with tied values
    inside the leading columns and in the flat tail."""
    gen = torch.Generator().manual_seed(11)
    logits = torch.randn(4, V, generator=gen) * torch.tensor([[6.0], [10.0], [16.0], [24.0]])
    logits[:, 100:110] = logits[:, 50:51]     # ten ties with token 50 somewhere in the head
    logits[:, 3000:] = logits[:, 2999:3000]   # a long flat tail of equal values
    return logits


@pytest.mark.parametrize("variant", ["corrected", "paper"])
def test_sorting_only_the_head_gives_the_numbers_of_the_full_sort(variant, monkeypatch) -> None:
    logits = peaked_logits_with_ties()
    kw = {"topk": DEFAULT_TOPK, "topp": DEFAULT_TOPP, "variant": variant}
    p = torch.softmax(logits.float(), -1)
    head_vals, _ = descending_head(p, 100, max(DEFAULT_TOPP) + TOPP_TOL)
    assert head_vals.shape[1] == measures_mod.HEAD < logits.shape[1]  # the head path is taken
    fast = compute_measures(logits, [[50], [101], [7]], [3] * 4, **kw)
    monkeypatch.setattr(measures_mod, "HEAD", logits.shape[1])
    full = compute_measures(logits, [[50], [101], [7]], [3] * 4, **kw)
    for a, b in zip(fast, full, strict=True):
        assert a.measures.keys() == b.measures.keys()
        assert all(a.measures[k] == b.measures[k] or math.isnan(a.measures[k]) and math.isnan(b.measures[k])
                   for k in a.measures)
        assert np.array_equal(a.top_ids, b.top_ids) and np.array_equal(a.top_probs, b.top_probs)
    for b, row in enumerate(fast):  # and both agree with the definitions
        ref = reference_measures(torch.softmax(logits[b].double(), -1).numpy(), [[50], [101], [7]],
                                 3, variant=variant)
        assert_row_matches(row.measures, ref)
        assert row.top_ids.tolist() == ref["top_ids"].tolist()


def test_the_full_sort_is_used_when_the_head_cannot_answer() -> None:
    p = torch.softmax(peaked_logits_with_ties(), -1)
    V = p.shape[1]
    # a flat row: its 0.95 nucleus is wider than the head
    flat = torch.softmax(torch.randn(1, V, generator=torch.Generator().manual_seed(3)) * 0.1, -1)
    vals, ids = descending_head(torch.cat([p, flat]), 100, 0.95 + TOPP_TOL)
    assert vals.shape[1] == V
    assert torch.equal(ids, torch.sort(torch.cat([p, flat]), dim=-1, descending=True, stable=True)[1])
    # a tie from inside the first 100 to the head's edge: which tied ids it holds is arbitrary
    tied = p[:1].clone()
    tied[0, 3000:] = tied[0].sort(descending=True).values[50]
    tied /= tied.sum()
    assert descending_head(tied, 100, 0.5)[0].shape[1] == V
    assert descending_head(tied, 10, 0.5)[0].shape[1] == measures_mod.HEAD  # the first 10 are sure
