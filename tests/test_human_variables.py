"""Per-question human variables (a share correct, response times): imported from a table with
--human-col, stored as typed columns, listed by `datasets show`, written by `datasets questions`,
kept by a derived version; Parquet tables with list columns import like CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets_io.dataset import load_dataset
from datasets_io.workspace import Workspace
from tests.test_tui_support import tui_ws  # noqa: F401

SUCCESSOR_COANE = Path("moore2026/Results/coane/coane_data.parquet")


@pytest.fixture
def successor_coane(data_dir: Path) -> Path:
    path = data_dir / SUCCESSOR_COANE
    if not path.exists():
        pytest.skip(f"the successor's released Coane data is not at {path}")
    return path


def test_successor_coane_parquet_imports_with_every_human_variable(successor_coane, ws_dir, cli):
    res = cli("import", "table", successor_coane, "--name", "coane-s", "--no-shuffle",
              "--human-col", "*_Human_*", "--human-col", "ent=human-ent")
    assert res.code == 0, res.err
    assert "choice_cols=Answers share_cols=Answer_Ratios" in res.err   # the list columns
    source = pd.read_parquet(successor_coane)
    wanted = [c for c in source.columns if "_Human_" in c]
    shown = json.loads(cli("datasets", "show", "coane-s", "--format", "json").out)
    assert list(shown["human_variables"]) == [*wanted, "ent"]
    assert shown["human_variables"] == {**{c: int(source[c].notna().sum()) for c in wanted},
                                        "ent": 421}
    assert shown["human_variables"]["FR_Human_RT_DR"] == 421 - 43     # SCIENCE-successor §2.1
    ds = load_dataset(Workspace(ws_dir), "coane-s")
    assert ds.questions["human:MC_Human_RT_Combined"].dtype == np.float64
    by_text = source.set_index(source["Question"].str.strip())
    for _, q in ds.questions.iterrows():
        row = by_text.loc[q["text"]]
        assert q["choices"] == [str(a) for a in row["Answers"]]        # the file's order
        ratios = np.asarray(row["Answer_Ratios"], float)   # they sum to 0.994-1.005
        assert q["human_share"] == pytest.approx(ratios / ratios.sum(), abs=1e-12)
        assert "ABCD"[q["correct"]] == row["Correct_Answer"]
        for column in wanted:
            assert q[f"human:{column}"] == pytest.approx(row[column], nan_ok=True, abs=0)
        assert q["human:ent"] == row["human-ent"]


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "survey.csv"
    path.write_text(text, encoding="utf-8")
    return path


WIDE = ("item,question,option_1,option_2,share_1,share_2,rt,pc\n"
        "q1,Tea or coffee?,Tea,Coffee,0.4,0.6,1200.5,0.75\n"
        "q2,Cats or dogs?,Cats,Dogs,0.5,0.5,,0.5\n")


def test_wide_csv_human_columns_and_the_files_that_show_them(tmp_path, ws_dir, cli):
    f = _csv(tmp_path, WIDE)
    assert cli("import", "table", f, "--name", "s", "--human-col", "rt_ms=rt",
               "--human-col", "pc").code == 0
    shown = cli("datasets", "show", "s").out
    assert "human variables  rt_ms (1), pc (2)" in shown
    rows = pd.read_csv(pd.io.common.StringIO(cli("datasets", "questions", "s").out))
    assert list(rows.columns[-2:]) == ["human:rt_ms", "human:pc"]
    assert rows.set_index("question_id")["human:rt_ms"].to_dict() == {"q1": 1200.5,
                                                                       "q2": pytest.approx(np.nan, nan_ok=True)}
    records = json.loads(cli("datasets", "questions", "s", "--format", "json").out)
    assert [r["human"] for r in records] == [{"rt_ms": 1200.5, "pc": 0.75},
                                             {"rt_ms": None, "pc": 0.5}]
    # a version made by leaving a question out keeps the variables of the others
    assert cli("datasets", "derive", "s", "--name", "s2", "--exclude", "q2").code == 0
    derived = load_dataset(Workspace(ws_dir), "s2").questions
    assert derived[["question_id", "human:rt_ms", "human:pc"]].values.tolist() == [
        ["q1", 1200.5, 0.75]]


@pytest.mark.parametrize(("text", "args", "message"), [
    (WIDE.replace("1200.5", "slow"), ["--human-col", "rt"],
     "row 2, column 'rt', question 'q1': 'slow' is not a number (human variable)"),
    (WIDE, ["--human-col", "rt=reaction"], "column 'reaction' (--human-col rt=reaction) not found"),
    (WIDE, ["--human-col", "time_*"], "no column matches 'time_*' (--human-col)"),
    (WIDE, ["--human-col", "a b=rt"], "'a b' cannot name a human variable"),
    (WIDE, ["--human-col", "x=rt", "--human-col", "x=pc"], "two columns for human variable 'x'"),
    ("id,question,answer,share,rt\nq1,Tea?,Tea,0.4,900\nq1,Tea?,Coffee,0.6,950\n",
     ["--human-col", "rt"], "row 3, column 'rt', question 'q1': human variable 'rt' is 950 here "
                            "but 900 on row 2"),
])
def test_bad_human_columns_are_one_line_exit_2(tmp_path, ws_dir, cli, text, args, message):
    res = cli("import", "table", _csv(tmp_path, text), "--name", "s", *args)
    assert res.code == 2
    assert message in res.err
    assert len(res.err.strip().splitlines()) <= 2 and "Traceback" not in res.err
    assert not (ws_dir / "datasets" / "s").exists()


def test_long_layout_takes_the_value_its_rows_give(tmp_path, ws_dir, cli):
    f = _csv(tmp_path, "id,question,answer,share,rt\nq1,Tea?,Tea,0.4,900\nq1,Tea?,Coffee,0.6,\n"
                       "q2,Cats?,Cats,0.5,\nq2,Cats?,Dogs,0.5,\n")
    assert cli("import", "table", f, "--name", "s", "--human-col", "rt").code == 0
    q = load_dataset(Workspace(ws_dir), "s").questions.set_index("question_id")
    assert q.loc["q1", "human:rt"] == 900 and np.isnan(q.loc["q2", "human:rt"])


def test_parquet_list_columns_of_unequal_length_are_refused(tmp_path, ws_dir, cli):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"question": ["Tea or coffee?"], "options": [["Tea", "Coffee"]],
                  "shares": [[1.0]]}).to_parquet(path)
    res = cli("import", "table", path, "--name", "s")
    assert res.code == 2
    assert "row 1, column 'shares', question 't-" in res.err and "2 options but 1 shares" in res.err


def test_alignment_against_a_human_variable_is_scipys(tui_ws: Path, cli) -> None:  # noqa: F811
    """`--target correct_share`: each cell is scipy's Pearson r and Spearman rho of the variable
    (the share choosing the correct answer, in the file) and the run's measure (its CSV), a
    certainty negated; the table and its title say which target."""
    from scipy import stats

    res = cli("analyze", "alignment", "-d", "coane", "--target", "correct_share",
              "--measures", "total_entropy,top1_prob", "-f", "csv", "-w", tui_ws)
    assert res.code == 0, res.err
    table = pd.read_csv(pd.io.common.StringIO(res.out)).set_index(["model", "measure"])
    assert set(table["target"]) == {"correct_share"}
    human = pd.read_csv(tui_ws.parent / "coane-with-pc.csv").set_index("item")["pc"]
    for model in ("toy-a", "toy-b"):
        run = pd.read_csv(tui_ws.parent / f"coane-{model}.csv").set_index("question_id")
        x = human.loc[run.index].to_numpy()
        for measure, values in (("total_entropy", run["total_entropy"]),
                                ("-top1_prob", -run["top1_prob"])):
            row = table.loc[(model, measure)]
            assert row["n"] == 421
            assert row["r"] == pytest.approx(stats.pearsonr(x, values).statistic, abs=1e-12)
            assert row["p"] == pytest.approx(stats.pearsonr(x, values).pvalue, rel=1e-9)
            assert row["spearman_rho"] == pytest.approx(stats.spearmanr(x, values).statistic,
                                                        abs=1e-12)
    human_table = cli("analyze", "alignment", "-d", "coane", "--target", "correct_share",
                      "-w", tui_ws).out
    assert human_table.splitlines()[0] == ("alignment | dataset coane | scale raw | target "
                                           "correct_share")
