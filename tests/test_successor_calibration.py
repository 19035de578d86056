# ruff: noqa: F811  (pytest fixtures imported from tests.test_moore2026, tests.test_analyze_cli)
"""The successor study's calibration and agreement tables (SCIENCE-successor.md §6.2, §6.3):
`analyze rms-ce`, `ece-sweep` and `agreement-successor` on its 30 released Coane runs, each cell
checked against a computation written here straight from the released files (the mc_* columns,
correctness from cloze_pred == Correct_Answer, rows 117 and 367 dropped), the published cells
the text gives, and the binning's edge cases."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from common.errors import BadInput
from engine.analysis.successor_calibration import (
    agreement_successor_table,
    confidence,
    ece_sweep,
    rms_ce,
    sweep_chunks,
    width_bins,
)
from tests.test_analyze_cli import ws  # noqa: F401
from tests.test_moore2026 import EXCLUDED, released, study  # noqa: F401
from tests.test_runs_import import make_results

KINDS = (("mc_choice-ent", "choice_entropy"), ("mc_choice-prob", "choice_top1"),
         ("mc_total-ent", "total_entropy"), ("mc_top-1-prob", "top1_prob"),
         ("mc_top-k-ent-", "topk_entropy@"), ("mc_top-p-len-", "topp_size@"),
         ("mc_top-p-ent-", "topp_entropy@"))
# §6.2 takes the top-p length range over all 421 rows; the dataset holds 419. Where a dropped row
# holds the run's extreme length the confidences differ, and so do these cells at 3 decimals.
RANGE_OVER_421 = {("Falcon3_10B_Ins", f"topp_size@{p}") for p in (0.95, 0.9, 0.75)} | {
    ("Gemma2_9B_Ins", f"topp_size@{p}") for p in (0.95, 0.9, 0.75)}


def our_name(column: str) -> str:
    return next(ours + column[len(theirs):] for theirs, ours in KINDS if column.startswith(theirs))


def models(released: Path) -> list[str]:
    return sorted(p.stem.removeprefix("coane_") for p in released.glob("coane_*.parquet")
                  if p.stem != "coane_data")


def their_confidences(released: Path, model: str, *, range_rows: str = "kept"
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """§6.2's confidence of every mc_* column over the kept rows, and correctness. The top-p
    length range over the kept rows ("kept") or, as the successor, all 421 ("all")."""
    results = pd.read_parquet(released / f"coane_{model}.parquet")
    data = pd.read_parquet(released / "coane_data.parquet")
    kept = ~results.index.isin(EXCLUDED)
    y = (results["cloze_pred"] == data["Correct_Answer"]).to_numpy(float)[kept]
    lengths = results[[c for c in results if c.startswith("mc_top-p-len-")]].to_numpy(float)
    lengths = lengths if range_rows == "all" else lengths[kept]
    conf = {}
    for column in results:
        if not column.startswith("mc_") or column == "mc_choice-pdf":
            continue
        x = results[column].to_numpy(float)
        if "prob" in column:
            c = np.exp(x)
        elif "top-p-len" in column:
            c = 1 - (x - lengths.min()) / (lengths.max() - lengths.min())
        else:
            c = 1 - x
        conf[our_name(column)] = c[kept]
    return conf, y


def width_loop(conf: np.ndarray, y: np.ndarray) -> float:
    edges = np.linspace(0, 1, 16)
    total = 0.0
    for b in range(15):
        inside = (conf >= edges[b]) & ((conf < edges[b + 1]) | (b == 14))
        if inside.any():
            total += inside.mean() * (y[inside].mean() - conf[inside].mean()) ** 2
    return float(np.sqrt(total))


def sweep_loop(conf: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    order = np.argsort(conf)
    last = None
    for bins in range(1, y.size + 1):
        chunks = np.array_split(order, bins)
        acc = [y[c].mean() for c in chunks]
        if any(b < a for a, b in zip(acc, acc[1:], strict=False)):
            break
        last = chunks, acc
    chunks, acc = last
    error = sum(len(c) / y.size * (a - conf[c].mean()) ** 2 for c, a in zip(chunks, acc, strict=True))
    return float(np.sqrt(error)), len(chunks)


def table(cli, study: Path, name: str, *args: str) -> tuple[pd.DataFrame, str]:
    res = cli("analyze", name, "-d", "coane-graded", "-f", "csv", *args, "-w", study)
    assert res.code == 0, res.err
    return pd.read_csv(io.StringIO(res.out)), res.err


def test_rms_ce_is_the_width_rule_in_every_cell(study, released, cli) -> None:
    """All 30 models x 17 measures equal the width rule written out as a loop (1e-12). Against
    the successor's own range of top-p lengths (over 421 rows, which reproduces the published
    510/510) 504 cells agree at 3 decimals; the other 6 are the two runs whose extreme length is
    on a dropped row."""
    ours, err = table(cli, study, "rms-ce")
    assert "note: choice_margin: no successor confidence" in err
    ours = ours.set_index(["model", "measure"])
    assert (ours["bins"] == 15).all() and (ours["n"] == 419).all()
    off = set()
    for model in models(released):
        conf, y = their_confidences(released, model)
        theirs, _ = their_confidences(released, model, range_rows="all")
        assert len(conf) == 17
        for measure, c in conf.items():
            row = ours.loc[(model, measure)]
            assert row["rms_ce"] == pytest.approx(width_loop(c, y), abs=1e-12), (model, measure)
            assert row["accuracy"] == pytest.approx(y.mean(), abs=1e-15)
            if round(row["rms_ce"], 3) != round(width_loop(theirs[measure], y), 3):
                off.add((model, measure))
    assert len(ours) == 510 and off == RANGE_OVER_421


def test_published_width_cells(study, cli) -> None:
    """§6.2: the unnormalised choice probability gives an instruct model with little letter mass
    an error near its accuracy, "e.g. Llama_2_7B_Chat 0.775"."""
    ours, _ = table(cli, study, "rms-ce", "--measures", "choice_top1,choice_entropy")
    row = ours.set_index(["model", "measure"]).loc[("Llama_2_7B_Chat", "choice_top1")]
    assert round(row["rms_ce"], 3) == 0.775
    assert row["rms_ce"] == pytest.approx(row["accuracy"], abs=0.001)
    assert set(ours["measure"]) == {"choice_top1", "choice_entropy"}   # named as they are


def test_ece_sweep_is_the_sweep_rule_in_every_cell(study, released, cli) -> None:
    """Same rows in the same order as the released files, so np.argsort breaks ties alike and
    every cell, and its number of bins, is the loop's."""
    ours = table(cli, study, "ece-sweep")[0].set_index(["model", "measure"])
    for model in models(released):
        conf, y = their_confidences(released, model)
        for measure, c in conf.items():
            value, bins = sweep_loop(c, y)
            row = ours.loc[(model, measure)]
            assert row["ece_sweep"] == pytest.approx(value, abs=1e-12), (model, measure)
            assert row["bins"] == bins, (model, measure)
    assert len(ours) == 510


