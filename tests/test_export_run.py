"""`alignuq export run`: columns, types and values read back with pandas (CSV and Parquet),
the exact prompts, and the provenance sidecar."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets_io.dataset import load_dataset
from datasets_io.workspace import Workspace
from engine import store
from engine.measure_names import measure_names
from engine.prompts import prompt_for_question
from tests.engine_helpers import finished_run, mmlu_dataset

BASE = ["question_id", "cloze", "label_probs", "choice_mass"]


@pytest.fixture(scope="module")
def done(tmp_path_factory, data_dir, tiny_llama_dir) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export-ws")
    mmlu_dataset(root, data_dir, "mmlu-9", n=9, subjects=("anatomy", "virology", "astronomy"))
    return root, finished_run(root, "mmlu-9", tiny_llama_dir, batch_tokens=2048, variant="paper")


def _read(path: Path, fmt: str) -> pd.DataFrame:
    return pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)


def _probs(table: pd.DataFrame, fmt: str) -> list[list[float]]:
    """``label_probs``: JSON text in CSV, a list column in Parquet."""
    return [json.loads(x) if fmt == "csv" else list(x) for x in table["label_probs"]]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_columns_types_and_values(cli, done, tmp_path, fmt) -> None:
    root, run_dir = done
    out = tmp_path / f"run.{fmt}"
    res = cli("export", "run", run_dir.name, "--format", fmt, "--out", out, "--workspace", root)
    assert res.code == 0, res.err
    table = _read(out, fmt)
    assert list(table.columns) == BASE + measure_names()
    assert len(table) == 9
    ds = load_dataset(Workspace(root), "mmlu-9")
    assert list(table["question_id"]) == list(ds.questions["question_id"])  # dataset order
    assert set(table["cloze"]) <= set("ABCD")
    probs = _probs(table, fmt)
    assert all(len(p) == 4 for p in probs)
    np.testing.assert_allclose([sum(p) for p in probs], table["choice_mass"], rtol=1e-6)
    assert [("ABCD"[int(np.argmax(p))]) for p in probs] == list(table["cloze"])
    for name in measure_names():
        assert pd.api.types.is_numeric_dtype(table[name]), name
        if name.startswith("topp_size@"):
            assert pd.api.types.is_integer_dtype(table[name]), name
    stored = store.read_results(run_dir).set_index("question_id").loc[table["question_id"]]
    for name in measure_names():
        np.testing.assert_allclose(table[name].to_numpy(float), stored[name].to_numpy(float),
                                   rtol=1e-12, equal_nan=True, err_msg=name)
    prov = json.loads(Path(f"{out}.provenance.json").read_text())
    assert prov["run_id"] == run_dir.name and prov["format"] == fmt and prov["rows"] == 9
    assert prov["columns"] == list(table.columns)
    assert prov["manifest"] == store.read_manifest(run_dir)
    assert prov["dataset_report_sha256"] == ds.report_hash() == prov["dataset_report_sha256_at_run"]
    assert prov["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert prov["command"].startswith("alignuq export run ") and prov["variant"] == "paper"
    assert {"python", "pandas", "numpy", "pyarrow", "alignuq"} <= set(prov["versions"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, f"{out.name}.provenance.json"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_with_prompts_gives_the_exact_strings(cli, done, tmp_path, fmt) -> None:
    root, run_dir = done
    out = tmp_path / f"prompts.{fmt}"
    res = cli("export", "run", run_dir.name, "--format", fmt, "--out", out, "--with-prompts",
              "--workspace", root)
    assert res.code == 0, res.err
    table = _read(out, fmt)
    assert list(table.columns) == BASE + measure_names() + ["prompt"]
    manifest = store.read_manifest(run_dir)
    rows = {r["question_id"]: r for r in load_dataset(Workspace(root), "mmlu-9").questions.to_dict("records")}
    for qid, prompt in zip(table["question_id"], table["prompt"], strict=True):
        assert prompt == prompt_for_question(rows[qid], manifest)
        assert prompt.endswith("\nAnswer: ")  # the paper variant's template, trailing space kept


def test_export_errors_are_one_line_exit_2(cli, done, tmp_path) -> None:
    root, _ = done
    res = cli("export", "run", "no-such-run", "--format", "csv", "--out", tmp_path / "x.csv",
              "--workspace", root)
    assert res.code == 2 and "no run 'no-such-run'" in res.err
    assert not (tmp_path / "x.csv").exists()


def _bits(value: object) -> bytes:
    """A float as its 8 bytes (an empty CSV cell or a null as NaN's)."""
    import struct

    number = float("nan") if value in ("", None) or value is pd.NA else float(value)
    return struct.pack("<d", float("nan") if number != number else number)


def _rows(path: Path, fmt: str) -> list[dict]:
    """Every row as read back without pandas' parsers: csv module text, or pyarrow's values."""
    import csv

    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_keeps_every_bit_of_the_stored_values(cli, done, tmp_path, fmt) -> None:
    root, run_dir = done
    out = tmp_path / f"run.{fmt}"
    assert cli("export", "run", run_dir.name, "--out", out, "--workspace", root).code == 0
    stored = store.read_results(run_dir).set_index("question_id")
    rows = _rows(out, fmt)
    assert len(rows) == len(stored) == 9
    for row in rows:
        want = stored.loc[row["question_id"]]
        probs = json.loads(row["label_probs"]) if fmt == "csv" else row["label_probs"]
        assert [_bits(x) for x in probs] == [_bits(x) for x in want["label_probs"]]
        for name in ["choice_mass", *measure_names()]:
            assert _bits(row[name]) == _bits(want[name]), (name, row[name], want[name])
    if fmt == "parquet":
        schema = pq.read_schema(out)
        assert schema.field("label_probs").type == pa.list_(pa.float64())
        assert schema.field("topp_size@0.9").type == pa.int64()


@pytest.mark.parametrize(("name", "args", "fmt"), [
    ("x.parquet", [], "parquet"),              # the suffix decides
    ("x.PQ", [], "parquet"),
    ("x.csv", [], "csv"),
    ("x", [], "csv"),                          # no suffix: CSV
    ("x.dat", ["--format", "parquet"], "parquet"),  # a suffix that names no format: --format decides
    ("x.csv", ["--format", "csv"], "csv"),
])
def test_export_format_from_the_suffix(cli, done, tmp_path, name, args, fmt) -> None:
    root, run_dir = done
    out = tmp_path / name
    res = cli("export", "run", run_dir.name, "--out", out, *args, "--workspace", root)
    assert res.code == 0, res.err
    assert (out.read_bytes()[:4] == b"PAR1") == (fmt == "parquet")
    assert json.loads(Path(f"{out}.provenance.json").read_text())["format"] == fmt
    assert len(_read(out, fmt)) == 9


@pytest.mark.parametrize(("name", "args", "needle"), [
    ("x.csv", ["--format", "parquet"], "--format parquet but the name 'x.csv' says csv"),
    ("x.parquet", ["--format", "csv"], "--format csv but the name 'x.parquet' says parquet"),
    ("x.xlsx", [], "cannot tell the table format from the name 'x.xlsx'"),
    ("x.json", [], "cannot tell the table format from the name 'x.json'"),
])
def test_export_refuses_a_name_that_says_another_format(cli, done, tmp_path, name, args,
                                                        needle) -> None:
    root, run_dir = done
    res = cli("export", "run", run_dir.name, "--out", tmp_path / name, *args, "--workspace", root)
    assert res.code == 2 and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1 and needle in res.err
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_with_dataset_joins_the_questions(cli, done, tmp_path, fmt) -> None:
    root, run_dir = done
    out = tmp_path / f"joined.{fmt}"
    res = cli("export", "run", run_dir.name, "--out", out, "--with-dataset", "--with-prompts",
              "--workspace", root)
    assert res.code == 0, res.err
    table = _read(out, fmt)
    assert list(table.columns) == BASE + measure_names() + ["correct", "human_share", "subject",
                                                             "text", "prompt"]
    ds = load_dataset(Workspace(root), "mmlu-9").questions.set_index("question_id")
    want = ds.loc[table["question_id"]]
    assert list(table["correct"]) == ["ABCD"[int(c)] for c in want["correct"]]
    assert list(table["subject"]) == list(want["subject"])
    assert list(table["text"]) == list(want["text"])
    assert table["human_share"].isna().all()  # MMLU has no human shares: empty / null
    if fmt == "parquet":
        assert pq.read_schema(out).field("human_share").type == pa.list_(pa.float64())


@pytest.fixture(scope="module")
def survey_run(tmp_path_factory, data_dir) -> tuple[Path, str]:
    """The Coane trivia questions (real human shares) with a run of seeded test results."""
    from tests.test_runs_import import make_results
    from tui.cli.main import main

    root = tmp_path_factory.mktemp("export-survey") / "ws"
    results = root.parent / "toy.csv"

    def alignuq(*args: object) -> None:
        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in [*args, "--workspace", root]])
        assert stop.value.code == 0

    alignuq("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane")
    make_results(root, "coane", seed=3, noise=0.5).to_csv(results, index=False)
    alignuq("runs", "import", results, "--dataset", "coane", "--model-name", "toy",
            "--run-id", "toy", "--vocab-size", "49152")
    return root, "toy"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_with_dataset_has_the_human_shares_bit_for_bit(cli, survey_run, tmp_path,
                                                              fmt) -> None:
    root, run = survey_run
    out = tmp_path / f"survey.{fmt}"
    assert cli("export", "run", run, "--out", out, "--with-dataset", "--workspace", root).code == 0
    ds = load_dataset(Workspace(root), "coane").questions.set_index("question_id")
    rows = _rows(out, fmt)
    assert [r["question_id"] for r in rows] == list(ds.index)
    for row in rows:
        shares = json.loads(row["human_share"]) if fmt == "csv" else row["human_share"]
        assert [_bits(x) for x in shares] == [_bits(x) for x in ds.loc[row["question_id"], "human_share"]]
        assert row["correct"] == "ABCD"[int(ds.loc[row["question_id"], "correct"])]
        assert row["subject"] in ("", None)  # the trivia questions have no subject


def test_export_with_dataset_refuses_clearly_when_the_dataset_is_gone(cli, survey_run,
                                                                      tmp_path) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(survey_run[0], root)
    shutil.rmtree(root / "datasets" / "coane")
    out = tmp_path / "x.parquet"
    res = cli("export", "run", "toy", "--out", out, "--with-dataset", "--workspace", root)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1
    assert "the run's dataset 'coane' is not in the workspace" in res.err
    assert "export without --with-dataset" in res.err
    assert not out.exists()
    plain = cli("export", "run", "toy", "--out", out, "--workspace", root)  # still exports
    assert plain.code == 0 and len(pd.read_parquet(out)) == 421
