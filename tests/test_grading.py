"""Free-recall answers and their grades: the successor's released answers imported as generation
runs, its 30 released grading files imported (SCIENCE-successor.md §5.5: raw agreement 0.954
overall, 0.656 for Gemma2_9B_Ins, '?' only on rows 117 and 367), the final-grade rule, stale
grades, Cohen's kappa against sklearn, the automatic pre-grade and the CSV round trip."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from datasets_io.workspace import Workspace
from engine import grading as g
from engine.lab import grading as lab
from engine.store import read_generations, read_manifest, read_results

COANE = Path("moore2026/Results/coane")
GRADING = Path("moore2026/coane_grading")
MODEL = "Gemma2_9B_Ins"


@pytest.fixture(scope="module")
def released(data_dir: Path) -> Path:
    folder = data_dir / COANE
    if not (folder / "coane_data.parquet").exists() or not (data_dir / GRADING).is_dir():
        pytest.skip(f"the successor's released Coane results are not at {folder}")
    return folder


@pytest.fixture(scope="module")
def coane(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coane-s (all 421 questions) with the 30 released files imported with their answers."""
    from tests.test_tui_support import cli_main

    ws = tmp_path_factory.mktemp("grading") / "ws"
    assert cli_main("import", "table", released / "coane_data.parquet", "--name", "coane-s",
                    "--id-col", "@index", "--human-col", "*_Human_*", "-w", ws) == 0
    assert cli_main("runs", "import", released, "--layout", "moore2026", "--dataset", "coane-s",
                    "-w", ws) == 0
    return ws


def _released_measure(column: str) -> str:
    """The shared design's mapping, written out independently of engine.free_recall_names."""
    prefix, _, rest = column.partition("_")
    if prefix == "fr" and rest.startswith("tok1_"):
        prefix, rest = "tok1", rest[len("tok1_"):]
    if column in ("fr_bracket_found", "fr_bracket_inferred", "fr_hit_cap", "fr_gen_length"):
        return column
    for released, ours in (("total-ent", "total_entropy"), ("first-token-ent", "first_token_entropy"),
                           ("top-1-prob", "top1_prob"), ("ppl", "perplexity")):
        if rest == released:
            return f"{prefix}_{ours}"
    for released, ours in (("top-k-ent-", "topk_entropy@"), ("top-p-len-", "topp_size@"),
                           ("top-p-ent-", "topp_entropy@")):
        if rest.startswith(released):
            return f"{prefix}_{ours}{rest[len(released):]}"
    raise AssertionError(column)


def test_released_answers_are_a_generation_run(coane: Path, released: Path) -> None:
    run_dir = coane / "runs" / f"moore2026-{MODEL}-fr"
    manifest = read_manifest(run_dir)
    assert manifest["task"] == "generate" and manifest["source"] == "import"
    assert manifest["model"]["name"] == MODEL
    assert manifest["import"]["file"].endswith(f"coane_{MODEL}.parquet")
    assert read_manifest(coane / "runs" / f"moore2026-{MODEL}")["task"] == "score"
    file = pd.read_parquet(released / f"coane_{MODEL}.parquet")
    gens = read_generations(run_dir).set_index("question_id")
    assert len(gens) == 421 and set(gens["stop"]) == {"released"}
    assert gens["token_ids"].isna().all()
    assert [gens.loc[str(i), "answer"] for i in range(421)] == list(file["fr_model_answer"])
    results = read_results(run_dir).set_index("question_id")
    assert (results["cloze"] == -1).all() and (results["choice_mass"] == 0.0).all()
    assert all(len(p) == 0 for p in results["label_probs"])
    columns = [c for c in file.columns if c.startswith(("fr_", "bfr_")) and c != "fr_model_answer"
               and not c.startswith("bfr_tok1_") and c != "fr_correct?"]
    assert len(columns) == 51
    for column in columns:
        stored = results.loc[[str(i) for i in range(421)], _released_measure(column)].to_numpy()
        assert np.array_equal(stored, file[column].to_numpy(float)), column


