"""Activation probes: SmolLM2's captured hidden states on Coane, probed per layer, every number
checked against scikit-learn on the same arrays; the released probes as a reference, and their
base-versus-instruct cell reproduced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.activations import run_activations
from engine.analysis.probe_fit import (
    LOGISTIC_CS,
    RIDGE_ALPHAS,
    auroc,
    choose_c,
    kfold,
    linear_probe,
    logistic_probe,
)

COANE = Path("moore2026/Results/coane")
RELEASED_PROBES = Path("moore2026/Results/coane_activations/"
                       "uncertainty_alignment_10Fold_Results.parquet")
N_QUESTIONS = 120


@pytest.fixture(scope="module")
def coane_dir(data_dir: Path) -> Path:
    if not (data_dir / COANE / "coane_data.parquet").exists():
        pytest.skip(f"the successor's released Coane data is not at {data_dir / COANE}")
    return data_dir / COANE


@pytest.fixture(scope="module")
def probed(coane_dir: Path, smollm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with Coane and SmolLM2's run on its first questions, activations captured
    (the real engine process, as a user runs it)."""
    from tests.test_tui_support import cli_main

    ws = tmp_path_factory.mktemp("probe") / "ws"
    assert cli_main("import", "table", coane_dir / "coane_data.parquet", "--name", "coane",
                    "--id-col", "@index", "--human-col", "*_Human_*", "-w", ws) == 0
    assert cli_main("run", "-d", "coane", "-m", str(smollm_dir), "--limit", str(N_QUESTIONS),
                    "--capture-activations", "-w", ws) == 0
    return ws


def run_dir(ws: Path) -> Path:
    (folder,) = (ws / "runs").iterdir()
    return folder


def layer_data(ws: Path, layer: int, column: str = "human_entropy") -> tuple[np.ndarray, np.ndarray]:
    """The layer's activations and the target, for the questions with a target: read straight
    from the files (the dataset's shares, the run's arrays)."""
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace

    q = load_dataset(Workspace(ws), "coane").questions.iloc[:N_QUESTIONS]
    y = (np.array([stats.entropy(s) for s in q["human_share"]]) if column == "human_entropy"
         else q["human:" + column].to_numpy(float))
    keep = np.isfinite(y)
    acts = run_activations(run_dir(ws))
    assert acts is not None
    return acts.layer(layer, q["question_id"].astype(str)[keep]), y[keep]


def sklearn_scores(model, x: np.ndarray, y: np.ndarray, k: int = 10, seed: int = 0):
    """Per fold of KFold(k, shuffle, seed): Pearson r, R², MSE, and the fitted model."""
    out = []
    for train, test in KFold(k, shuffle=True, random_state=seed).split(x):
        fitted = model().fit(x[train], y[train])
        pred = fitted.predict(x[test])
        out.append((stats.pearsonr(y[test], pred)[0], r2_score(y[test], pred),
                    mean_squared_error(y[test], pred), fitted))
    return out


def test_folds_are_sklearns_kfold() -> None:
    for n, k, seed in ((120, 10, 0), (421, 10, 42), (37, 5, 3)):
        ours = kfold(n, k, seed)
        theirs = [test for _, test in KFold(k, shuffle=True, random_state=seed).split(np.zeros(n))]
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(np.sort(a), b)


@pytest.mark.slow
def test_ridge_with_nested_penalty_is_sklearns_grid_search(probed: Path) -> None:
    x, y = layer_data(probed, 15)
    ours = linear_probe(x, y[:, None], kfold(len(y), 10, 0), "ridge", seed=0)

    def grid() -> GridSearchCV:
        return GridSearchCV(make_pipeline(StandardScaler(), Ridge()),
                            {"ridge__alpha": RIDGE_ALPHAS}, scoring="neg_mean_squared_error",
                            cv=KFold(5, shuffle=True, random_state=0))

    theirs = sklearn_scores(grid, x, y)
    np.testing.assert_allclose(ours.penalty, [t[3].best_params_["ridge__alpha"] for t in theirs])
    for f, (r, r2, mse, _) in enumerate(theirs):
        np.testing.assert_allclose([ours.r[f, 0], ours.r2[f, 0], ours.mse[f, 0]], [r, r2, mse],
                                   rtol=1e-7)


@pytest.mark.slow
def test_least_squares_is_sklearns_linear_regression(probed: Path) -> None:
    """The successor's probe: more features (576) than rows, so the minimum-norm interpolant."""
    x, y = layer_data(probed, 8, "MC_Human_RT_Correct")
    ours = linear_probe(x, y[:, None], kfold(len(y), 10, 42), "ols", seed=42)
    theirs = sklearn_scores(LinearRegression, x, y, seed=42)
    for f, (r, r2, mse, _) in enumerate(theirs):
        np.testing.assert_allclose([ours.r[f, 0], ours.r2[f, 0], ours.mse[f, 0]], [r, r2, mse],
                                   rtol=1e-6)
    assert np.mean([t[1] for t in theirs]) < 0       # as the successor's: R² below zero


