# ruff: noqa: F811  (pytest fixtures imported from tests.test_moore2026)
"""The free-recall tables (SCIENCE-successor.md §6.1-§6.3 on runs of task generate) on the 30
released Coane answer sets and their released grades: every cell against a computation written
here straight from the released files (fr_*, bfr_*, fr_tok1_* columns, final_ruling, rows 117
and 367 dropped), and the multiple-choice tables unchanged beside them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from engine.free_recall_names import RELEASED_COLUMNS, figure_rows, released_column
from engine.grading import agreement as grader_agreement
from tests.test_moore2026 import EXCLUDED, released  # noqa: F401
from tests.test_successor_calibration import models, sweep_loop, width_loop

TARGETS = ("FR_Human_Prop_Correct", "FR_Human_RT_ANS")


@pytest.fixture(scope="module")
def graded(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coane-graded (419 questions) with the 30 released runs, their free-recall answers as
    runs ``moore2026-<model>-fr``, and every released grading file imported onto those."""
    from tests.test_tui_support import cli_main

    grading = released.parent.parent / "coane_grading"
    if not grading.is_dir():
        pytest.skip(f"the successor's released grades are not at {grading}")
    ws = tmp_path_factory.mktemp("fr") / "ws"
    assert cli_main("import", "table", released / "coane_data.parquet", "--name", "coane-s",
                    "--id-col", "@index", "--human-col", "*_Human_*", "-w", ws) == 0
    assert cli_main("datasets", "derive", "coane-s", "--name", "coane-graded",
                    *[a for row in EXCLUDED for a in ("--exclude", str(row))], "-w", ws) == 0
    assert cli_main("runs", "import", released, "--layout", "moore2026", "--dataset",
                    "coane-graded", "-w", ws) == 0
    for model in models(released):
        assert cli_main("grade", "import", grading / f"coane_{model}.parquet", "--run",
                        f"moore2026-{model}-fr", "-w", ws) == 0, model
    return ws


