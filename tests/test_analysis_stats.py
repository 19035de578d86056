"""Alignment, agreement, Kendall, calibration and adjustments against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from common.errors import BadInput
from engine.analysis.agreement import agreement, poisson_binomial_sf
from engine.analysis.alignment import correlate, fisher_ci, partial_r, strata
from engine.analysis.calibration import spearman_by_group
from engine.analysis.kendall import kendall_distances, kendall_summary
from engine.analysis.multiple import adjust


def _xy(n: int, seed: int, rho: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, rho * x + rng.normal(size=n)


@pytest.mark.parametrize("n,seed", [(5, 0), (40, 1), (421, 2), (3000, 3)])
def test_pearson_spearman_and_ci_match_scipy(n: int, seed: int) -> None:
    x, y = _xy(n, seed)
    c = correlate(x, y)
    ref = stats.pearsonr(x, y)
    ci = ref.confidence_interval(0.95)
    sp = stats.spearmanr(x, y)
    assert c.n == n
    assert c.r == pytest.approx(ref.statistic, abs=1e-12)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert c.spearman_rho == pytest.approx(sp.statistic, abs=1e-12)
    assert c.spearman_p == pytest.approx(sp.pvalue, rel=1e-9, abs=1e-300)


def test_correlate_drops_non_finite_pairs_and_handles_ties() -> None:
    x = np.array([1, 2, 2, 3, np.nan, 5, 5, 7.0])
    y = np.array([2, 1, 4, 3, 9, np.inf, 6, 8.0])
    c = correlate(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    assert c.n == keep.sum() == 6
    assert c.r == pytest.approx(stats.pearsonr(x[keep], y[keep]).statistic)
    assert c.spearman_rho == pytest.approx(stats.spearmanr(x[keep], y[keep]).statistic)


def test_fisher_ci_is_the_textbook_formula() -> None:
    lo, hi = fisher_ci(0.5, 103)
    half = stats.norm.ppf(0.975) / 10
    assert (lo, hi) == pytest.approx((np.tanh(np.arctanh(0.5) - half), np.tanh(np.arctanh(0.5) + half)))


def test_partial_r_equals_residual_regression_and_removes_a_pure_count_effect() -> None:
    rng = np.random.default_rng(7)
    n = rng.choice([2, 3, 5, 8], size=2000)
    log_n = np.log(n)
    # both depend on log n only: r is large, the partial r is ~0
    human = log_n + rng.normal(0, 0.3, n.size)
    model = 2 * log_n + rng.normal(0, 0.3, n.size)
    assert correlate(human, model).r > 0.7
    pr = partial_r(human, model, log_n)
    # independent: residuals of separate regressions with statsmodels-free lstsq via polyfit
    rx = human - np.polyval(np.polyfit(log_n, human, 1), log_n)
    ry = model - np.polyval(np.polyfit(log_n, model, 1), log_n)
    assert pr == pytest.approx(stats.pearsonr(rx, ry).statistic, abs=1e-10)
    assert abs(pr) < 0.1


def test_partial_r_with_a_constant_choice_count_is_r() -> None:
    x, y = _xy(200, 4)
    assert partial_r(x, y, np.full(200, np.log(4))) == pytest.approx(stats.pearsonr(x, y).statistic)


def test_strata_keep_only_choice_counts_with_30_questions() -> None:
    rng = np.random.default_rng(5)
    k = np.array([2] * 50 + [3] * 29 + [4] * 30)
    x, y = rng.normal(size=k.size), rng.normal(size=k.size)
    got = dict(strata(x, y, k))
    assert sorted(got) == [2, 4]
    sel = k == 4
    assert got[4].n == 30
    assert got[4].r == pytest.approx(stats.pearsonr(x[sel], y[sel]).statistic)


# --- agreement -------------------------------------------------------------------------------

def test_poisson_binomial_with_equal_chances_is_the_binomial_tail() -> None:
    for n, p, k in [(10, 0.25, 4), (421, 0.25, 150), (2000, 1 / 3, 700), (50, 0.5, 0)]:
        ref = stats.binomtest(k, n, p, alternative="greater").pvalue
        assert poisson_binomial_sf(k, np.full(n, p)) == pytest.approx(ref, rel=1e-9)


def test_poisson_binomial_mixed_chances_by_enumeration() -> None:
    probs = np.array([0.5, 0.25, 0.25, 1 / 3, 0.2, 0.5])
    outcomes = np.array(np.meshgrid(*[[0, 1]] * probs.size)).reshape(probs.size, -1).T
    weight = np.prod(np.where(outcomes == 1, probs, 1 - probs), axis=1)
    for k in range(probs.size + 2):
        assert poisson_binomial_sf(k, probs) == pytest.approx(weight[outcomes.sum(1) >= k].sum())


def test_agreement_corrected_counts_any_tied_top_answer() -> None:
    cloze = [0, 1, 2, 3]
    tops = [[0], [0, 1], [1], [3]]
    n = [4, 4, 3, 5]
    res = agreement(cloze, tops, n, "corrected")
    chances = np.array([1 / 4, 2 / 4, 1 / 3, 1 / 5])
    p0 = chances.mean()
    assert res.agreement == 3 / 4
    assert res.chance == pytest.approx(p0)
    assert res.z == pytest.approx((0.75 - p0) / np.sqrt(p0 * (1 - p0) / 4))
    assert res.p_z == pytest.approx(1 - stats.norm.cdf(res.z))
    assert res.p_exact == pytest.approx(poisson_binomial_sf(3, chances))
    assert res.n_tied == 1


def test_agreement_paper_variant_first_top_only_and_inverse_mean_n() -> None:
    cloze = [0, 1, 2, 3]
    tops = [[0], [0, 1], [1], [3]]
    n = [4, 4, 3, 5]
    res = agreement(cloze, tops, n, "paper")
    assert res.agreement == 2 / 4              # the tie at question 2 no longer counts
    assert res.chance == pytest.approx(1 / np.mean(n))
    assert res.p_exact == pytest.approx(poisson_binomial_sf(2, 1 / np.array(n, float)))
    # without ties and with equal n, the variants agree exactly
    same = agreement([0, 1, 2], [[0], [2], [2]], [4, 4, 4], "paper")
    assert same == agreement([0, 1, 2], [[0], [2], [2]], [4, 4, 4], "corrected")


def test_agreement_rejects_unknown_variant() -> None:
    with pytest.raises(BadInput):
        agreement([0], [[0]], [2], "nope")


# --- Kendall ---------------------------------------------------------------------------------

def test_kendall_distance_without_ties_is_one_minus_tau_over_two() -> None:
    rng = np.random.default_rng(11)
    qs = [rng.dirichlet(np.ones(n)) for n in rng.integers(2, 9, size=300)]
    hs = [rng.dirichlet(np.ones(q.size)) for q in qs]
    dist, tied = kendall_distances(qs, hs)
    assert tied.sum() == 0
    for d, q, h in zip(dist, qs, hs, strict=True):
        assert d == pytest.approx((1 - stats.kendalltau(q, h).statistic) / 2)


def test_kendall_ties_count_as_neither_and_are_reported() -> None:
    q = [[0.5, 0.2, 0.2, 0.1]]      # pair (1, 2) tied in q
    h = [[0.1, 0.4, 0.4, 0.1]]      # pairs (1, 2) and (0, 3) tied in h
    dist, tied = kendall_distances(q, h)
    # pairs: (0,1) q+ h- disc; (0,2) disc; (0,3) tie; (1,2) tie; (1,3) q+ h+ conc; (2,3) conc
    assert tied[0] == 2
    assert dist[0] == pytest.approx(2 / 6)
    s = kendall_summary(q + [[0.1, 0.9]], h + [[0.2, 0.8]])
    assert s.n == 2 and s.tied_pairs == 2
    assert s.mean == pytest.approx((2 / 6 + 0) / 2)
    assert s.std == pytest.approx(np.std([2 / 6, 0]))


# --- calibration -----------------------------------------------------------------------------

def test_calibration_spearman_overall_and_per_subject_match_spearmanr() -> None:
    rng = np.random.default_rng(3)
    n = 900
    u = rng.normal(size=n)
    y = (rng.random(n) > 1 / (1 + np.exp(-u))).astype(float)
    subj = rng.choice(["algebra", "law", "virology", "tiny"], size=n, p=[0.4, 0.3, 0.298, 0.002])
    u[5] = np.nan
    t = spearman_by_group(y, u, subj)
    assert t["subject"].iloc[0] == "ALL"
    keep = np.isfinite(u)
    ref = stats.spearmanr(y[keep], u[keep])
    assert t.iloc[0]["n"] == keep.sum()
    assert t.iloc[0]["spearman_rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert t.iloc[0]["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    for _, row in t.iloc[1:].iterrows():
        sel = keep & (subj == row["subject"])
        assert row["n"] == sel.sum()
        if sel.sum() >= 3 and len(set(y[sel])) > 1:
            r = stats.spearmanr(y[sel], u[sel])
            assert row["spearman_rho"] == pytest.approx(r.statistic, abs=1e-12)
            assert row["p"] == pytest.approx(r.pvalue, rel=1e-9)
    assert list(t["subject"].iloc[1:]) == sorted(set(subj))


def test_calibration_constant_group_gives_nan_not_a_crash() -> None:
    t = spearman_by_group(np.array([1, 1, 1, 0, 1.0]), np.array([1, 2, 3, 4, 5.0]),
                          np.array(["a", "a", "a", "b", "b"], dtype=object))
    by = t.set_index("subject")
    assert np.isnan(by.loc["a", "spearman_rho"])
    assert np.isfinite(by.loc["ALL", "spearman_rho"])


# --- multiple comparisons --------------------------------------------------------------------

def test_bh_matches_scipy_and_holm_matches_hand_computation() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan, 0.5])
    got = adjust(p, "bh")
    ok = np.isfinite(p)
    assert np.isnan(got[4])
    assert got[ok] == pytest.approx(stats.false_discovery_control(p[ok], method="bh"))
    holm = adjust(p, "holm")
    # sorted: 0.005*5, 0.01*4, 0.03*3, 0.04*2, 0.5*1 -> running max
    expect = {3: 0.025, 0: 0.04, 2: 0.09, 1: 0.09, 5: 0.5}
    for i, v in expect.items():
        assert holm[i] == pytest.approx(v)
    assert list(adjust(p, "none")[ok]) == list(p[ok])


def test_average_ranks_match_rankdata() -> None:
    from engine.analysis.stats_util import rank
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = rng.integers(0, 5, rng.integers(1, 30)).astype(float)
        np.testing.assert_array_equal(rank(x), stats.rankdata(x))


@pytest.mark.parametrize("x", [[0.1, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3]])
def test_a_variable_that_does_not_vary_has_no_correlation(x) -> None:
    # the mean of [0.1]*3 is not 0.1 in floating point: centring leaves rounding noise
    x = np.array(x)
    y = np.arange(1.0, len(x) + 1) ** 2
    with pytest.warns(stats.ConstantInputWarning):
        assert np.isnan(stats.pearsonr(x, y).statistic)
    for a, b in ((x, y), (y, x)):
        c = correlate(a, b)
        assert np.isnan(c.r) and np.isnan(c.p) and np.isnan(c.ci_low) and np.isnan(c.spearman_rho)


def test_rounding_noise_counts_as_no_variation() -> None:
    # entropies of the same shares summed in another order differ in the last bit
    x = np.array([0.6730116670092565, 0.6730116670092565, 0.6730116670092566])
    assert np.isnan(correlate(x, np.array([1.0, 2.0, 4.0])).r)


def test_the_normal_tail_and_cdf_are_scipy_stats_norm_to_the_bit() -> None:
    """agreement and ece call scipy.special.ndtr (what scipy.stats.norm calls) so as not to
    import scipy.stats: the same floats, bit for bit, infinities and NaN included."""
    from scipy import special

    z = np.r_[np.random.default_rng(4).normal(0, 5, 1000), 0.0, -0.0, np.inf, -np.inf, np.nan]
    np.testing.assert_array_equal(special.ndtr(-z), stats.norm.sf(z))
    np.testing.assert_array_equal(special.ndtr(z), stats.norm.cdf(z))
    res = agreement([0, 1, 2, 3], [[0], [0, 1], [1], [3]], [4, 4, 3, 5], "corrected")
    assert res.p_z == float(stats.norm.sf(res.z))