@pytest.mark.slow
def test_logistic_probe_is_sklearns(probed: Path) -> None:
    x, _ = layer_data(probed, 20)
    rng = np.random.default_rng(1)
    signal = ((x[:, :3] - x[:, :3].mean(axis=0)) / x[:, :3].std(axis=0)).sum(axis=1)
    y = (signal + rng.normal(0, signal.std(), len(x)) > 0).astype(float)
    c = choose_c(x, y, seed=0)
    grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, tol=1e-10)),
                        {"logisticregression__C": LOGISTIC_CS}, scoring="neg_log_loss",
                        cv=KFold(5, shuffle=True, random_state=0)).fit(x, y)
    assert c == grid.best_params_["logisticregression__C"]
    folds = kfold(len(y), 5, 0)
    ours = logistic_probe(x, y[:, None], folds, seed=0)
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(y)), test)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=ours.penalty[f], max_iter=5000,
                                                                   tol=1e-10)).fit(x[train], y[train])
        prob = model.predict_proba(x[test])[:, 1]
        assert ours.auroc[f, 0] == pytest.approx(roc_auc_score(y[test], prob), abs=1e-9)
        assert ours.mse[f, 0] == pytest.approx(mean_squared_error(y[test], prob), rel=1e-4)


def test_auroc_is_sklearns_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(float)
    score = np.round(rng.normal(size=200) + y, 1)      # many ties
    assert auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(auroc(np.ones(5), np.arange(5.0)))


def test_each_shuffle_is_the_probe_of_the_shuffled_target() -> None:
    """The null columns are fitted exactly as the observed one would be (own penalty choice)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 120))
    y = x[:, :4] @ np.array([1.0, -1.0, 0.5, 2.0]) + rng.normal(size=80)
    shuffled = rng.permutation(y)
    folds = kfold(80, 8, 0)
    together = linear_probe(x, np.column_stack([y, shuffled]), folds, "ridge", seed=0)
    alone = linear_probe(x, shuffled[:, None], folds, "ridge", seed=0)
    np.testing.assert_allclose(together.r[:, 1], alone.r[:, 0], rtol=1e-9)
    assert np.nanmean(together.r[:, 0]) > 0.5 > abs(np.nanmean(together.r[:, 1]))


@pytest.mark.slow
def test_probe_table_by_layer_with_its_exports(probed: Path, cli, tmp_path: Path) -> None:
    folds_out = tmp_path / "folds.csv"
    res = cli("analyze", "probe", "-d", "coane", "--shuffles", "20", "--format", "csv",
              "--folds-out", str(folds_out), "-w", str(probed))
    assert res.code == 0, res.err
    table = pd.read_csv(pd.io.common.StringIO(res.out))
    assert list(table["layer"]) == list(range(1, 31))              # SmolLM2: 30 blocks
    assert (table["n"] == N_QUESTIONS).all() and (table["features"] == 576).all()
    # one layer's row is sklearn's on the same arrays, with the same folds
    x, y = layer_data(probed, 15)
    ridge = [t[0] for t in sklearn_scores(lambda: GridSearchCV(
        make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": RIDGE_ALPHAS},
        scoring="neg_mean_squared_error", cv=KFold(5, shuffle=True, random_state=0)), x, y)]
    row = table.set_index("layer").loc[15]
    assert row["r"] == pytest.approx(np.mean(ridge), rel=1e-6)
    assert row["r_sd"] == pytest.approx(np.std(ridge, ddof=1), rel=1e-6)
    # the chance level: the mean of 20 shuffles is near 0, and p_perm is on the 1/21 grid
    assert (table["null_mean"].abs() < 0.15).all()
    assert np.allclose(table["p_perm"] * 21, np.round(table["p_perm"] * 21))
    folds = pd.read_csv(folds_out)
    assert len(folds) == 30 * 10
    np.testing.assert_allclose(folds[folds["layer"] == 15]["r"], ridge, rtol=1e-6)
    sidecar = json.loads(folds_out.with_name(folds_out.name + ".provenance.json").read_text())
    assert sidecar["settings"]["shuffles"] == 20 and sidecar["settings"]["folds"] == 10


@pytest.mark.slow
def test_best_layer_beside_the_best_output_measure(probed: Path, cli) -> None:
    res = cli("analyze", "probe", "-d", "coane", "--shuffles", "0", "--best", "--format", "csv",
              "-w", str(probed))
    assert res.code == 0, res.err
    best = pd.read_csv(pd.io.common.StringIO(res.out)).iloc[0]
    x_rows = pd.read_csv(pd.io.common.StringIO(cli(
        "analyze", "probe", "-d", "coane", "--shuffles", "0", "--format", "csv", "-w",
        str(probed)).out))
    assert best["probe_r"] == x_rows["r"].max()
    assert best["best_layer"] == x_rows.loc[x_rows["r"].idxmax(), "layer"]
    # the best measure's r is scipy's Pearson r of that measure with human entropy
    from datasets_io.dataset import load_dataset
    from datasets_io.workspace import Workspace
    from engine.store import read_results

    ids = load_dataset(Workspace(probed), "coane").questions["question_id"].astype(str)
    res_rows = read_results(run_dir(probed)).set_index("question_id").loc[ids[:N_QUESTIONS]]
    _, y = layer_data(probed, 1)
    measure = best["best_measure"].lstrip("-")
    sign = -1 if best["best_measure"].startswith("-") else 1
    r = stats.pearsonr(sign * res_rows[measure].to_numpy(float), y)[0]
    assert best["measure_r"] == pytest.approx(r, rel=1e-9)


@pytest.mark.slow
def test_correctness_probe_and_missing_activations(probed: Path, cli, tmp_path: Path) -> None:
    res = cli("analyze", "probe", "-d", "coane", "--target", "correct", "--shuffles", "2",
              "--folds", "5", "--format", "csv", "-w", str(probed))
    assert res.code == 0, res.err
    table = pd.read_csv(pd.io.common.StringIO(res.out))
    assert (table["method"] == "logistic").all() and table["auroc"].between(0, 1).all()
    # a run without activations is named in a note, not silently dropped
    import shutil

    bare = tmp_path / "ws"
    shutil.copytree(probed, bare)
    shutil.rmtree(run_dir(bare) / "activations")
    res = cli("analyze", "probe", "-d", "coane", "--format", "csv", "-w", str(bare))
    assert res.code == 0 and "(no rows)" not in res.out and len(res.out.splitlines()) == 1
    assert "no activations captured (run it again with --capture-activations)" in res.err


def test_released_probes_as_reference_and_their_wilcoxon_cell(data_dir: Path) -> None:
    """SCIENCE-successor.md §7.4: Falcon3_1B's human_ent cell "W: 0.064 | 0.44"."""
    path = data_dir / RELEASED_PROBES
    if not path.exists():
        pytest.skip(f"the released probe results are not at {path}")
    from engine.analysis.probe import _pairs
    from engine.analysis.probe_reference import released_probe_rows

    notes: list[str] = []
    table = pd.DataFrame(released_probe_rows(path, "human_entropy", notes))
    raw = pd.read_parquet(path)
    assert len(table) == len(raw) == 868
    falcon = table[table["model"] == "Falcon3_10B (released)"].set_index("layer")
    assert falcon.loc[40, "r"] == pytest.approx(0.4375, abs=5e-5)     # layer_39, §7.3
    assert falcon.loc[1, "r2"] == pytest.approx(-3.4293, abs=5e-5)    # layer_0
    pairs = _pairs(table, None, notes).set_index("base")
    cell = pairs.loc["Falcon3_1B (released)"]
    assert (round(cell["wilcoxon_p"], 3), round(cell["r"], 2)) == (0.064, 0.44)
    b = raw[raw["model"] == "Falcon3_1B"]["human_ent_mean_correlation"].to_numpy()
    i = raw[raw["model"] == "Falcon3_1B_Ins"]["human_ent_mean_correlation"].to_numpy()
    z = stats.wilcoxon(b - i, method="approx").zstatistic
    assert cell["r"] == pytest.approx(abs(z) / np.sqrt(len(b)), rel=1e-12)
    assert released_probe_rows(path, "FR_Human_RT_DK", notes) == [] and "no target" in notes[-1]


