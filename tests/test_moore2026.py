"""The successor study's released results (data/moore2026) as runs: the Coane data file imported
with its human variables and its row index as id, the two ungradable questions left out as a
dataset version, the 30 released files imported in one command, and the alignment cells of its
heatmaps (SCIENCE-successor.md §6.1: Spearman, "prob" measures sign-flipped, normalised values)
computed by scipy straight from the released files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from datasets_io.dataset import load_dataset
from datasets_io.workspace import Workspace
from engine.store import read_results

COANE = Path("moore2026/Results/coane")
EXCLUDED = (117, 367)          # every model's final_ruling is '?' on these rows (§2.1)


@pytest.fixture(scope="module")
def released(data_dir: Path) -> Path:
    folder = data_dir / COANE
    if not (folder / "coane_data.parquet").exists():
        pytest.skip(f"the successor's released Coane results are not at {folder}")
    return folder


@pytest.fixture(scope="module")
def study(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with coane-s (all 421, options shuffled), coane-graded (419) and the 30
    released runs on coane-graded."""
    from tests.test_tui_support import cli_main

    ws = tmp_path_factory.mktemp("moore") / "ws"
    assert cli_main("import", "table", released / "coane_data.parquet", "--name", "coane-s",
                    "--id-col", "@index", "--human-col", "*_Human_*", "--human-col",
                    "human-ent", "-w", ws) == 0
    assert cli_main("datasets", "derive", "coane-s", "--name", "coane-graded",
                    *[a for row in EXCLUDED for a in ("--exclude", str(row))], "-w", ws) == 0
    assert cli_main("runs", "import", released, "--layout", "moore2026", "--dataset",
                    "coane-graded", "--no-answers", "-w", ws) == 0
    return ws


def _released(released: Path, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    results = pd.read_parquet(released / f"coane_{model}.parquet").drop(index=list(EXCLUDED))
    data = pd.read_parquet(released / "coane_data.parquet").drop(index=list(EXCLUDED))
    return results, data


def test_thirty_runs_with_what_they_came_from(study: Path, released: Path) -> None:
    runs = sorted(p.name for p in (study / "runs").iterdir())
    assert len(runs) == 30 and "moore2026-Llama_3.2_1B_Ins" in runs
    manifest = json.loads((study / "runs/moore2026-Gemma2_9B/manifest.json").read_text())
    imported = manifest["import"]
    assert (imported["layout"], imported["model_type"], imported["model_size"]) == (
        "moore2026", "base", 9)
    assert (imported["rows_matched"], imported["rows_not_in_dataset"]) == (419, 2)
    assert manifest["model"]["vocab_size"] == 256000
    assert "the label token sets" in imported["not_recoverable"]
    prompts = pd.read_parquet(study / "runs/moore2026-Gemma2_9B/released_prompts.parquet")
    assert len(prompts) == 419 and prompts["formatted_question_mcqa"].str.endswith("Answer:").all()


def test_label_probabilities_follow_the_shuffled_options(study: Path, released: Path) -> None:
    """The dataset shuffled the options: each stored cloze still names the option the model
    chose, and the label probabilities are the released ones, option for option."""
    ds = load_dataset(Workspace(study), "coane-graded").questions.set_index("question_id")
    results = read_results(study / "runs/moore2026-Falcon3_7B_Ins").set_index("question_id")
    file, _ = _released(released, "Falcon3_7B_Ins")
    moved = 0
    for row, rec in file.iterrows():
        q, r = ds.loc[str(row)], results.loc[str(row)]
        assert q["choices"][int(r["cloze"])] == rec["Answers"]["ABCD".index(rec["cloze_pred"])]
        if len(set(rec["Answers"])) < len(rec["Answers"]):
            continue          # rows 226 and 357 list an option twice: text cannot place it
        by_text = dict(zip(rec["Answers"], np.exp(rec["mc_choice-pdf"]), strict=True))
        assert r["label_probs"] == pytest.approx([by_text[c] for c in q["choices"]], rel=1e-12)
        moved += list(q["choices"]) != list(rec["Answers"])
    assert moved > 300        # most questions' options were shuffled


@pytest.mark.parametrize(("model", "target", "n"), [
    ("Llama_3.1_8B", "human-ent", 419), ("Gemma_2B_Ins", "MC_Human_Prop_Correct", 419),
    ("Falcon3_1B", "MC_Human_RT_Combined", 418),      # row 17's NaN (§2.1)
])
def test_alignment_cells_are_the_successors_rule(study, released, cli, model, target, n) -> None:
    res = cli("analyze", "alignment", "-d", "coane-graded", "--target", target, "--scale",
              "normalized", "-f", "csv", "-w", study)
    assert res.code == 0, res.err
    table = pd.read_csv(io.StringIO(res.out))
    table = table[table["model"] == model].set_index("measure")
    results, data = _released(released, model)
    for column, measure in (("mc_choice-ent", "choice_entropy"), ("mc_total-ent", "total_entropy"),
                            ("mc_top-1-prob", "-top1_prob"), ("mc_top-k-ent-10", "topk_entropy@10"),
                            ("mc_top-p-len-0.9", "topp_size@0.9"),
                            ("mc_top-p-ent-0.75", "topp_entropy@0.75")):
        sign = -1 if "prob" in column else 1      # §6.1: every measure read as an uncertainty
        keep = data[target].notna()
        rho = stats.spearmanr(data[target][keep], sign * results[column][keep])
        assert table.loc[measure, "n"] == n
        assert table.loc[measure, "spearman_rho"] == pytest.approx(rho.statistic, abs=1e-12)
        assert table.loc[measure, "spearman_p"] == pytest.approx(rho.pvalue, rel=1e-6)


def test_released_rows_must_be_the_datasets_questions(study, released, cli, data_dir) -> None:
    assert cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "trivia",
               "-w", study).code == 0
    res = cli("runs", "import", released / "coane_Gemma_7B.parquet", "--layout", "moore2026",
              "--dataset", "trivia", "-w", study)
    assert res.code == 2
    assert "dataset 'trivia' was not imported from a Parquet table" in res.err
    protoqa = released.parent / "protoqa" / "protoqa_data.parquet"
    assert cli("import", "table", protoqa, "--name", "protoqa", "--id-col", "@index",
               "-w", study).code == 0
    res = cli("runs", "import", released / "coane_Gemma_7B.parquet", "--layout", "moore2026",
              "--dataset", "protoqa", "-w", study)
    assert res.code == 2
    assert "row 1: the question is not question '0' of dataset 'protoqa'" in res.err
    res = cli("runs", "import", released / "coane_data.parquet", "--layout", "moore2026",
              "--dataset", "coane-s", "-w", study)
    assert res.code == 2 and "not a released results file" in res.err


