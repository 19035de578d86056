"""Table import (CSV/XLSX, long/wide): the real files, mapping detection, cells, correct."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from datasets_io.cells import try_percent
from datasets_io.dataset import load_dataset
from datasets_io.demo import demo_survey_path
from datasets_io.detect import detect_format
from datasets_io.rules import ImportSettings, build_dataset
from datasets_io.table import TableMapping, parse_table, text_hash_id
from datasets_io.workspace import Workspace


@pytest.mark.parametrize(("cell", "value"), [
    ("58%", 58.0), ("58", 58.0), ("58.5", 58.5), ("58,5", 58.5), (" 7 % ", 7.0), ("*", 0.0),
    ("%", 0.0), (".5", 0.5), (0.25, 0.25), (3, 3.0), ("abc", None), ("", None), ("5x", None),
])
def test_percent_cells(cell, value):
    assert try_percent(cell) == value


def test_protoqa_long_gives_8724(data_dir: Path) -> None:
    result = parse_table(data_dir / "protoqa_mcqa_long.csv")
    m = result.mapping
    assert (m.layout, m.id_col, m.question_col, m.choice_col, m.share_col) == (
        "long", "question_id", "question", "answer", "share")
    ds = build_dataset("p", "table", result.raw, ImportSettings())
    assert len(ds.questions) == 8724 and len(ds.dropped) == 0
    assert ds.report["counts"]["share_scale"] == {"fraction": 8724, "percent": 0}
    first = ds.questions.iloc[0]
    assert first["question_id"] == "protoqa-00001"
    # most popular first in the file: the shuffle must move it (seeded, recorded)
    orders = [m["option_order"] for m in ds.questions["meta"]]
    assert sum(o[0] != 0 for o in orders) > 0.5 * len(orders)


def test_coane_wide_with_correct_gives_421(data_dir: Path) -> None:
    f = data_dir / "coane2021_trivia_mc.csv"
    result = parse_table(f)
    m = result.mapping
    assert (m.layout, m.id_col, m.choice_cols, m.share_cols, m.correct_col) == (
        "wide", "item", "option_*", "share_*", "correct")
    ds = build_dataset("c", "table", result.raw, ImportSettings())
    assert len(ds.questions) == 421
    src = pd.read_csv(f).set_index("item")
    for _, row in ds.questions.iterrows():
        s = src.loc[row["question_id"]]
        letter = s["correct"]
        right_text = s[f"option_{'ABCD'.index(letter) + 1}"]
        assert row["choices"][row["correct"]] == right_text
        # option_order[k] = the file's position of displayed option k (two questions repeat a
        # label, e.g. coane-227 lists "Kabuki" twice, so compare by position, not by text)
        order = row["meta"]["option_order"]
        total = sum(s[f"share_{i}"] for i in range(1, 5))
        for k, i in enumerate(order):
            assert row["choices"][k] == s[f"option_{i + 1}"]
            assert row["human_share"][k] == pytest.approx(s[f"share_{i + 1}"] / total)
    assert any("coane-227" in w for w in ds.report["warnings"])


def test_explicit_mapping_and_cli_prints_it(cli, ws_dir: Path, data_dir: Path) -> None:
    r = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "c",
            "--layout", "wide", "--id-col", "item", "--question-col", "question",
            "--choice-cols", "option_*", "--share-cols", "share_*", "--correct-col", "correct")
    assert r.code == 0, r.err
    assert "mapping: layout=wide id_col=item question_col=question choice_cols=option_*" in r.err
    assert "share scale (per question): 421 as fractions, 0 as percents" in r.err
    assert "correct answers read: 421" in r.err
    assert len(load_dataset(Workspace(ws_dir), "c").questions) == 421


def test_cli_long_auto(cli, ws_dir: Path, data_dir: Path) -> None:
    r = cli("import", "table", data_dir / "protoqa_mcqa_long.csv", "--name", "p")
    assert r.code == 0, r.err
    assert "layout=long id_col=question_id question_col=question choice_col=answer " \
           "share_col=share" in r.err
    assert "kept 8724, dropped 0" in r.err


def test_xlsx_percents_decimal_comma_hash_ids_and_correct_forms(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "Frage": ["Which is red?", "Which is blue?", "Which is green?"],
        "opt1": ["apple", "sky", "grass"], "opt2": ["banana", "sun", "snow"],
        "opt3": ["lime", "", "coal"],
        "pct1": ["70,5", 20, "40%"], "pct2": ["20", 80, "*"], "pct3": [9.5, "", "60"],
        "key": ["A", "1", "grass"],
    })
    f = tmp_path / "s.xlsx"
    frame.to_excel(f, sheet_name="data", index=False)
    mapping = TableMapping(layout="wide", question_col="Frage", choice_cols="opt*",
                           share_cols="pct*", correct_col="key")
    result = parse_table(f, mapping, sheet="data")
    raw = {q.text: q for q in result.raw}
    assert raw["Which is red?"].shares == [70.5, 20, 9.5] and raw["Which is red?"].correct == 0
    assert raw["Which is blue?"].choices == ["sky", "sun"] and raw["Which is blue?"].correct == 0
    assert raw["Which is green?"].shares == [40, 0, 60] and raw["Which is green?"].correct == 0
    assert raw["Which is red?"].question_id == text_hash_id("Which is red?")
    assert raw["Which is red?"].question_id == parse_table(f, mapping).raw[0].question_id
    assert any("no id column" in w for w in result.warnings)
    assert detect_format(f) == "table"


def test_long_layout_correct_flag_subject_and_semicolons(tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    f.write_text("# a comment line\nid;q;opt;pct;ok;topic\n"
                 "1;Q one?;x;60;1;geo\n1;Q one?;y;40;0;geo\n"
                 "2;Q two?;x;50,5;0;hist\n2;Q two?;y;49,5;1;hist\n", encoding="utf-8")
    result = parse_table(f, TableMapping(id_col="id", question_col="q", choice_col="opt",
                                         share_col="pct", correct_col="ok", subject_col="topic"))
    assert [(q.question_id, q.correct, q.subject, q.shares) for q in result.raw] == [
        ("1", 0, "geo", [60, 40]), ("2", 1, "hist", [50.5, 49.5])]
    assert result.details["delimiter"] == ";"


def test_demo_survey_is_invented_and_imports(tmp_path: Path) -> None:
    path = demo_survey_path()
    assert path.is_file()
    assert "INVENTED" in path.read_text(encoding="utf-8").splitlines()[0]
    result = parse_table(path)
    assert 35 <= len(result.raw) <= 45
    assert {len(q.choices) for q in result.raw} <= set(range(2, 7))
    ds = build_dataset("demo", "table", result.raw, ImportSettings())
    assert len(ds.questions) == len(result.raw)
    assert ds.report["counts"]["refusal_options_removed"] > 0
    assert ds.questions["subject"].notna().all()


def test_parse_percent_message_names_everything(tmp_path: Path) -> None:
    from common.errors import BadInput
    from datasets_io.cells import parse_percent

    assert parse_percent("12,5%", where="f.csv", line=3, column="share") == 12.5
    with pytest.raises(BadInput) as err:
        parse_percent("n/a", where="f.csv", line=7, column="share_2", question_id="q9",
                      row_word="row")
    assert str(err.value).startswith("f.csv: row 7, column 'share_2', question 'q9': 'n/a' is "
                                     "not a percentage; write NN, NN%")
    with pytest.raises(BadInput, match=r"^f.txt:4: column 'pct': an empty cell"):
        parse_percent("", where="f.txt", line=4, column="pct")


def test_detect_format(tmp_path: Path, data_dir: Path) -> None:
    from common.errors import BadInput

    assert detect_format(data_dir / "samples" / "roper_topline_sample.txt") == "roper"
    assert detect_format(data_dir / "protoqa_mcqa_long.csv") == "table"
    assert detect_format(data_dir / "mmlu" / "test" / "anatomy_test.csv") == "mmlu"
    assert detect_format(data_dir / "mmlu") == "mmlu"  # the folder holding test/
    (tmp_path / "w.sav").write_bytes(b"$FL2")
    assert detect_format(tmp_path / "w.sav") == "pew"
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" * 50)
    with pytest.raises(BadInput, match="binary"):
        detect_format(tmp_path / "blob.bin")
    (tmp_path / "notes.txt").write_text("just some words\n", encoding="utf-8")
    with pytest.raises(BadInput, match="cannot tell"):
        detect_format(tmp_path / "notes.txt")


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    f = tmp_path / "u16.csv"
    f.write_bytes("id,question,option_1,option_2,share_1,share_2\nq1,Caf\u00e9?,a,b,60,40\n"
                  .encode("utf-16"))
    raw = parse_table(f).raw
    assert raw[0].text == "Caf\u00e9?" and raw[0].shares == [60, 40]


def test_import_table_of_another_kind_of_file_names_its_importer(cli, ws_dir: Path, data_dir: Path,
                                                                 tmp_path: Path) -> None:
    roper = data_dir / "samples" / "roper_topline_sample.txt"
    res = cli("import", "table", roper, "--name", "poll")
    assert res.code == 2 and "Traceback" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "tokeniz" not in lines[0].lower()
    assert f"looks like a Roper topline export; import it with `alignuq import roper {roper} " \
           "--name poll`" in lines[0]
    anatomy = data_dir / "mmlu" / "test" / "anatomy_test.csv"
    res = cli("import", "table", anatomy, "--name", "anat")
    assert res.code == 2 and f"`alignuq import mmlu {anatomy} --name anat`" in res.err
    # a real table with a bad cell keeps the table reader's own message
    bad = tmp_path / "bad.csv"
    bad.write_text("qid,question,answer,share\nq1,Tea?,Yes,4O%\nq1,Tea?,No,60%\n", encoding="utf-8")
    res = cli("import", "table", bad, "--name", "bad")
    assert res.code == 2 and "row 2, column 'share'" in res.err and "alignuq import" not in res.err
    assert not ws_dir.exists() or not any((ws_dir / "datasets").glob("*"))