def test_agreement_cells_are_truncated(study, released, cli) -> None:
    """§6.3: int(100 * mean), truncated, for all 30 models. The human top answer is the first
    of tied ones in the *dataset's* option order; coane-graded shuffled the options, so on
    question 273 (Illness and Clowns tied) Falcon3_1B_Ins's "Clowns" counts here and not in
    the successor's order: its mean is 1/419 higher, its truncated cell the same."""
    ours = table(cli, study, "agreement-successor")[0].set_index("model")
    data = pd.read_parquet(released / "coane_data.parquet").drop(index=list(EXCLUDED))
    first_top = np.array(["ABCD"[int(np.argmax(r))] for r in data["Answer_Ratios"]])
    for model in models(released):
        cloze = pd.read_parquet(released / f"coane_{model}.parquet").drop(
            index=list(EXCLUDED))["cloze_pred"].to_numpy()
        fact = np.mean(cloze == data["Correct_Answer"].to_numpy())
        human = np.mean(cloze == first_top)
        row = ours.loc[model]
        assert (row["fact_mc"], row["human"]) == (int(100 * fact), int(100 * human)), model
        assert (row["n_fact_mc"], row["n_human"]) == (419, 419)
        assert row["fact_mc_mean"] == pytest.approx(fact, abs=1e-15)
        shift = 1 / 419 if model == "Falcon3_1B_Ins" else 0.0
        assert row["human_mean"] == pytest.approx(human + shift, abs=1e-15), model
    assert (ours["human"] <= 100 * ours["human_mean"]).all()


def test_agreement_in_the_successors_option_order(released, cli, tmp_path: Path) -> None:
    """Imported without shuffling, the options keep the successor's order and the one
    difference above goes."""
    ws = tmp_path / "ws"
    assert cli("import", "table", released / "coane_data.parquet", "--name", "coane-o",
               "--id-col", "@index", "--no-shuffle", "-w", ws).code == 0
    assert cli("datasets", "derive", "coane-o", "--name", "graded", "--exclude", "117",
               "--exclude", "367", "-w", ws).code == 0
    assert cli("runs", "import", released / "coane_Falcon3_1B_Ins.parquet", "--layout",
               "moore2026", "--dataset", "graded", "-w", ws).code == 0
    res = cli("analyze", "agreement-successor", "-d", "graded", "-f", "csv", "-w", ws)
    row = pd.read_csv(io.StringIO(res.out)).iloc[0]
    assert row["human_mean"] * 419 == pytest.approx(237, abs=1e-9)
    assert (row["human"], row["fact_mc"]) == (56, 57)