def test_thirty_grading_files_give_the_published_agreement(coane: Path, data_dir: Path,
                                                           cli) -> None:
    agree = both = 0
    unsure: set[str] = set()
    for file in sorted((data_dir / GRADING).glob("coane_*.parquet")):
        model = file.stem.removeprefix("coane_")
        res = cli("grade", "import", file, "--run", f"moore2026-{model}-fr", "-w", coane)
        assert res.code == 0, res.err
        run = lab.open_run(Workspace(coane), f"moore2026-{model}-fr")
        summary, table = run.summary(), run.table()
        released = pd.read_parquet(file)
        x, y = released["x_fr_correct"], released["y_fr_correct"]
        ok = x.isin(list(g.GRADES)) & y.isin(list(g.GRADES))      # one stray 'B' (§5.5)
        assert summary.both == ok.sum()
        assert summary.agreement == pytest.approx((x == y)[ok].mean(), abs=1e-12)
        assert summary.kappa == pytest.approx(cohen_kappa_score(x[ok], y[ok]), abs=1e-12)
        assert list(table["final"]) == list(released["final_ruling"])   # the settler's, always
        agree += int((x == y)[ok].sum())
        both += int(ok.sum())
        unsure |= set(table.index[table["final"] == "?"])
        if model == MODEL:
            assert round(summary.agreement, 3) == 0.656
            assert "raw agreement 0.656" in cli("grade", "status", f"moore2026-{model}-fr",
                                                "-w", coane).out
        if model == "Llama_3.2_3B_Ins":
            assert "question 67: y_fr_correct 'B' is not Y, N or ?" in res.err
    assert round(agree / both, 3) == 0.954
    assert unsure == {"117", "367"}


def test_a_grading_file_of_another_model_is_refused(coane: Path, data_dir: Path, cli) -> None:
    before = g.read_grades(coane / "runs/moore2026-Gemma_7B-fr")
    res = cli("grade", "import", data_dir / GRADING / "coane_Gemma_2B.parquet", "--run",
              "moore2026-Gemma_7B-fr", "-w", coane)
    assert res.code == 2 and "Traceback" not in res.err
    released = pd.read_parquet(data_dir / GRADING / "coane_Gemma_2B.parquet")
    ours = pd.read_parquet(data_dir / COANE / "coane_Gemma_7B.parquet")
    first = int(np.flatnonzero(released["fr_model_answer"] != ours["fr_model_answer"])[0])
    assert f"question '{first}'" in res.err
    assert g.read_grades(coane / "runs/moore2026-Gemma_7B-fr").equals(before)   # nothing written


def test_rows_beyond_the_dataset_are_counted_and_skipped(coane, data_dir, cli, tmp_path) -> None:
    from tests.test_tui_support import cli_main

    ws = tmp_path / "ws"
    assert cli_main("import", "table", data_dir / COANE / "coane_data.parquet", "--name", "c",
                    "--id-col", "@index", "-w", ws) == 0
    assert cli_main("datasets", "derive", "c", "--name", "graded", "--exclude", "117",
                    "--exclude", "367", "-w", ws) == 0
    assert cli_main("runs", "import", data_dir / COANE / f"coane_{MODEL}.parquet", "--layout",
                    "moore2026", "--dataset", "graded", "-w", ws) == 0
    gens = read_generations(ws / f"runs/moore2026-{MODEL}-fr")
    assert len(gens) == 419 and not {"117", "367"} & set(gens["question_id"])
    res = cli("grade", "import", data_dir / GRADING / f"coane_{MODEL}.parquet", "--run",
              f"moore2026-{MODEL}-fr", "-w", ws)
    assert res.code == 0, res.err
    assert "2 row(s) of questions the dataset leaves out skipped" in res.err
    grades = g.read_grades(ws / f"runs/moore2026-{MODEL}-fr")
    assert len(grades) == 3 * 419 and set(grades["role"]) == {"grader", "settler"}


