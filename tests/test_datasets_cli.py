"""`alignuq datasets list|show|questions|dropped|derive` and the curated-version API."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from common.errors import BadInput
from datasets_io.curate import derive_dataset
from datasets_io.dataset import load_dataset
from datasets_io.workspace import Workspace


@pytest.fixture
def imported(cli, ws_dir: Path, data_dir: Path) -> Path:
    r = cli("import", "roper", data_dir / "samples" / "roper_topline_sample.txt", "--name", "s")
    assert r.code == 0, r.err
    r = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane")
    assert r.code == 0, r.err
    return ws_dir


def test_list(cli, imported: Path) -> None:
    r = cli("datasets", "list", "--format", "json")
    assert r.code == 0
    rows = json.loads(r.out)
    assert [(x["name"], x["source"], x["n_questions"]) for x in rows] == [
        ("coane", "table", 421), ("s", "roper", 6)]
    human = cli("datasets", "list").out
    assert "coane" in human and "human+correct" in human


def test_show_json_keys(cli, imported: Path) -> None:
    r = cli("datasets", "show", "s", "--format", "json")
    assert r.code == 0
    s = json.loads(r.out)
    assert {"name", "source", "n_questions", "n_dropped", "dropped_by_reason",
            "n_choices_histogram", "subjects"} <= set(s)
    assert (s["name"], s["source"], s["n_questions"], s["n_dropped"]) == ("s", "roper", 6, 2)
    assert s["dropped_by_reason"] == {"fewer_than_2_options": 1, "shares_sum_outside_interval": 1}
    assert s["n_choices_histogram"] == {"2": 2, "3": 2, "4": 1, "5": 1}
    assert s["subjects"] == {}
    human = cli("datasets", "show", "s").out
    assert "6 kept of 8 read, 2 dropped" in human


def test_show_of_a_sampled_dataset_says_so_and_lists_only_its_own_warnings(cli, imported: Path,
                                                                          data_dir: Path) -> None:
    # the whole file warns about coane-227 and coane-358 (an option label twice)
    assert load_dataset(Workspace(imported), "coane").report["warnings"][0].endswith(
        "coane-227, coane-358")
    r = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "c100",
            "--sample", "100", "--seed", "8")
    assert r.code == 0, r.err
    ids = set(load_dataset(Workspace(imported), "c100").questions["question_id"])
    inside = [i for i in ("coane-227", "coane-358") if i in ids]
    assert len(ids) == 100 and len(inside) == 1  # seed 8 draws one of the two
    human = cli("datasets", "show", "c100").out
    assert "100 kept of 421 read, 0 dropped, 321 not in the sample" in human
    assert ("100 of 421 questions, drawn with seed 8; 1 warning(s) about questions outside the "
            "sample not listed") in human
    warnings = [ln for ln in human.splitlines() if ln.startswith("warning")]
    assert len(warnings) == 1 and warnings[0].endswith(f"(kept; check them): {inside[0]}")
    shown = json.loads(cli("datasets", "show", "c100", "--format", "json").out)
    assert shown["sample"] == {"n": 100, "of": 421, "seed": 8, "warnings_not_sampled": 1}
    assert json.loads(cli("datasets", "show", "coane", "--format", "json").out)["sample"] is None
    assert "sample           all\n" in cli("datasets", "show", "coane").out


@pytest.mark.parametrize("name", ["s", "coane"])
def test_questions_csv_and_json_keep_every_bit_of_the_shares(cli, imported: Path, name: str) -> None:
    stored = {r.question_id: r.human_share
              for r in load_dataset(Workspace(imported), name).questions.itertuples()}
    assert any(round(x, 6) != x for h in stored.values() for x in h)  # more than 6 decimals
    rows = list(csv.DictReader(io.StringIO(cli("datasets", "questions", name).out)))
    from_csv = {r["question_id"]: json.loads(r["human_share"]) for r in rows}
    records = json.loads(cli("datasets", "questions", name, "--format", "json").out)
    from_json = {r["question_id"]: r["human_share"] for r in records}
    assert from_csv == from_json == stored  # float == float: bit for bit (none is NaN)
    assert all(type(x) is float for h in from_csv.values() for x in h)


def test_questions_csv_and_json(cli, imported: Path) -> None:
    r = cli("datasets", "questions", "coane", "--format", "csv")
    assert r.code == 0
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert list(rows[0]) == ["question_id", "text", "choices", "human_share", "correct",
                             "subject", "n_choices"]
    assert len(rows) == 421
    first = rows[0]
    choices = json.loads(first["choices"])
    shares = json.loads(first["human_share"])
    assert len(choices) == len(shares) == int(first["n_choices"]) == 4
    assert first["correct"] in "ABCD" and first["correct"]
    assert choices["ABCD".index(first["correct"])] == "The Beatles"  # coane-001
    s_rows = list(csv.DictReader(io.StringIO(cli("datasets", "questions", "s").out)))
    assert all(r["correct"] == "" for r in s_rows)
    js = json.loads(cli("datasets", "questions", "s", "--format", "json").out)
    assert isinstance(js[0]["choices"], list) and js[0]["correct"] is None


def test_dropped(cli, imported: Path) -> None:
    r = cli("datasets", "dropped", "s")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert {(x["question_id"], x["reason"]) for x in rows} == {
        ("USSMPL.112018.R03A", "shares_sum_outside_interval"),
        ("USEXMP.070723.R09", "fewer_than_2_options")}
    assert all(x["detail"] and x["text"] for x in rows)


def test_derive_makes_a_new_version(cli, imported: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("# too easy\ncoane-002\n", encoding="utf-8")
    r = cli("datasets", "derive", "coane", "--name", "coane-cur", "--exclude", "coane-001",
            "--exclude-file", ids)
    assert r.code == 0, r.err
    ws = Workspace(imported)
    child = load_dataset(ws, "coane-cur")
    parent = load_dataset(ws, "coane")
    assert len(parent.questions) == 421 and len(child.questions) == 419
    assert child.report["parent"]["name"] == "coane"
    assert child.report["parent"]["report_sha256"] == parent.report_hash()
    assert child.report["curation"]["excluded_ids"] == ["coane-001", "coane-002"]
    assert child.summary()["dropped_by_reason"] == {"excluded_by_user": 2}
    same = child.questions.iloc[0]
    orig = parent.questions.set_index("question_id").loc[same["question_id"]]
    assert list(same["choices"]) == list(orig["choices"])  # rows unchanged (same option order)
    r = cli("datasets", "derive", "coane", "--name", "c2", "--exclude", "nope-1")
    assert r.code == 2 and "not in dataset 'coane'" in r.err
    r = cli("datasets", "derive", "coane", "--name", "coane", "--exclude", "coane-003")
    assert r.code == 2 and "never edited in place" in r.err
    assert sorted(p.name for p in ws.datasets.iterdir()) == ["coane", "coane-cur", "s"]


def test_derive_api_include(imported: Path) -> None:
    ws = Workspace(imported)
    child = derive_dataset(ws, "s", "s-two", include_ids=["USEXMP.031419.R01",
                                                           "USSMPL.041817.R05"])
    assert list(child.questions["question_id"]) == ["USEXMP.031419.R01", "USSMPL.041817.R05"]
    with pytest.raises(BadInput, match="already exists"):
        derive_dataset(ws, "s", "s-two", exclude_ids=["USEXMP.031419.R01"])


def test_unknown_dataset(cli, ws_dir: Path) -> None:
    r = cli("datasets", "show", "nope")
    assert r.code == 2 and "no dataset named 'nope'" in r.err and "datasets list" in r.err
