# ruff: noqa: F811  (the pytest fixture ws imported from tests.test_analyze_cli)
"""Run diagnostics and the calibration metrics beyond the papers (issue 18): `analyze accuracy`,
`brier`, `auroc`, `risk-coverage`, `ece-adaptive`, `recalibrate`, and the Clopper-Pearson
intervals of the `ece` bins. Each number of the CLI's tables, on the MMLU sample and the Coane
trivia questions with their imported seeded runs (tests/test_analyze_cli.py), is checked against
scikit-learn, scipy or a computation written out here from the imported CSV files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from engine.analysis.diagnostics import goodness_of_fit
from engine.analysis.intervals import clopper_pearson, wilson
from engine.analysis.recalibrate import fit_isotonic, pool_adjacent_violators
from engine.analysis.scoring import auroc, average_precision, murphy, risk_curve
from tests.test_analyze_cli import ws  # noqa: F401

MODELS = {"toy-a": "m-toy-a", "toy-b": "m-toy-b"}


def csv_table(cli, *args: object) -> pd.DataFrame:
    res = cli("analyze", *args, "-f", "csv")
    assert res.code == 0, res.err
    return pd.read_csv(io.StringIO(res.out))


def run_frame(ws: Path, dataset: str, model: str) -> pd.DataFrame:
    """The dataset's questions beside the imported results of ``model``, with ``y`` (correct),
    ``r`` (label probabilities renormalised) and ``conf`` (their largest)."""
    questions = pd.read_parquet(ws / "datasets" / dataset / "questions.parquet")
    results = pd.read_csv(ws.parent / f"{dataset}-{model}.csv")
    frame = questions.merge(results, on="question_id")
    frame["answer"] = frame["cloze"].map("ABCDEFGH".index)
    frame["y"] = (frame["answer"] == frame["correct"]).astype(float)
    q = np.array([json.loads(text) for text in frame["label_probs"]])
    frame["mass"] = q.sum(axis=1)
    frame["r"] = list(q / q.sum(axis=1, keepdims=True))
    frame["conf"] = [r.max() for r in frame["r"]]
    return frame


# ------------------------------------------------------------------------------ intervals

@pytest.mark.parametrize("k,n", [(0, 1), (0, 10), (3, 10), (10, 10), (57, 400), (1, 2)])
def test_wilson_and_clopper_pearson_match_scipy(k: int, n: int) -> None:
    wilson_ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson(k, n) == pytest.approx((wilson_ci.low, wilson_ci.high), abs=1e-12)
    exact = stats.binomtest(k, n).proportion_ci(method="exact")
    low = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    assert clopper_pearson(k, n) == pytest.approx((low, high), abs=1e-12)
    assert clopper_pearson(k, n) == pytest.approx((exact.low, exact.high), abs=1e-12)


def test_an_empty_bin_has_no_interval() -> None:
    low, high = clopper_pearson(np.array([0, 2]), np.array([0, 4]))
    assert np.isnan(low[0]) and np.isnan(high[0]) and 0 < low[1] < 0.5 < high[1] < 1


# ------------------------------------------------------------------------------- accuracy

def test_accuracy_letters_and_choice_mass_match_scipy(cli, ws: Path) -> None:
    table = csv_table(cli, "accuracy", "-d", "mmlu", "-w", ws).set_index("model")
    letters = csv_table(cli, "accuracy", "-d", "mmlu", "--letters", "-w", ws)
    subjects = csv_table(cli, "accuracy", "-d", "mmlu", "--subjects", "-w", ws)
    for model in MODELS:
        f = run_frame(ws, "mmlu", model)
        row = table.loc[model]
        k, n = int(f["y"].sum()), len(f)
        ci = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert (row["n"], row["accuracy"]) == (n, pytest.approx(k / n, abs=1e-15))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
        answered = np.bincount(f["answer"], minlength=4)
        key = np.bincount(f["correct"], minlength=4)
        test = stats.chisquare(answered, key)
        assert (row["chi2"], row["df"]) == (pytest.approx(test.statistic, rel=1e-12), 3)
        assert row["p_letters"] == pytest.approx(test.pvalue, rel=1e-9)
        assert row["top_letter"] == "ABCD"[answered.argmax()]
        assert row["top_letter_share"] == pytest.approx(answered.max() / n)
        assert row["mass_mean"] == pytest.approx(f["mass"].mean(), abs=1e-12)
        assert row["mass_median"] == pytest.approx(f["mass"].median(), abs=1e-12)
        assert row["mass_below_half"] == (f["mass"] < 0.5).mean() == 0   # drawn in [0.6, 0.99]
        mine = letters[letters["model"] == model]
        assert list(mine["letter"]) == list("ABCD")
        assert list(mine["answered"]) == list(answered) and list(mine["correct"]) == list(key)
        per = subjects[subjects["model"] == model].set_index("subject")
        assert sorted(per.index) == sorted(f["subject"].unique())
        for subject, g in f.groupby("subject"):
            ci = stats.binomtest(int(g["y"].sum()), len(g)).proportion_ci(method="wilson")
            assert per.loc[subject, "n"] == len(g)
            assert per.loc[subject, "n_correct"] == g["y"].sum()
            assert (per.loc[subject, "ci_low"], per.loc[subject, "ci_high"]) == pytest.approx(
                (ci.low, ci.high), abs=1e-12)


def test_a_letter_never_correct_makes_chi_square_infinite() -> None:
    assert goodness_of_fit(np.array([5, 5, 2]), np.array([6, 6, 0]))[0] == np.inf
    chi2, df, p = goodness_of_fit(np.array([8, 2]), np.array([5, 5]))
    assert (chi2, df) == (pytest.approx(3.6), 1) and p == pytest.approx(
        stats.chi2.sf(3.6, 1), rel=1e-12)


def test_coane_has_no_subjects_and_says_so(cli, ws: Path) -> None:
    res = cli("analyze", "accuracy", "-d", "coane", "--subjects", "-w", ws)
    assert res.code == 0 and "dataset 'coane' has no subjects: --subjects has no rows" in res.err


# ---------------------------------------------------------------------------------- Brier

def test_brier_matches_scikit_learn_and_a_binned_loop(cli, ws: Path) -> None:
    table = csv_table(cli, "brier", "-d", "mmlu", "--bins", "8", "-w", ws).set_index("model")
    for model in MODELS:
        f = run_frame(ws, "mmlu", model)
        row = table.loc[model]
        r = np.stack(f["r"])
        assert row["brier"] == pytest.approx(brier_score_loss(
            f["correct"], r, labels=[0, 1, 2, 3], scale_by_half=False), abs=1e-12)
        y, c = f["y"].to_numpy(), f["conf"].to_numpy()
        assert row["brier_top"] == pytest.approx(brier_score_loss(y, c), abs=1e-12)
        rel = res = within = 0.0
        for b in range(8):
            inside = (c >= b / 8) & ((c < (b + 1) / 8) | (b == 7))
            if not inside.any():
                continue
            w, cb, yb = inside.mean(), c[inside], y[inside]
            rel += w * (cb.mean() - yb.mean()) ** 2
            res += w * (yb.mean() - y.mean()) ** 2
            within += w * (np.var(cb) - 2 * np.mean((cb - cb.mean()) * (yb - yb.mean())))
        assert (row["reliability"], row["resolution"]) == pytest.approx((rel, res), abs=1e-12)
        assert row["uncertainty"] == pytest.approx(y.mean() * (1 - y.mean()), abs=1e-12)
        assert row["within_bins"] == pytest.approx(within, abs=1e-12)


def test_murphy_identity_is_exact_when_each_bin_holds_one_confidence() -> None:
    conf = np.array([0.15] * 4 + [0.55] * 6 + [0.95] * 10)
    y = np.array([0, 0, 0, 1] + [1, 0, 1, 1, 0, 1] + [1] * 9 + [0], float)
    cells = murphy(conf, y, bins=10)
    # by hand: bins at 0.15 (acc 1/4), 0.55 (4/6), 0.95 (9/10); mean y = 14/20
    rel = 4 / 20 * (0.15 - 0.25) ** 2 + 6 / 20 * (0.55 - 4 / 6) ** 2 + 10 / 20 * 0.05 ** 2
    res = 4 / 20 * (0.25 - 0.7) ** 2 + 6 / 20 * (4 / 6 - 0.7) ** 2 + 10 / 20 * 0.2 ** 2
    assert cells["reliability"] == pytest.approx(rel, abs=1e-15)
    assert cells["resolution"] == pytest.approx(res, abs=1e-15)
    assert cells["uncertainty"] == pytest.approx(0.21, abs=1e-15)
    assert cells["within_bins"] == pytest.approx(0.0, abs=1e-15)
    assert cells["brier_top"] == pytest.approx(rel - res + 0.21, abs=1e-15)


# ---------------------------------------------------------------------------- AUROC, AUPRC

def test_auroc_and_auprc_match_scikit_learn_ties_included(cli, ws: Path) -> None:
    table = csv_table(cli, "auroc", "-d", "mmlu", "-w", ws).set_index(["model", "measure"])
    assert len(table) == 16
    for model in MODELS:
        f = run_frame(ws, "mmlu", model)
        error = 1 - f["y"].to_numpy()
        for measure in ("choice_entropy", "topp_size@0.9", "-choice_top1", "-top1_prob"):
            u = -f[measure[1:]] if measure.startswith("-") else f[measure]
            row = table.loc[(model, measure)]
            assert row["n_errors"] == error.sum() and row["error_rate"] == pytest.approx(
                error.mean())
            assert row["auroc"] == pytest.approx(roc_auc_score(error, u), abs=1e-12)
            assert row["auprc"] == pytest.approx(average_precision_score(error, u), abs=1e-12)
    assert f["topp_size@0.9"].nunique() < 5    # ties: the case a naive sort gets wrong


def test_auroc_and_ap_on_a_hand_worked_case() -> None:
    score = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    positive = np.array([1, 0, 1, 0, 0], bool)
    # pairs (pos, neg): 0.9 beats all 3; 0.8 ties 0.8 (1/2) and beats 0.3, 0.1: (3 + 2.5) / 6
    assert auroc(score, positive) == pytest.approx(5.5 / 6)
    # thresholds 0.9: P 1, R 1/2; 0.8: P 2/3, R 1 -> AP = 1/2 * 1 + 1/2 * 2/3
    assert average_precision(score, positive) == pytest.approx(0.5 + 1 / 3)
    assert np.isnan(auroc(score, np.zeros(5, bool)))


# ---------------------------------------------------------------------------- risk-coverage

def test_risk_coverage_matches_a_loop(cli, ws: Path, tmp_path: Path) -> None:
    curve_file = tmp_path / "curve.csv"
    table = csv_table(cli, "risk-coverage", "-d", "mmlu", "--measures", "choice_entropy",
                      "--curve-out", curve_file, "-w", ws).set_index("model")
    curve = pd.read_csv(curve_file)
    assert Path(str(curve_file) + ".provenance.json").is_file()
    for model in MODELS:
        f = run_frame(ws, "mmlu", model)
        u, error = f["choice_entropy"].to_numpy(), 1 - f["y"].to_numpy()
        assert np.unique(u).size == u.size       # no ties: the loop's order is the only one
        sorted_errors = error[np.argsort(u)]
        risk = [sorted_errors[:k].mean() for k in range(1, u.size + 1)]
        row = table.loc[model]
        assert row["aurc"] == pytest.approx(np.mean(risk), abs=1e-12)
        assert row["risk"] == pytest.approx(error.mean(), abs=1e-12)
        for c in (50, 80, 90):
            kept = int(np.ceil(c / 100 * u.size))
            assert row[f"acc_at_{c}"] == pytest.approx(1 - sorted_errors[:kept].mean(), abs=1e-12)
        mine = curve[curve["model"] == model]
        assert mine["risk"].to_numpy() == pytest.approx(risk, abs=1e-12)
        assert mine["coverage"].iloc[-1] == 1.0 and len(mine) == u.size


def test_tied_uncertainties_share_their_mean_error() -> None:
    # the two surest tie: either order keeps 1 error of 2 in expectation at k = 1
    risk = risk_curve(np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    assert risk == pytest.approx([0.5, 0.5, 1 / 3])
    shuffled = risk_curve(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    assert shuffled == pytest.approx(risk)


# ------------------------------------------------------------------ adaptive ECE, MCE, bins

def test_adaptive_ece_mce_and_clopper_pearson_bins(cli, ws: Path, tmp_path: Path) -> None:
    bins_file = tmp_path / "bins.csv"
    table = csv_table(cli, "ece-adaptive", "-d", "coane", "--bins", "7", "--adaptive-bins-out",
                      bins_file, "-w", ws).set_index("model")
    bins = pd.read_csv(bins_file)
    for model in MODELS:
        f = run_frame(ws, "coane", model)
        c, y = f["choice_top1"].to_numpy(), f["y"].to_numpy()
        chunks = np.array_split(np.argsort(c, kind="stable"), 7)
        gaps = [abs(c[i].mean() - y[i].mean()) for i in chunks]
        row = table.loc[model]
        assert row["ece_adaptive"] == pytest.approx(
            sum(len(i) / c.size * g for i, g in zip(chunks, gaps, strict=True)), abs=1e-12)
        assert row["mce_adaptive"] == pytest.approx(max(gaps), abs=1e-12)
        width = [(c >= b / 7) & ((c < (b + 1) / 7) | (b == 6)) for b in range(7)]
        width_gaps = [abs(c[w].mean() - y[w].mean()) for w in width if w.any()]
        assert row["mce_width"] == pytest.approx(max(width_gaps), abs=1e-12)
        mass = bins[(bins["model"] == model) & (bins["binning"] == "equal-mass")]
        assert list(mass["count"]) == [len(i) for i in chunks]
        for (_, b), i in zip(mass.iterrows(), chunks, strict=True):
            k, n = int(y[i].sum()), len(i)
            low = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
            high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
            assert (b["acc_low"], b["acc_high"]) == pytest.approx((low, high), abs=1e-12)
            assert b["lo"] == c[i].min()


def test_the_ece_bins_carry_clopper_pearson_intervals(cli, ws: Path, tmp_path: Path) -> None:
    bins_file = tmp_path / "bins.csv"
    assert cli("analyze", "ece", "-d", "coane", "--bins-out", bins_file, "-w", ws).code == 0
    bins = pd.read_csv(bins_file)
    filled = bins[bins["count"] > 0]
    k = (filled["acc"] * filled["count"]).round().astype(int)
    exact = [stats.binomtest(kk, n).proportion_ci(method="exact")
             for kk, n in zip(k, filled["count"], strict=True)]
    assert filled["acc_low"].to_numpy() == pytest.approx([e.low for e in exact], abs=1e-12)
    assert filled["acc_high"].to_numpy() == pytest.approx([e.high for e in exact], abs=1e-12)
    assert bins.loc[bins["count"] == 0, "acc_low"].isna().all()


# ---------------------------------------------------------------------------- recalibration

def conventional_ece(c: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Equal-width bins at ``np.linspace`` edges: isotonic maps give confidences such as 0.7,
    which ``7 / 10`` and ``linspace(0, 1, 11)[7]`` (0.7000000000000001) put in different bins."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for b in range(bins):
        inside = (c >= edges[b]) & ((c < edges[b + 1]) | (b == bins - 1))
        if inside.any():
            total += inside.mean() * abs(c[inside].mean() - y[inside].mean())
    return total


def test_recalibration_matches_scikit_learn_and_a_grid(cli, ws: Path) -> None:
    table = csv_table(cli, "recalibrate", "-d", "coane", "--seed", "3", "--split", "40", "-w", ws)
    for model in MODELS:
        f = run_frame(ws, "coane", model)
        order = np.random.default_rng(3).permutation(len(f))
        n_fit = len(f) * 40 // 100
        fit, ev = np.sort(order[:n_fit]), np.sort(order[n_fit:])
        c, y = f["conf"].to_numpy(), f["y"].to_numpy()
        rows = table[table["model"] == model].set_index("method")
        assert list(rows.index) == ["temperature", "platt", "isotonic"]
        assert (rows["n_fit"] == len(fit)).all() and (rows["n_eval"] == len(ev)).all()
        assert rows["ece_before"].to_numpy() == pytest.approx(
            [conventional_ece(c[ev], y[ev])] * 3, abs=1e-12)
        assert rows["brier_before"].to_numpy() == pytest.approx(
            [brier_score_loss(y[ev], c[ev])] * 3, abs=1e-12)

        log_r = np.log(np.stack(f["r"]))
        key = f["correct"].to_numpy()

        def nll_fit(t: float, log_r=log_r[fit], key=key[fit]) -> float:
            scaled = log_r / t
            logp = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
            return -logp[np.arange(len(key)), key].mean()

        grid = np.geomspace(0.2, 5, 4001)
        best = grid[np.argmin([nll_fit(t) for t in grid])]
        t = rows.loc["temperature", "temperature"]
        assert t == pytest.approx(best, rel=2e-3)
        assert nll_fit(t) <= min(nll_fit(t * 1.001), nll_fit(t / 1.001))
        scaled = np.exp(log_r[ev] / t)
        after = (scaled / scaled.sum(axis=1, keepdims=True)).max(axis=1)
        assert rows.loc["temperature", "ece_after"] == pytest.approx(
            conventional_ece(after, y[ev]), abs=1e-9)

        logit = np.log(c / (1 - c))
        lr = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(logit[fit, None], y[fit])
        platt = lr.predict_proba(logit[ev, None])[:, 1]
        assert rows.loc["platt", "brier_after"] == pytest.approx(
            brier_score_loss(y[ev], platt), abs=1e-7)
        assert rows.loc["platt", "ece_after"] == pytest.approx(
            conventional_ece(platt, y[ev]), abs=1e-6)

        iso = IsotonicRegression(out_of_bounds="clip").fit(c[fit], y[fit]).predict(c[ev])
        assert rows.loc["isotonic", "brier_after"] == pytest.approx(
            brier_score_loss(y[ev], iso), abs=1e-12)
        assert rows.loc["isotonic", "ece_after"] == pytest.approx(
            conventional_ece(iso, y[ev]), abs=1e-12)


def test_pool_adjacent_violators_matches_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    x = rng.choice(np.linspace(0, 1, 30), 200)            # many ties
    y = (rng.random(200) < x).astype(float)
    xs, ys = fit_isotonic(x, y)
    new = rng.random(50) * 1.2 - 0.1                        # beyond both ends too
    ref = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    assert np.interp(new, xs, ys) == pytest.approx(ref.predict(new), abs=1e-12)
    assert pool_adjacent_violators(np.array([1.0, 3, 2, 0]), np.ones(4)) == pytest.approx(
        [1.0, 5 / 3, 5 / 3, 5 / 3])


@pytest.mark.parametrize("split,needle", [("0", "--split must be at least 1 (got 0)"),
                                          ("100", "--split must be at most 99 (got 100)")])
def test_a_bad_split_is_one_line(cli, ws: Path, split: str, needle: str) -> None:
    res = cli("analyze", "recalibrate", "-d", "mmlu", "--split", split, "-w", ws)
    assert res.code == 2 and needle in res.err and len(res.err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------- bootstrap

def paper_ece(u: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """SCIENCE.md §5's standardised ECE as a loop over the bins (tests/test_analyze_cli.py)."""
    z = (u - u.mean()) / u.std()
    beta = max(abs(z.min()), abs(z.max()))
    edges = np.linspace(-beta, beta, bins + 1)
    total = 0.0
    for b in range(bins):
        inside = (z >= edges[b]) & ((z < edges[b + 1]) | (b == bins - 1))
        if inside.any():
            total += inside.mean() * abs(1 - np.mean(z <= z[inside].mean()) - y[inside].mean())
    return total


