"""ECE and the JSD shift: hand-worked cases, scipy's jensenshannon, and the vectorised
permutation null against a straightforward per-permutation loop with the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from common.errors import BadInput
from engine.analysis.ece import bin_index, conventional_ece, standardized_ece
from engine.analysis.jsd import js_distance, jsd_shift, jsd_shift_many, split_groups

# --- ECE -------------------------------------------------------------------------------------


def test_standardized_ece_hand_worked_with_an_empty_bin() -> None:
    # u = [0, 1, 3, 10]: mean 3.5, population std sqrt(15.25); z = (u - 3.5) / 3.905
    u = np.array([0, 1, 3, 10.0])
    y = np.array([1, 1, 0, 0.0])
    res = standardized_ece(u, y, bins=4)
    z = (u - 3.5) / np.sqrt(15.25)
    beta = abs(z[3])
    assert list(res.bins["lo"]) == pytest.approx(list(np.linspace(-beta, beta, 5)[:-1]))
    # bins: [z0] [z1 z2] [] [z3]; conf = 1 - F(mean z) with F counting z_j <= t
    assert list(res.bins["count"]) == [1, 2, 0, 1]
    assert res.bins["conf"].iloc[0] == pytest.approx(0.75)      # F(z0) = 1/4
    assert res.bins["conf"].iloc[1] == pytest.approx(0.5)       # F(mean(z1, z2)) = 2/4
    assert np.isnan(res.bins["conf"].iloc[2]) and np.isnan(res.bins["acc"].iloc[2])
    assert res.bins["conf"].iloc[3] == pytest.approx(0.0)       # F(z3) = 1
    assert list(res.bins["acc"].fillna(-1)) == [1.0, 0.5, -1, 0.0]
    assert res.ece == pytest.approx(0.25 * 0.25 + 0.5 * 0 + 0 + 0.25 * 0)
    assert res.n == 4


def test_standardized_ece_two_bins_and_the_normal_cdf_option() -> None:
    u = np.array([0, 1, 2, 3.0])
    y = np.array([1, 1, 0, 0.0])
    assert standardized_ece(u, y, bins=2).ece == pytest.approx(0.25)
    z = (u - 1.5) / np.sqrt(1.25)
    lo, hi = z[:2].mean(), z[2:].mean()
    expect = 0.5 * abs(1 - stats.norm.cdf(lo) - 1) + 0.5 * abs(1 - stats.norm.cdf(hi) - 0)
    assert standardized_ece(u, y, bins=2, cdf="normal").ece == pytest.approx(expect)


def test_standardized_ece_drops_nan_and_refuses_a_constant_measure() -> None:
    res = standardized_ece(np.array([0, 1, 2, 3, np.nan]), np.array([1, 1, 0, 0, 1.0]), bins=2)
    assert res.n == 4 and res.ece == pytest.approx(0.25)
    with pytest.raises(BadInput, match="constant"):
        standardized_ece(np.ones(5), np.ones(5))


def test_last_bin_is_closed_and_others_half_open() -> None:
    edges = np.linspace(0, 1, 5)
    assert list(bin_index(np.array([0, 0.25, 0.5, 0.9999, 1.0]), edges)) == [0, 1, 2, 3, 3]


def test_conventional_ece_hand_worked() -> None:
    c = np.array([0.95, 0.85, 0.55, 0.3])
    y = np.array([1, 1, 0, 0.0])
    res = conventional_ece(c, y, bins=2)
    assert list(res.bins["count"]) == [1, 3]
    assert res.ece == pytest.approx(0.25 * 0.3 + 0.75 * abs(np.mean([0.95, 0.85, 0.55]) - 2 / 3))
    assert conventional_ece(np.array([1.0, 1.0]), np.array([1, 1.0]), bins=10).ece == 0


# --- JSD -------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [2.0, None])
def test_js_distance_matches_scipy(base: float | None) -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        p, q = rng.integers(0, 20, size=(2, 5)).astype(float)
        p[0] += 1
        q[1] += 1
        ref = jensenshannon(p, q) if base is None else jensenshannon(p, q, base=base)
        assert js_distance(p, q, base) == pytest.approx(ref, abs=1e-12)


def test_jsd_shift_hand_worked() -> None:
    u = np.array([0, 0, 0, 1, 1, 1.0])
    model = np.array([0, 1, 0, 0, 0, 1])
    correct = np.array([0, 1, 0, 1, 1, 1])
    # U = {3,4,5}: M = [2, 1], A = [0, 3]; C = {0,1,2}: M = A = [2, 1] -> d(C) = 0
    js2 = (1 / 3 + np.log2(1.5)) / 2
    res = jsd_shift(model, correct, u, permutations=200, seed=3)
    assert (res.n_uncertain, res.n_certain) == (3, 3)
    assert res.d_certain == pytest.approx(0)
    assert res.shift == pytest.approx(np.sqrt(js2))
    assert res.p == pytest.approx((1 + (res.null >= res.shift).sum()) / 201)
    paper = jsd_shift(model, correct, u, permutations=200, seed=3, variant="paper")
    assert paper.shift == pytest.approx(np.sqrt(js2 * np.log(2)))
    assert paper.p == pytest.approx((paper.null >= abs(paper.shift)).sum() / 200)


def test_zero_z_questions_are_assigned_at_random_with_the_seed() -> None:
    u = np.array([1, 2, 3.0, 2.0])  # z = (-1.41, 0, 1.41, 0): two ties
    seen = {tuple(split_groups(u, s)) for s in range(40)}
    assert all(g[0] is np.False_ and g[2] is np.True_ for g in seen)
    assert len(seen) == 4                      # every assignment of the two ties occurs
    assert tuple(split_groups(u, 5)) == tuple(split_groups(u, 5))


def test_constant_measure_or_empty_group_is_a_clear_error() -> None:
    with pytest.raises(BadInput, match="constant"):
        jsd_shift(np.array([0, 1, 0]), np.array([0, 1, 1]), np.ones(3))
    results, errors = jsd_shift_many(np.array([0, 1, 0]), np.array([0, 1, 1]),
                                     {"flat": np.ones(3), "ok": np.array([1, 2, 4.0])},
                                     permutations=10)
    assert "flat" in errors and "ok" in results
    with pytest.raises(BadInput):
        jsd_shift(np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0]), permutations=0)


def _loop_null(model, correct, u, seed, permutations, variant, labels):
    """The straightforward reference: one permutation at a time, scipy's jensenshannon."""
    keep = np.isfinite(u)
    model, correct = model[keep], correct[keep]
    upper = split_groups(u[keep], seed)
    n_u, n = int(upper.sum()), int(keep.sum())
    base = None if variant == "paper" else 2

    def d(p, q):
        return jensenshannon(p, q) if base is None else jensenshannon(p, q, base=base)

    def shift(sel):
        mu = np.bincount(model[sel], minlength=labels)
        au = np.bincount(correct[sel], minlength=labels)
        mc = np.bincount(model[~sel], minlength=labels)
        ac = np.bincount(correct[~sel], minlength=labels)
        return d(mu, au) - d(mc, ac)

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    null = []
    for _ in range(permutations):
        perm = rng.permutation(n)
        sel = np.zeros(n, bool)
        sel[perm[:n_u]] = True
        null.append(shift(sel))
    null = np.array(null)
    obs = shift(upper)
    p = ((null >= abs(obs)).sum() / permutations if variant == "paper"
         else (1 + (null >= obs).sum()) / (1 + permutations))
    return obs, null, p


