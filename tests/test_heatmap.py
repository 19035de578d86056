# ruff: noqa: F811  (pytest fixtures imported from tests.test_moore2026)
"""The successor's alignment heatmap (SCIENCE-successor.md §6.1) over its 30 released Coane runs:
every cell against scipy on the released files, the Bonferroni blanks, and published facts of the
figures (293 printed cells in the human-entropy figure; the largest printed p of the response-time
figure, 2.40e-5; the Wilcoxon column's choice-entropy cell, r = 0.900)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.analysis.heatmap import threshold
from tests.test_moore2026 import _released, released, study  # noqa: F401

# the successor's 17 multiple-choice columns and alignuq's measures (§6.1)
COLUMNS = {"mc_choice-ent": "choice_entropy", "mc_choice-prob": "choice_top1",
           "mc_total-ent": "total_entropy", "mc_top-1-prob": "top1_prob",
           **{f"mc_top-k-ent-{k}": f"topk_entropy@{k}" for k in (5, 10, 25, 50, 100)},
           **{f"mc_top-p-len-{p}": f"topp_size@{p}" for p in (0.95, 0.9, 0.75, 0.5)},
           **{f"mc_top-p-ent-{p}": f"topp_entropy@{p}" for p in (0.95, 0.9, 0.75, 0.5)}}
MODELS = 30


def _heatmap(cli, ws: Path, target: str, *extra: str) -> pd.DataFrame:
    res = cli("analyze", "heatmap", "-d", "coane-graded", "--target", target, "--scale",
              "successor", "--measures", "successor", "-f", "csv", *extra, "-w", ws)
    assert res.code == 0, res.err
    return pd.read_csv(io.StringIO(res.out))


def test_every_cell_is_scipys_spearman_on_the_released_files(study, released, cli) -> None:
    table = _heatmap(cli, study, "MC_Human_Prop_Correct").set_index(["model", "measure"])
    cut = 0.05 / (4 * len(COLUMNS) * MODELS)
    assert table["threshold"].unique().tolist() == [cut] and len(table) == MODELS * 17
    models = sorted({m for m, _ in table.index})
    shown = 0
    for model in models:
        results, data = _released(released, model)
        for column, measure in COLUMNS.items():
            sign = -1 if "prob" in column else 1
            want = stats.spearmanr(data["MC_Human_Prop_Correct"], sign * results[column])
            row = table.loc[(model, f"-{measure}" if sign < 0 else measure)]
            assert row["rho"] == pytest.approx(want.statistic, abs=1e-12), (model, column)
            assert row["p"] == pytest.approx(want.pvalue, rel=1e-6)
            if want.pvalue < cut:
                assert row["cell"] == row["rho"]
                shown += 1
            else:
                assert np.isnan(row["cell"])
    assert shown == table["cell"].notna().sum() > 0


def test_the_published_figures_blanks(study, cli) -> None:
    human = _heatmap(cli, study, "human-ent")
    assert human["cell"].notna().sum() == 293           # §2.1: 293/293 printed cells
    rt = _heatmap(cli, study, "MC_Human_RT_Combined")
    assert f"{rt.loc[rt['cell'].notna(), 'p'].max():.2e}" == "2.40e-05"   # §6.1's table, M = 17
    assert set(rt["n"]) == {418}


def test_the_wide_form_is_the_figure_with_the_wilcoxon_column(study, cli) -> None:
    wide = _heatmap(cli, study, "human-ent", "--wide").set_index("measure")
    assert wide.shape == (17, 1 + MODELS + 2)
    assert list(wide.index) == [f"-{m}" if "prob" in c else m for c, m in COLUMNS.items()]
    assert round(wide.loc["choice_entropy", "wilcoxon_r"], 3) == 0.9
    assert wide.loc["choice_entropy", "wilcoxon_p"] == pytest.approx(8.5e-4, abs=5e-6)
    shown = wide["wilcoxon_r"].notna()
    assert (wide.loc[shown, "wilcoxon_p"] < 0.05 / 17).all()
    assert (wide.loc[~shown, "wilcoxon_p"] >= 0.05 / 17).all()


def test_the_divisor_can_be_given() -> None:
    assert threshold(0, 17, 30) == pytest.approx(2.45e-5, rel=1e-3)
    assert threshold(2040, 17, 32) == threshold(0, 17, 30)


@pytest.mark.parametrize(("analysis", "value", "options"), [
    ("rms-ce", "rms_ce", ()), ("ece-sweep", "ece_sweep", ()),
    ("alignment", "r", ("--target", "human-ent")), ("calibration", "spearman_rho", ()),
    ("ece", "ece", ()), ("jsd", "shift", ("--permutations", "20")),
])
def test_every_figure_pairs_its_cells(study, cli, analysis, value, options) -> None:
    """The base-versus-instruct column of each table's figure (§6.2 for the calibration errors,
    where negative r means the base models are better calibrated) against scipy on the long
    table's cells, the 15 pairs found here by name."""
    def run(*extra: str) -> pd.DataFrame:
        res = cli("analyze", analysis, "-d", "coane-graded", *options, *extra, "-f", "csv",
                  "-w", study)
        assert res.code == 0, res.err
        return pd.read_csv(io.StringIO(res.out))

    long = run()
    if "subject" in long:
        long = long[long["subject"] == "ALL"]
    rows = ["measure", "method"] if "method" in long else ["measure"]
    cells = long.set_index(["model", *rows])[value]
    wide = run("--wide").set_index(rows)
    models = set(long["model"])
    bases = sorted(m for m in models if not m.endswith(("_Ins", "_Chat")))
    instruct = {b: next(m for m in models if m.startswith(b + "_") and m != b and
                        m[len(b) + 1:] in ("Ins", "Chat")) for b in bases}
    assert len(bases) == 15 and len(wide) == len(long) / 30
    for key, row in wide.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        assert row[list(models)].to_dict() == pytest.approx(
            {m: cells[(m, *key)] for m in models}, abs=1e-15)
        d = np.array([cells[(b, *key)] - cells[(instruct[b], *key)] for b in bases])
        d = d[d != 0]
        ranks = stats.rankdata(np.abs(d))
        r = (ranks[d > 0].sum() - ranks[d < 0].sum()) / (d.size * (d.size + 1) / 2)
        p = stats.wilcoxon(d).pvalue
        assert row["wilcoxon_p"] == pytest.approx(p, rel=1e-9)
        if p < 0.05 / len(wide):
            assert row["wilcoxon_r"] == pytest.approx(r, abs=1e-12)
        else:
            assert np.isnan(row["wilcoxon_r"])
    assert wide["wilcoxon_r"].notna().any() or analysis == "jsd"   # no jsd pair differs
