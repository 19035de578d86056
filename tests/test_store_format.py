"""The results store keeps measures packed (float64 per row, names in ``info``) and still reads the
stores written before, with their JSON text per row: ``tests/data/legacy-run`` is a real run
(SmolLM2-135M on 12 real MMLU questions) written by the code before the packed format."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.store import ResultRow, ResultStore, is_legacy, measure_names, read_results
from tests.engine_helpers import mmlu_dataset

LEGACY_RUN = Path(__file__).parent / "data" / "legacy-run"
RUN_ID = json.loads((LEGACY_RUN / "manifest.json").read_text())["run_id"]


def _legacy_rows() -> list[tuple]:
    """The fixture's rows, read with sqlite3 and json alone (independent of engine.store)."""
    path = LEGACY_RUN / "results" / "main.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT question_id, cloze, label_probs, choice_mass, measures, "
                            "prompt_tokens, top_ids FROM results").fetchall()


def _copy(tmp_path: Path) -> Path:
    run_dir = tmp_path / RUN_ID
    shutil.copytree(LEGACY_RUN, run_dir)
    return run_dir


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return np.asarray(a, "<f8").tobytes() == np.asarray(b, "<f8").tobytes()


def _check_against_the_json(frame: pd.DataFrame) -> None:
    rows = _legacy_rows()
    assert list(frame["question_id"]) == [r[0] for r in rows] and len(rows) == 12
    assert list(frame["cloze"]) == [r[1] for r in rows]
    assert list(frame["label_probs"]) == [json.loads(r[2]) for r in rows]
    assert list(frame["prompt_tokens"]) == [r[5] for r in rows]
    measures = [json.loads(r[4]) for r in rows]
    names = list(measures[0])
    assert len(names) == 18 and list(frame.columns[5:5 + len(names)]) == names
    for name in names:
        assert _same_bits(frame[name].to_numpy(), [m[name] for m in measures]), name


def test_a_store_written_before_the_packed_format_is_read_as_it_was(tmp_path: Path) -> None:
    run_dir = _copy(tmp_path)
    frame = read_results(run_dir, with_top=True)
    _check_against_the_json(frame)
    assert np.array_equal(frame["top_ids"].iloc[0], np.frombuffer(_legacy_rows()[0][6], "<i4"))
    with sqlite3.connect(run_dir / "results" / "main.sqlite") as conn:
        assert is_legacy(conn)  # reading changes nothing


def test_a_writer_packs_an_old_store_once_and_appends_to_it(tmp_path: Path) -> None:
    run_dir = _copy(tmp_path)
    path = run_dir / "results" / "main.sqlite"
    with ResultStore(path, RUN_ID) as store:
        assert not is_legacy(store.conn)
        assert measure_names(store.conn) == list(json.loads(_legacy_rows()[0][4]))
        assert store.add([ResultRow("new-1", 2, [0.1, 0.2, 0.7], 0.8,
                                    {"choice_entropy": 0.5, "brand_new": 1.5})]) == 1
        assert store.add([ResultRow("anatomy-1", 0, [1.0], 1.0, {})]) == 0   # already there
    frame = read_results(run_dir)
    _check_against_the_json(frame.iloc[:12])
    new = frame.iloc[12]
    assert new["question_id"] == "new-1" and new["choice_entropy"] == 0.5
    assert new["brand_new"] == 1.5 and frame["brand_new"].iloc[:12].isna().all()
    assert new[["top1_prob", "total_entropy"]].isna().all()
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] \
            == ["info", "results"]


def test_packed_measures_keep_every_bit_and_read_missing_values_as_nan(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(50, 3)) * 10.0 ** rng.integers(-300, 300, (50, 3))
    path = tmp_path / "run" / "results" / "main.sqlite"
    with ResultStore(path, "run") as store:
        store.add([ResultRow(f"q{i}", 0, [1.0], 1.0, {"a": v[0], "b": v[1]})
                   for i, v in enumerate(values[:25])])
        # a later row brings a third measure, lacks one, and has values no JSON could hold
        store.add([ResultRow(f"q{i}", 0, [1.0], 1.0, {"b": v[1], "c": v[2], "a": None})
                   for i, v in enumerate(values[25:], start=25)])
        store.add([ResultRow("odd", 0, [1.0], 1.0, {"a": float("inf"), "b": float("nan"), "c": 2})])
    frame = read_results(tmp_path / "run")
    assert list(frame.columns[5:]) == ["a", "b", "c"]
    assert _same_bits(frame["a"].iloc[:25], values[:25, 0]) and frame["a"].iloc[25:].isna().all()
    assert _same_bits(frame["b"].iloc[:50], values[:, 1])
    assert frame["c"].iloc[:25].isna().all() and _same_bits(frame["c"].iloc[25:50], values[25:, 2])
    assert frame.iloc[50][["a", "b"]].isna().all() and frame.iloc[50]["c"] == 2.0


def test_the_tables_of_an_old_store_are_those_of_its_packed_copy(cli, tmp_path: Path,
                                                                  data_dir: Path) -> None:
    """The same run read from its JSON store and from the packed store a writer made of it gives
    the same tables, bit for bit; the calibration is checked against scipy on the JSON."""
    outputs = {}
    for name in ("json", "packed"):
        ws = tmp_path / name
        mmlu_dataset(ws, data_dir, n=12)   # the same import report: the run is not stale
        run_dir = _copy(ws / "runs")
        if name == "packed":
            ResultStore(run_dir / "results" / "main.sqlite", RUN_ID).close()
        outputs[name] = [cli("analyze", table, "-d", "mmlu-small", "-f", "csv", "--permutations",
                             "50", "--min-subject-n", "1", "-w", ws) for table in
                         ("calibration", "ece", "jsd")]
        assert all(res.code == 0 for res in outputs[name]), [r.err for r in outputs[name]]
    assert [r.out for r in outputs["json"]] == [r.out for r in outputs["packed"]]
    calibration = pd.read_csv(pd.io.common.StringIO(outputs["json"][0].out))
    row = calibration[(calibration["measure"] == "choice_entropy") & (calibration["subject"] == "ALL")]
    rows = _legacy_rows()
    answers = pd.read_parquet(tmp_path / "json" / "datasets" / "mmlu-small" / "questions.parquet")
    correct = answers.set_index("question_id").loc[[r[0] for r in rows], "correct"].to_numpy()
    y = (np.array([r[1] for r in rows]) == correct).astype(float)
    u = [json.loads(r[4])["choice_entropy"] for r in rows]
    assert row["spearman_rho"].iloc[0] == pytest.approx(stats.spearmanr(y, u).statistic, abs=1e-12)