def test_final_grade_rule_stale_grades_and_kappa(coane: Path, cli) -> None:
    """A fresh run's grades by hand: agreement, disagreement, a settler, a stale grade."""
    run_id = "moore2026-Falcon3_1B-fr"
    run_dir = coane / "runs" / run_id
    (run_dir / g.GRADES_FILE).unlink(missing_ok=True)
    marks = {"0": ("Y", "Y"), "1": ("N", "N"), "2": ("Y", "N"), "3": ("?", "N"), "4": ("Y", "Y"),
             "5": ("N", "Y"), "6": ("Y", "Y")}
    for qid, (a, b) in marks.items():
        assert cli("grade", "set", run_id, qid, a, "--annotator", "ann", "-w", coane).code == 0
        assert cli("grade", "set", run_id, qid, b.lower(), "--annotator", "bob",
                   "-w", coane).code == 0
    assert cli("grade", "set", run_id, "2", "N", "--annotator", "cy", "--settle",
               "-w", coane).code == 0
    third = cli("grade", "set", run_id, "0", "Y", "--annotator", "dee", "-w", coane)
    assert third.code == 2 and "two graders" in third.err
    bad = cli("grade", "set", run_id, "0", "B", "--annotator", "ann", "-w", coane)
    assert bad.code == 2 and "not Y, N or ?" in bad.err
    # question 6 was graded when its answer read otherwise: stale, never counted
    answer6 = read_generations(run_dir).set_index("question_id").loc["6", "answer"]
    g.write_grades(run_dir, [g.Grade("6", "bob", "N", "grader", answer6 + " (old)")])
    run = lab.open_run(Workspace(coane), run_id)
    table = run.table()
    assert table.loc["0", "final"] == "Y" and table.loc["1", "final"] == "N"
    assert table.loc["2", "final"] == "N"                     # settled
    assert table.loc["3", "final"] is None and table.loc["5", "final"] is None   # pending
    assert table.loc["6", "grade_b"] is None and table.loc["6", "stale"] == 1
    assert table.loc["6", "final"] is None
    assert table.loc["10", "final"] is None                   # never graded
    assert list(g.to_settle(table).index) == ["2", "3", "5"]
    a = [marks[q][0] for q in "012345"]
    b = [marks[q][1] for q in "012345"]
    s = run.summary()
    assert (s.both, s.disagreements, s.stale, s.settled) == (6, 3, 1, 1)
    assert s.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert s.agreement == pytest.approx(np.mean(np.array(a) == np.array(b)), abs=1e-12)
    final = g.final_grades(run_dir)
    assert final.loc["0", "fr_correct"] == 1.0 and final.loc["2", "fr_correct"] == 0.0
    assert math.isnan(final.loc["3", "fr_correct"]) and final.loc["3", "grade_a"] == "?"
    graded_at = g.read_grades(run_dir)["graded_at"]
    assert graded_at.str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$").all()


def test_grades_file_honours_the_umask(coane: Path, cli) -> None:
    run_dir = coane / "runs/moore2026-Falcon3_3B-fr"
    (run_dir / g.GRADES_FILE).unlink(missing_ok=True)
    old = os.umask(0o027)
    try:
        assert cli("grade", "set", "moore2026-Falcon3_3B-fr", "0", "Y", "--annotator", "ann",
                   "-w", coane).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((run_dir / g.GRADES_FILE).stat().st_mode) == 0o640


