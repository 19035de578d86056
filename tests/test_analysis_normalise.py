"""The raw / normalized / paper scales of SCIENCE.md §4, measure by measure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.errors import BadInput
from engine.analysis.normalise import scaled_human, scaled_measure


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame({
        "n_choices": [2, 4, 5, 3],
        "human_entropy": [0.5, 1.0, 1.2, 0.0],
        "top1_prob": [0.9, 0.5, 0.3, 0.7],
        "total_entropy": [1.0, 2.0, 3.0, 4.0],
        "topk_entropy@5": [0.2, 0.4, 1.0, 1.5],
        "topp_size@0.9": [1.0, 4.0, 0.0, 2.0],          # 0: a paper-variant empty set
        "topp_entropy@0.9": [0.0, 1.0, np.nan, 0.5],
        "choice_entropy": [0.6, 1.2, 1.5, 0.1],
        "choice_top1": [0.8, 0.5, 0.3, 0.9],
        "choice_margin": [0.6, 0.1, 0.05, 0.85],
    })


def test_raw_is_as_stored(rows: pd.DataFrame) -> None:
    for m in rows.columns[2:]:
        assert scaled_measure(rows, m, "raw").equals(rows[m].astype(float))
    assert scaled_human(rows, "raw").equals(rows["human_entropy"])


def test_normalized_forms(rows: pd.DataFrame) -> None:
    log_n = np.log(rows["n_choices"].to_numpy(float))
    got = lambda m: scaled_measure(rows, m, "normalized", vocab_size=49152).to_numpy()  # noqa: E731
    assert got("total_entropy") == pytest.approx(rows["total_entropy"] / np.log(49152))
    assert got("topk_entropy@5") == pytest.approx(rows["topk_entropy@5"] / np.log(5))
    assert got("choice_entropy") == pytest.approx(rows["choice_entropy"] / log_n)
    # top-p: / log m; size 1 -> 0; empty set (paper) -> 1
    assert got("topp_entropy@0.9") == pytest.approx([0.0, 1.0 / np.log(4), 1.0, 0.5 / np.log(2)])
    for m in ("top1_prob", "topp_size@0.9", "choice_top1", "choice_margin"):
        assert got(m) == pytest.approx(rows[m])              # no normalised form
    assert scaled_human(rows, "normalized").to_numpy() == pytest.approx(rows["human_entropy"] / log_n)


def test_paper_scale_multiplies_every_measure_by_log_n(rows: pd.DataFrame) -> None:
    log_n = np.log(rows["n_choices"].to_numpy(float))
    for m in rows.columns[2:]:
        norm = scaled_measure(rows, m, "normalized", vocab_size=49152).to_numpy()
        paper = scaled_measure(rows, m, "paper", vocab_size=49152).to_numpy()
        assert paper == pytest.approx(norm * log_n)
    # choice entropy on the paper scale is the raw one; human entropy stays raw
    assert scaled_measure(rows, "choice_entropy", "paper").to_numpy() == pytest.approx(rows["choice_entropy"])
    assert scaled_human(rows, "paper").equals(rows["human_entropy"])


def test_total_entropy_needs_the_vocabulary_size(rows: pd.DataFrame) -> None:
    with pytest.raises(BadInput, match="vocab_size"):
        scaled_measure(rows, "total_entropy", "normalized", vocab_size=None)
    with pytest.raises(BadInput):
        scaled_measure(rows, "choice_entropy", "log")


def test_a_run_without_vocabulary_size_skips_total_entropy_with_a_note() -> None:
    from datasets_io.dataset import Dataset, questions_frame
    from engine.analysis.alignment import alignment_table
    from engine.analysis.frames import combine

    rng = np.random.default_rng(0)
    n = 40
    shares = rng.dirichlet(np.ones(3), size=n)
    ds = Dataset("d", questions_frame([
        {"question_id": f"q{i}", "source": "t", "text": "", "choices": ["a", "b", "c"],
         "human_share": shares[i].tolist(), "correct": None, "subject": None, "n_choices": 3,
         "meta": "{}"} for i in range(n)]), report={})
    res = pd.DataFrame({"question_id": [f"q{i}" for i in range(n)], "cloze": 0,
                        "label_probs": [[0.5, 0.3, 0.2]] * n, "choice_mass": 1.0,
                        "prompt_tokens": 5, "total_entropy": rng.random(n),
                        "choice_entropy": rng.random(n)})
    a = combine(ds, {"r1": {"dataset": "d", "model": {"name": "m"}}}, {"r1": res})
    t = alignment_table(a, scale="normalized")
    assert list(t.table["measure"]) == ["choice_entropy"]
    assert any("total_entropy skipped" in note and "vocab_size" in note for note in t.notes)
    assert list(alignment_table(a, scale="raw").table["measure"]) == ["total_entropy", "choice_entropy"]