def jsd_shift(u: np.ndarray, answer: np.ndarray, key: np.ndarray) -> float:
    """The corrected JSD shift (no ties at z = 0 in these measures)."""
    upper = u > u.mean()

    def d(group: np.ndarray) -> float:
        return jensenshannon(np.bincount(answer[group].astype(int), minlength=4),
                             np.bincount(key[group].astype(int), minlength=4), base=2)

    return d(upper) - d(~upper)


def scipy_interval(data: tuple[np.ndarray, ...], statistic, method: str, resamples: int,
                   seed: int) -> tuple[float, float]:
    res = stats.bootstrap(data, statistic, paired=True, vectorized=False, method=method,
                          n_resamples=resamples, rng=np.random.default_rng(seed))
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_intervals_match_scipy(cli, ws: Path, method: str) -> None:
    """The same draws as scipy.stats.bootstrap(paired=True) with the same seed, so the same
    interval, for alignment's r, calibration's rho, ECE and the JSD shift."""
    args = ("-d", "coane", "--runs", "c-toy-a", "--measures", "choice_entropy", "--bootstrap",
            "150", "--ci-method", method, "--seed", "5", "-w", ws)
    f = run_frame(ws, "coane", "toy-a")
    h = f["human_share"].map(lambda s: stats.entropy(s)).to_numpy()
    u, y = f["choice_entropy"].to_numpy(), f["y"].to_numpy()
    answer, key = f["answer"].to_numpy(), f["correct"].to_numpy()
    checks = {
        "alignment": ((h, u), lambda a, b: stats.pearsonr(a, b).statistic),
        "calibration": ((y, u), lambda a, b: stats.spearmanr(a, b).statistic),
        "ece": ((u, y), paper_ece),
        "jsd": ((u, answer, key), jsd_shift),
    }
    for name, (data, statistic) in checks.items():
        table = csv_table(cli, name, *args, "--permutations", "50")
        row = table[table["measure"] == "choice_entropy"].iloc[0]
        expected = scipy_interval(data, statistic, method, 150, 5)
        assert (row["boot_low"], row["boot_high"]) == pytest.approx(expected, abs=1e-9), name


def test_no_bootstrap_no_columns(cli, ws: Path) -> None:
    table = csv_table(cli, "ece", "-d", "coane", "--runs", "c-toy-a", "-w", ws)
    assert "boot_low" not in table and "boot_high" not in table


def test_a_degenerate_bca_interval_is_empty_not_an_error() -> None:
    from engine.analysis.bootstrap import bootstrap_ci

    # equal leave-one-out estimates: the acceleration is 0/0 (scipy: NaN and a warning)
    low, high = bootstrap_ci(lambda i: 1.0, 10, 50, 0, "bca")
    assert np.isnan(low) and np.isnan(high)
    assert bootstrap_ci(lambda i: 1.0, 10, 50, 0, "percentile") == (1.0, 1.0)