def test_export_then_import_gives_the_same_grades(coane: Path, data_dir: Path, cli,
                                                   tmp_path: Path) -> None:
    run_id = "moore2026-Mistral_0.3-fr"
    assert cli("grade", "import", data_dir / GRADING / "coane_Mistral_0.3.parquet", "--run",
               run_id, "-w", coane).code == 0
    assert cli("grade", "auto", run_id, "-w", coane).code == 0
    first = tmp_path / "grades.csv"
    assert cli("grade", "export", run_id, "--out", first, "-w", coane).code == 0
    sidecar = json.loads((tmp_path / "grades.csv.provenance.json").read_text())
    assert sidecar["run_id"] == run_id and sidecar["rows"] == 4 * 421
    (coane / "runs" / run_id / g.GRADES_FILE).unlink()
    assert cli("grade", "import", first, "--run", run_id, "-w", coane).code == 0
    again = tmp_path / "again.csv"
    assert cli("grade", "export", run_id, "--out", again, "-w", coane).code == 0
    assert again.read_bytes() == first.read_bytes()
    frame = pd.read_csv(first, dtype=str, keep_default_na=False)
    assert list(frame.columns) == g.COLUMNS and len(frame) == 4 * 421


def test_automatic_pre_grade(coane: Path, cli, tmp_path: Path) -> None:
    assert g.key_part("The Beatles}.\n") == "The Beatles"
    assert g.key_part("Kilt") == "Kilt"
    assert g.normalise("  The  Rolling-Stones! ") == "rolling stones"
    assert g.auto_grade("the beatles}.", ["The Beatles"]) == "Y"
    assert g.auto_grade("Beatles} and more", ["The Beatles"]) == "Y"
    assert g.auto_grade("Wings}", ["The Beatles"]) == "N"
    assert g.auto_grade("Fab Four}", ["The Beatles", "The Fab Four"]) == "Y"
    assert g.auto_grade("}", [""]) == "N"
    # the variants: a table column answer_variants, kept in each question's meta
    table = tmp_path / "v.csv"
    table.write_text("question,option_a,option_b,correct,answer_variants\n"
                     "Which band?,The Beatles,Wings,A,Beatles|The Fab Four\n"
                     "2+2?,four,five,A,\n")
    ws = tmp_path / "ws"
    assert cli("import", "table", table, "--name", "v", "--choice-cols", "option_*",
               "-w", ws).code == 0
    run = lab.open_run(Workspace(coane), f"moore2026-{MODEL}-fr")
    from datasets_io.dataset import load_dataset

    q = load_dataset(Workspace(ws), "v").questions.set_index("text")
    assert lab.variants(q.loc["Which band?"]) == ["Beatles", "The Fab Four"]
    assert lab.variants(q.loc["2+2?"]) == []
    assert lab.gold_answer(q.loc["Which band?"]) == "The Beatles"
    # on the released answers: a suggestion only, never a grader or a final grade
    lab.auto_grade(run)
    table = run.table()
    expected = [g.auto_grade(a, [lab.gold_answer(q)]) for a, (_, q) in zip(
        run.answers, run.dataset.questions.set_index("question_id").loc[run.answers.index]
        .iterrows(), strict=True)]
    assert list(table["auto"]) == expected
    assert expected[0] == "Y"                          # 'The Beatles}.' for 'The Beatles'
    assert "auto" not in run.summary().graders


def test_bad_input_is_one_line(coane: Path, data_dir: Path, cli, tmp_path: Path) -> None:
    scoring = cli("grade", "status", f"moore2026-{MODEL}", "-w", coane)
    assert scoring.code == 2 and "is not a free-recall run" in scoring.err
    not_grading = cli("grade", "import", data_dir / COANE / "coane_data.parquet", "--run",
                      f"moore2026-{MODEL}-fr", "-w", coane)
    assert not_grading.code == 2 and "not a released grading file" in not_grading.err
    csv = tmp_path / "g.csv"
    csv.write_text("question_id,annotator,grade,role,answer,graded_at\n"
                   "9999,ann,Y,grader,x,2026-01-01T00:00:00+00:00\n")
    unknown = cli("grade", "import", csv, "--run", f"moore2026-{MODEL}-fr", "-w", coane)
    assert unknown.code == 2 and "question '9999' has no answer" in unknown.err
    for res in (scoring, not_grading, unknown):
        assert "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1
    fresh = cli("grade", "status", "moore2026-Falcon3_7B_Ins-fr", "-w", coane)
    assert fresh.code == 0 and "Cohen's kappa" in fresh.out