def test_pairs_reproduce_the_published_wilcoxon_cell(study, cli) -> None:
    """SCIENCE-successor.md §6.1: Coane MCQA, human-ent, choice-ent: r = 0.900, p = 8.5e-4 over
    the 15 pairs, found by name."""
    res = cli("analyze", "pairs", "-d", "coane-graded", "--scale", "normalized", "--target",
              "human-ent", "-f", "csv", "-w", study)
    assert res.code == 0, res.err
    table = pd.read_csv(io.StringIO(res.out)).set_index("measure")
    row = table.loc["choice_entropy"]
    assert (row["n_pairs"], round(row["r_rb"], 3), round(row["p"], 5)) == (15, 0.9, 0.00085)
    assert row["threshold"] == pytest.approx(0.05 / len(table)) and row["significant"]
    assert "Llama_2_7B = Llama_2_7B_Chat" in res.err


def test_successor_scale_gives_the_released_values_back(study: Path, released: Path) -> None:
    """--scale successor is the successor's stored form (§4.2): every released mc_* column, the
    choice probability (not renormalised) from the label probabilities and their mass."""
    from engine.analysis.normalise import scaled_measure
    from engine.lab.tables import load

    a = load(Workspace(study), "coane-graded", ["moore2026-Llama_3.2_1B_Ins"])
    run = a.frame.set_index(a.frame["question_id"].astype(int)).sort_index()
    results, _ = _released(released, "Llama_3.2_1B_Ins")
    vocab = float(run["vocab_size"].iloc[0])
    pairs = {"mc_choice-prob": "choice_top1", "mc_top-1-prob": "top1_prob",
             "mc_total-ent": "total_entropy", "mc_choice-ent": "choice_entropy",
             **{f"mc_top-k-ent-{k}": f"topk_entropy@{k}" for k in (5, 100)},
             **{f"mc_top-p-ent-{p}": f"topp_entropy@{p}" for p in (0.95, 0.5)},
             "mc_top-p-len-0.9": "topp_size@0.9"}
    for column, measure in pairs.items():
        ours = scaled_measure(run, measure, "successor", vocab).to_numpy(float)
        theirs = results[column].to_numpy(float)
        assert ours == pytest.approx(theirs, abs=1e-12), column
    assert (results["mc_top-p-len-0.95"] == 128256).mean() > 0.9   # §4.2's bf16 stall, kept