@pytest.mark.slow
def test_console_probe_tab_plots_r_by_layer(probed: Path) -> None:
    import asyncio

    from engine.lab.analyses import ANALYSES
    from tests.test_tui_support import make_test_app, wait_for

    async def drive() -> None:
        app = make_test_app(probed)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s")
            screen = app.section("results")
            await wait_for(pilot, lambda: screen is not None and "probe" in screen.results, 300,
                           "the probe table")
            await pilot.press("comma")          # from the first tab back to the last: Probe
            await pilot.pause(0.3)
            assert screen.query_one("#results-tabs").active == list(ANALYSES)[-1] == "probe"
            table = screen.query_one("#t-probe")
            assert table.row_count == 30
            assert [str(c.label) for c in table.columns.values()][:3] == ["model", "layer", "r"]
            plot = screen.query_one("#probe-layers")
            assert plot.title_text == "probe r by layer" and plot.n_points == 30

    asyncio.run(drive())


@pytest.mark.slow
def test_an_unfinished_capture_is_counted_in_a_note(probed: Path, cli, tmp_path: Path) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(probed, ws)
    done = np.load(run_dir(ws) / "activations" / "main" / "done.npy", mmap_mode="r+")
    done[np.flatnonzero(done)[:10]] = 0          # as if killed before these rows were marked
    done.flush()
    res = cli("analyze", "probe", "-d", "coane", "--shuffles", "0", "--format", "csv", "-w", ws)
    assert res.code == 0, res.err
    assert (pd.read_csv(pd.io.common.StringIO(res.out))["n"] == N_QUESTIONS - 10).all()
    assert "10 question(s) with human_entropy have no activations" in res.err