@pytest.mark.parametrize("variant", ["corrected", "paper"])
def test_vectorised_null_equals_a_per_permutation_loop(variant: str) -> None:
    rng = np.random.default_rng(9)
    n, labels = 333, 4
    correct = rng.integers(0, labels, n)
    model = np.where(rng.random(n) < 0.6, correct, rng.integers(0, labels, n))
    measures = {"a": rng.normal(size=n), "b": rng.exponential(size=n),
                "c": np.round(rng.normal(size=n), 1)}
    measures["c"][:7] = np.nan                 # another question set
    results, errors = jsd_shift_many(model, correct, measures, n_labels=labels,
                                     permutations=150, seed=42, variant=variant)
    assert not errors
    for name, u in measures.items():
        obs, null, p = _loop_null(model, correct, u, 42, 150, variant, labels)
        r = results[name]
        assert r.shift == pytest.approx(obs, abs=1e-12)
        assert r.null == pytest.approx(null, abs=1e-12)
        assert r.p == pytest.approx(p)
        assert r.seed == 42 and r.permutations == 150
    # a measure's result does not depend on the other measures analysed with it
    alone = jsd_shift(model, correct, measures["b"], n_labels=labels, permutations=150, seed=42,
                      variant=variant)
    assert alone.null == pytest.approx(results["b"].null)


def test_variants_differ_only_in_log_base_and_p_formula() -> None:
    rng = np.random.default_rng(2)
    n = 200
    correct = rng.integers(0, 3, n)
    model = np.where(rng.random(n) < 0.5, correct, rng.integers(0, 3, n))
    u = rng.normal(size=n)
    a = jsd_shift(model, correct, u, permutations=300, seed=1)
    b = jsd_shift(model, correct, u, permutations=300, seed=1, variant="paper")
    # same groups, same permutations; the distance differs by the constant sqrt(ln 2)
    assert (a.n_uncertain, a.n_certain) == (b.n_uncertain, b.n_certain)
    assert b.shift == pytest.approx(a.shift * np.sqrt(np.log(2)))
    assert b.null == pytest.approx(a.null * np.sqrt(np.log(2)))
    assert a.p == pytest.approx((1 + (a.null >= a.shift).sum()) / 301)
    assert b.p == pytest.approx((b.null >= abs(b.shift)).sum() / 300)


@pytest.mark.parametrize("sizes", [[10, 20], [300, 320], [10, 320, 166], [1, 332]])
def test_prefix_counts_from_the_front_and_the_back_equal_direct_counts(sizes) -> None:
    from engine.analysis.jsd import _prefix_counts, permutation_matrix
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 9, 333)
    perms = permutation_matrix(333, 5, 40)
    got = _prefix_counts(codes, perms, sizes, 9)
    for s in sizes:
        direct = np.stack([np.bincount(codes[row[:s]], minlength=9) for row in perms])
        np.testing.assert_array_equal(got[s], direct)