def test_a_dataset_without_answers_gives_the_human_part(cli, ws, tmp_path) -> None:
    """Either part is enough for agreement-successor; the other is NaN, with a note."""
    results = make_results(ws, "shares-only", seed=3, noise=1.0)
    results.to_csv(tmp_path / "s.csv", index=False)
    assert cli("runs", "import", tmp_path / "s.csv", "--dataset", "shares-only", "--model-name",
               "toy-s", "--run-id", "s-toy", "-w", ws).code == 0
    res = cli("analyze", "agreement-successor", "-d", "shares-only", "-f", "csv", "-w", ws)
    assert res.code == 0, res.err
    assert "note: dataset 'shares-only' has no correct answers: fact_mc is NaN" in res.err
    row = pd.read_csv(io.StringIO(res.out)).iloc[0]
    assert np.isnan(row["fact_mc"]) and row["n_fact_mc"] == 0 and row["n_human"] == 421
    questions = pd.read_parquet(ws / "datasets/shares-only/questions.parquet")
    first_top = questions["human_share"].map(np.argmax).to_numpy()
    hits = np.mean(results["cloze"].map("ABCD".index).to_numpy() == first_top)
    assert (row["human"], row["human_mean"]) == (int(100 * hits), pytest.approx(hits, abs=1e-15))
    res = cli("analyze", "agreement-successor", "-d", "mmlu", "-f", "csv", "-w", ws)
    assert "note: dataset 'mmlu' has no human response shares: human is NaN" in res.err
    assert pd.read_csv(io.StringIO(res.out))["human"].isna().all()
    res = cli("analyze", "rms-ce", "-d", "shares-only", "-w", ws)
    assert res.code == 2 and "rms-ce needs a benchmark with answers" in res.err


def test_refusals_and_skipped_measures(study, cli) -> None:
    res = cli("analyze", "ece-sweep", "-d", "coane-graded", "--measures", "choice_margin",
              "-w", study)
    assert res.code == 2
    assert "no measure of these runs has a successor confidence (ece-sweep)" in res.err
    res = cli("analyze", "rms-ce", "-d", "coane-graded", "--measures", "nonsense", "-w", study)
    assert res.code == 2 and "measure(s) nonsense not in these runs" in res.err


def test_width_bins_edges() -> None:
    """conf = 1 is in the last bin, 0 in the first; each inner edge opens its bin."""
    edges = np.linspace(0, 1, 16)
    assert width_bins(edges).tolist() == [*range(15), 14]
    assert width_bins(np.array([0.0, 1e-12, 1 - 1e-12, 1.0])).tolist() == [0, 0, 14, 14]
    assert rms_ce(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert rms_ce(np.array([0.0, 0.0]), np.array([0.0, 0.0])) == 0.0


def test_sweep_edges() -> None:
    # already decreasing at 2 bins: B = 1, |mean y - mean conf|
    assert ece_sweep(np.array([0.2, 0.4]), np.array([1.0, 0.0])) == (pytest.approx(0.2), 1)
    # monotone up to one row per bin
    conf, y = np.array([0.3, 0.1, 0.2]), np.array([1.0, 0.0, 0.0])
    assert ece_sweep(conf, y) == (pytest.approx(np.sqrt((0.01 + 0.04 + 0.49) / 3)), 3)
    for n, bins in ((10, 3), (419, 17), (5, 5), (7, 1)):
        expected = np.concatenate([np.full(len(c), i)
                                   for i, c in enumerate(np.array_split(np.arange(n), bins))])
        assert sweep_chunks(n, bins).tolist() == expected.tolist()


def test_confidence_of_each_kind() -> None:
    run = pd.DataFrame({"top1_prob": [0.5, 0.25], "choice_top1": [0.5, 1.0],
                        "choice_mass": [0.5, 0.1],
                        "label_probs": [[0.25, 0.15, 0.1, 0.0], [0.1, 0.0, 0.0, 0.0]],
                        "choice_entropy": [0.0, np.log(4) * 2],
                        "n_choices": [4, 4], "topp_size@0.9": [3, 5], "topp_size@0.5": [1, 2],
                        "vocab_size": [None, None], "choice_margin": [0.1, 0.2]})
    sizes = ["topp_size@0.9", "topp_size@0.5"]
    assert confidence(run, "top1_prob", sizes) == pytest.approx([0.5, 0.25])
    assert confidence(run, "choice_top1", sizes) == pytest.approx([0.25, 0.1])   # not renormalised
    assert confidence(run, "choice_entropy", sizes) == pytest.approx([1.0, 0.0])  # clipped at 1
    assert confidence(run, "topp_size@0.9", sizes) == pytest.approx([0.5, 0.0])   # over both
    with pytest.raises(BadInput, match="no successor confidence"):
        confidence(run, "choice_margin", sizes)
    flat = run.assign(**{"topp_size@0.9": [2, 2], "topp_size@0.5": [2, 2]})
    with pytest.raises(BadInput, match="every top-p set size is 2"):
        confidence(flat, "topp_size@0.5", sizes)


def test_agreement_without_either_part_is_nan() -> None:
    frame = pd.DataFrame({"model": ["m", "m"], "cloze": [0, 1], "correct": [np.nan, np.nan],
                          "human_first_top": [0.0, 0.0]})
    a = SimpleNamespace(frame=frame, dataset=SimpleNamespace(name="d"))
    result = agreement_successor_table(a)
    row = result.table.iloc[0]
    assert np.isnan(row["fact_mc"]) and row["n_fact_mc"] == 0
    assert (row["human"], row["human_mean"], row["n_human"]) == (50, 0.5, 2)
    assert result.notes == ["dataset 'd' has no correct answers: fact_mc is NaN"]