def kept(released: Path, model: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    results = pd.read_parquet(released / f"coane_{model}.parquet").drop(index=list(EXCLUDED))
    data = pd.read_parquet(released / "coane_data.parquet").drop(index=list(EXCLUDED))
    grades = pd.read_parquet(released.parent.parent / "coane_grading" / f"coane_{model}.parquet")
    return results, data, grades.drop(index=list(EXCLUDED))


def table(cli, ws: Path, name: str, *args: str) -> tuple[pd.DataFrame, str]:
    res = cli("analyze", name, "-d", "coane-graded", "-f", "csv", *args, "-w", ws)
    assert res.code == 0, res.err
    return pd.read_csv(io.StringIO(res.out)), res.err


def confidence(results: pd.DataFrame, measure: str) -> np.ndarray:
    """§6.2's confidence of a released free-recall column, over the kept rows."""
    column = released_column(measure)
    x = results[column].to_numpy(float)
    if "prob" in column:
        return np.exp(x)
    if "ppl" in column:
        return np.exp(-x)
    if "top-p-len" in column:
        family = column[: column.index("top-p-len")]
        lengths = results[[c for c in results if c.startswith(family + "top-p-len")]].to_numpy(float)
        return 1 - (x - lengths.min()) / (lengths.max() - lengths.min())
    return 1 - x


def test_every_heatmap_cell_is_spearman_of_the_released_columns(graded, released, cli) -> None:
    """30 models x 3 figures (FR, BFR, 1TFR) x 15 rows x 2 targets: rho and p are scipy's on the
    released columns (the log-probability negated), n the rows with both values, and a cell is
    shown iff p < 0.05 / (4 x 15 x 30), as the published figures."""
    ours, err = table(cli, graded, "fr-heatmap")
    assert len(ours) == 30 * 3 * 15 * 2
    assert "a cell is shown where p < 2.78e-05" in err
    ours = ours.set_index(["model", "measure", "target"])
    cut = 0.05 / (4 * 15 * 30)
    for model in models(released):
        results, data, _ = kept(released, model)
        for family in ("fr", "bfr", "tok1"):
            for measure in figure_rows(family):
                x = results[released_column(measure)].to_numpy(float)
                name = f"-{measure}" if measure.endswith("prob") else measure
                for target in TARGETS:
                    y = data[target].to_numpy(float)
                    both = ~np.isnan(y) & ~np.isnan(x)
                    rho, p = spearmanr(-x[both] if name[0] == "-" else x[both], y[both])
                    row = ours.loc[(model, name, target)]
                    assert row["n"] == both.sum()
                    assert row["rho"] == pytest.approx(rho, abs=1e-12), (model, name, target)
                    assert row["p"] == pytest.approx(p, rel=1e-9)
                    assert np.isnan(row["cell"]) == (p >= cut)
    assert ours["threshold"].eq(cut).all()


def test_rms_ce_against_graded_and_multiple_choice_correctness(graded, released, cli) -> None:
    """The width rule written as a loop, with y the final grade (? left out: none on the kept
    rows) and, for --correctness mc, the multiple-choice answer being right (fault 4)."""
    for correctness in ("graded", "mc"):
        ours, err = table(cli, graded, "fr-rms-ce", "--correctness", correctness)
        assert ("fault 4" in err) == (correctness == "mc")
        ours = ours.set_index(["model", "measure"])
        assert len(ours) == 30 * 47
        for model in models(released)[::7]:
            results, data, grades = kept(released, model)
            if correctness == "graded":
                y = (grades["final_ruling"] == "Y").to_numpy(float)
            else:
                y = (results["cloze_pred"] == data["Correct_Answer"]).to_numpy(float)
            for measure in RELEASED_COLUMNS.values():
                if measure.startswith("fr_") and measure[3:] in ("bracket_found",
                                                                 "bracket_inferred", "hit_cap",
                                                                 "gen_length"):
                    continue
                row = ours.loc[(model, measure)]
                expected = width_loop(confidence(results, measure), y)
                assert row["rms_ce"] == pytest.approx(expected, abs=1e-12), (model, measure)
                assert row["accuracy"] == pytest.approx(y.mean(), abs=1e-15)


def test_ece_sweep_against_the_loop(graded, released, cli) -> None:
    ours = table(cli, graded, "fr-ece-sweep", "--measures", "bfr")[0].set_index(["model",
                                                                              "measure"])
    for model in models(released)[::5]:
        results, _, grades = kept(released, model)
        y = (grades["final_ruling"] == "Y").to_numpy(float)
        for measure in figure_rows("bfr"):
            value, bins = sweep_loop(confidence(results, measure), y)
            row = ours.loc[(model, measure)]
            assert row["ece_sweep"] == pytest.approx(value, abs=1e-12), (model, measure)
            assert row["bins"] == bins


def test_agreement_fact_fr_and_the_graders_kappa(graded, released, cli) -> None:
    """§6.3's Coane_fact_fr = int(100 * share graded Y) over the 419 rows, truncated; the two
    graders' raw agreement and Cohen's kappa (sklearn's) over the kept rows both marked (the
    stray 'B' of Llama_3.2_3B_Ins row 67 is not imported)."""
    ours = table(cli, graded, "fr-agreement")[0].set_index("model")
    for model in models(released):
        _, _, grades = kept(released, model)
        row = ours.loc[model]
        share = np.mean(grades["final_ruling"] == "Y")
        assert (row["n"], row["n_graded"], row["pending"]) == (419, 419, 0)
        assert row["fact_fr"] == int(100 * share)
        assert row["fact_fr_mean"] == pytest.approx(share, abs=1e-15)
        x, y = grades["x_fr_correct"], grades["y_fr_correct"]
        marks = x.isin(["Y", "N", "?"]) & y.isin(["Y", "N", "?"])   # a stray 'B' is not a mark
        x, y = x[marks], y[marks]
        assert row["n_both"] == marks.sum() == (418 if model == "Llama_3.2_3B_Ins" else 419)
        assert row["agreement"] == pytest.approx(np.mean(x == y), abs=1e-15)
        assert row["kappa"] == pytest.approx(cohen_kappa_score(x, y), abs=1e-12), model


def test_kappa_matches_sklearn_on_small_cases() -> None:
    a = pd.Series(["Y", "Y", "N", "?", "N", None])
    b = pd.Series(["Y", "N", "N", "?", "Y", "Y"])
    agree, kappa, n = grader_agreement(a, b)
    assert n == 5 and agree == pytest.approx(3 / 5)
    assert kappa == pytest.approx(cohen_kappa_score(a[:5], b[:5]), abs=1e-12)


def test_multiple_choice_tables_ignore_the_free_recall_runs(graded, cli) -> None:
    """With 30 free-recall runs beside the 30 scoring runs, heatmap still has 30 models (no
    run-id suffixes), and a free-recall table on scoring runs only is refused in one line."""
    ours = table(cli, graded, "heatmap", "--measures", "successor")[0]
    assert ours["model"].nunique() == 30 and not ours["model"].str.contains(r"\(").any()
    res = cli("analyze", "fr-agreement", "-d", "coane-graded", "--runs",
              "moore2026-Falcon3_1B", "-w", graded)
    assert res.code == 2 and "no free-recall run among these runs" in res.err
    assert "Traceback" not in res.err
