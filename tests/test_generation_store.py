"""The results store's generations table: a generation run's answers and per-step arrays are
written with its results rows in one transaction and read back exactly, merged over writers."""

from __future__ import annotations

import sqlite3

import numpy as np

from engine.store import Generation, ResultRow, ResultStore, read_generations, read_results


def _row(qid: str) -> ResultRow:
    return ResultRow(qid, -1, [], 0.0, {"fr_total_entropy": 0.5})


def test_generations_round_trip_with_steps(tmp_path):
    run = tmp_path / "run"
    steps = {"entropy": np.array([1.5, 0.25]), "top_ids": np.arange(10, dtype=np.int32).reshape(2, 5)}
    gen = Generation("q1", "Paris}.", "close", np.array([7, 9], np.int32), ["Paris", "}."], steps)
    with ResultStore(run / "results" / "main.sqlite", "r") as store:
        assert store.add([_row("q1")], [gen]) == 1
    frame = read_generations(run, with_steps=True)
    assert frame.loc[0, "answer"] == "Paris}." and frame.loc[0, "stop"] == "close"
    assert frame.loc[0, "n_tokens"] == 2 and frame.loc[0, "token_texts"] == ["Paris", "}."]
    assert np.array_equal(frame.loc[0, "token_ids"], [7, 9])
    assert np.array_equal(frame.loc[0, "steps"]["top_ids"], steps["top_ids"])
    assert frame.loc[0, "steps"]["entropy"].tolist() == [1.5, 0.25]
    results = read_results(run)
    assert results["cloze"].tolist() == [-1] and results["fr_total_entropy"].tolist() == [0.5]


def test_released_answer_has_no_tokens_and_writers_merge(tmp_path):
    run = tmp_path / "run"
    with ResultStore(run / "results" / "main.sqlite", "r") as store:
        store.add([_row("q1")], [Generation("q1", "first", "released")])
    with ResultStore(run / "results" / "shard-0001.sqlite", "r") as store:
        store.add([_row("q1"), _row("q2")], [Generation("q1", "second", "released"),
                                             Generation("q2", "other", "eos")])
    frame = read_generations(run).set_index("question_id")
    assert sorted(frame.index) == ["q1", "q2"]
    assert frame.loc["q1", "answer"] == "first"          # main.sqlite sorts first: it wins
    assert np.isnan(frame.loc["q1", "n_tokens"]) and frame.loc["q1", "token_ids"] is None


def test_scoring_store_without_the_table_reads_empty(tmp_path):
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    conn = sqlite3.connect(run / "results" / "main.sqlite")
    conn.execute("CREATE TABLE results (run_id TEXT)")
    conn.close()
    frame = read_generations(run)
    assert frame.empty and list(frame.columns)[:3] == ["question_id", "answer", "stop"]


def test_unknown_stop_reason_is_refused_and_nothing_written(tmp_path):
    run = tmp_path / "run"
    with ResultStore(run / "results" / "main.sqlite", "r") as store:
        try:
            store.add([_row("q1")], [Generation("q1", "x", "maybe")])
        except ValueError as err:
            assert "maybe" in str(err)
        else:
            raise AssertionError("an unknown stop reason was stored")
    assert read_results(run).empty and read_generations(run).empty


def test_a_nan_choice_mass_is_refused_not_dropped(tmp_path):
    with ResultStore(tmp_path / "results" / "main.sqlite", "r") as store:
        try:
            store.add([ResultRow("q1", -1, [], float("nan"), {})])
        except ValueError as err:
            assert "choice_mass" in str(err)
        else:
            raise AssertionError("a NaN choice mass was accepted")
