"""SCIENCE.md §6 rules against hand-worked examples (datasets_io.rules)."""

from __future__ import annotations

import pytest

from common.errors import BadInput
from datasets_io.rules import (
    DEFAULT_REFUSALS,
    DEFAULT_SEED,
    ImportSettings,
    RawQuestion,
    build_dataset,
    is_refusal,
    refusal_list,
    share_scale,
)

NOSHUF = ImportSettings(shuffle=False)


def q(qid: str, choices: list[str], shares: list[float] | None, correct: int | None = None):
    return RawQuestion(question_id=qid, text=f"text {qid}", choices=choices, shares=shares,
                       correct=correct)


def build(raws, settings=NOSHUF, **kw):
    return build_dataset("t", "table", raws, settings, **kw)


@pytest.mark.parametrize(("shares", "kept"), [
    ([50, 30, 17], False),    # 97 = 100 - n: the interval is open
    ([50, 30, 17.01], True),  # just inside
    ([50, 30, 23], False),    # 103 = 100 + n
    ([50, 30, 22.99], True),
    ([0.5, 0.3, 0.17], False),  # the same as fractions
    ([0.5, 0.3, 0.1701], True),
])
def test_validity_interval_boundaries(shares, kept):
    other = q("ok", ["a", "b"], [50, 50])
    ds = build([q("x", ["a", "b", "c"], shares), other])
    assert ("x" in set(ds.questions["question_id"])) is kept
    if not kept:
        row = ds.dropped.set_index("question_id").loc["x"]
        assert row["reason"] == "shares_sum_outside_interval"
        assert "(97, 103)" in row["detail"]


def test_interval_counts_refusals_then_removes_them_and_renormalises():
    # 58 + 37 + 5 = 100 over 3 listed options; the refusal goes, the rest sum to 95
    ds = build([q("x", ["Yes", "No", "Don't know/Refused"], [58, 37, 5])])
    row = ds.questions.iloc[0]
    assert row["choices"] == ["Yes", "No"]
    assert row["human_share"] == pytest.approx([58 / 95, 37 / 95])
    assert ds.report["counts"]["refusal_options_removed"] == 1
    assert row["meta"]["removed_refusals"] == ["Don't know/Refused"]


def test_refusal_matching_is_exact_case_insensitive_trimmed():
    assert is_refusal("  REFUSED ", DEFAULT_REFUSALS)
    assert is_refusal("Don\u2019t know/Refused", DEFAULT_REFUSALS)  # typographic apostrophe
    assert not is_refusal("Don't know", DEFAULT_REFUSALS)
    assert not is_refusal("Unsure", DEFAULT_REFUSALS)
    assert not is_refusal("None of the above", DEFAULT_REFUSALS)
    assert not is_refusal("Refused to say why", DEFAULT_REFUSALS)  # exact, not substring


def test_fewer_than_2_and_more_than_26_options_dropped():
    many = [chr(65 + i) + str(i) for i in range(27)]
    shares = [100 / 27] * 27
    ds = build([q("one", ["Yes", "No answer"], [94, 6]), q("many", many, shares),
                q("ok", ["a", "b"], [50, 50])])
    reasons = dict(zip(ds.dropped["question_id"], ds.dropped["reason"], strict=True))
    assert reasons == {"one": "fewer_than_2_options", "many": "more_than_26_options"}
    assert ds.report["counts"]["dropped_by_reason"] == {"fewer_than_2_options": 1,
                                                       "more_than_26_options": 1}


def test_fractions_vs_percents_detected_per_question_and_counted():
    assert share_scale([0.5, 0.3, 0.2]) == "fraction"
    assert share_scale([50, 30, 20]) == "percent"
    assert share_scale([1.0, 0.0]) == "fraction"
    ds = build([q("f", ["a", "b"], [0.25, 0.75]), q("p", ["a", "b"], [25, 75])])
    hs = dict(zip(ds.questions["question_id"], ds.questions["human_share"], strict=True))
    assert hs["f"] == pytest.approx([0.25, 0.75]) and hs["p"] == pytest.approx([0.25, 0.75])
    assert ds.report["counts"]["share_scale"] == {"fraction": 1, "percent": 1}


def test_seeded_shuffle_is_reproducible_recorded_and_keeps_correct():
    raws = [q(f"q{i}", ["a", "b", "c", "d", "e"], [10, 20, 30, 25, 15], correct=2)
            for i in range(20)]
    one = build(raws, ImportSettings(seed=7))
    two = build(raws, ImportSettings(seed=7))
    other = build(raws, ImportSettings(seed=8))
    orders = [m["option_order"] for m in one.questions["meta"]]
    assert orders == [m["option_order"] for m in two.questions["meta"]]
    assert orders != [m["option_order"] for m in other.questions["meta"]]
    assert len({tuple(o) for o in orders}) > 1  # per question, not one global order
    assert one.report["settings"]["seed"] == 7 and one.report["settings"]["shuffle"] is True
    for _, row in one.questions.iterrows():
        order = row["meta"]["option_order"]
        assert row["choices"] == [["a", "b", "c", "d", "e"][i] for i in order]
        assert row["choices"][row["correct"]] == "c"
        share_of = dict(zip(row["choices"], row["human_share"], strict=True))
        assert share_of["c"] == pytest.approx(0.30)


def test_no_shuffle_keeps_file_order():
    ds = build([q("x", ["a", "b", "c"], [20, 30, 50])])
    assert ds.questions.iloc[0]["choices"] == ["a", "b", "c"]
    assert "option_order" not in ds.questions.iloc[0]["meta"]


def test_sampling_is_seeded_and_counted():
    raws = [q(f"q{i:03d}", ["a", "b"], [40, 60]) for i in range(100)]
    a = build(raws, ImportSettings(sample=10, seed=1))
    b = build(raws, ImportSettings(sample=10, seed=1))
    c = build(raws, ImportSettings(sample=10, seed=2))
    assert list(a.questions["question_id"]) == list(b.questions["question_id"])
    assert list(a.questions["question_id"]) != list(c.questions["question_id"])
    assert list(a.questions["question_id"]) == sorted(a.questions["question_id"])  # file order
    assert a.report["counts"]["n_kept"] == 10 and a.report["counts"]["n_not_sampled"] == 90
    assert a.report["settings"]["sample"] == 10
    with pytest.raises(BadInput, match="--sample 0"):
        build(raws, ImportSettings(sample=0))


def test_a_sample_keeps_only_the_warnings_of_its_own_questions():
    raws = [q(f"q{i:03d}", ["a", "a", "b"], [30, 30, 40]) if i % 10 == 0  # a label twice
            else q(f"q{i:03d}", ["a", "b"], [40, 60]) for i in range(100)]
    per_question = [f"q{i:03d}: code(s) 7 have no label" for i in range(0, 100, 5)]
    general = ["f.sav: 3 respondent(s) with a missing weight"]
    ds = build(raws, ImportSettings(sample=30, seed=1), warnings=per_question + general)
    ids = set(ds.questions["question_id"])
    own = [w for w in per_question if w.split(":")[0] in ids]
    repeated = sorted(f"q{i:03d}" for i in range(0, 100, 10) if f"q{i:03d}" in ids)
    assert 0 < len(own) < len(per_question) and 0 < len(repeated) < 10  # the seed left some out
    listed = ds.report["warnings"]
    assert listed[:-1] == own + general
    assert listed[-1].startswith(f"{len(repeated)} question(s) list the same option label twice")
    assert listed[-1].endswith(", ".join(repeated))
    outside = (len(per_question) - len(own)) + (10 - len(repeated))
    assert ds.report["counts"]["n_warnings_not_sampled"] == outside
    assert ds.sample() == {"n": 30, "of": 100, "seed": 1, "warnings_not_sampled": outside}
    everything = build(raws, ImportSettings(seed=4), warnings=per_question + general)
    assert everything.report["warnings"][:-1] == per_question + general
    assert everything.sample() is None and everything.report["counts"]["n_warnings_not_sampled"] == 0


def test_default_seed_recorded():
    ds = build([q("x", ["a", "b"], [40, 60])], ImportSettings())
    assert ds.report["settings"]["seed"] == DEFAULT_SEED


def test_benchmark_questions_skip_share_rules():
    ds = build([q("m", ["Refused", "b", "c", "d"], None, correct=0)])
    row = ds.questions.iloc[0]
    assert row["choices"][0] == "Refused" and row["correct"] == 0 and row["human_share"] is None


def test_refusal_list_is_editable(tmp_path):
    base = refusal_list()
    assert base == DEFAULT_REFUSALS
    edited = refusal_list(add=["Prefer not to say"], keep=["No answer"])
    assert "Prefer not to say" in edited and "no answer" not in edited
    f = tmp_path / "ref.txt"
    f.write_text("# my list\nRefused\nPrefer not to say  # comment\n\n", encoding="utf-8")
    assert refusal_list(file=f) == ("Refused", "Prefer not to say")
    with pytest.raises(BadInput, match="not in the refusal list"):
        refusal_list(keep=["Maybe"])
    ds = build([q("x", ["Yes", "No answer"], [94, 6])],
               ImportSettings(shuffle=False, refusals=edited))
    assert ds.questions.iloc[0]["choices"] == ["Yes", "No answer"]


def test_everything_dropped_is_refused_with_reasons():
    with pytest.raises(BadInput, match=r"no question left: all 1 were dropped \(fewer_than_2"):
        build([q("x", ["Yes", "Refused"], [90, 10])])


def test_pre_dropped_rows_are_reported_and_counted():
    ds = build([q("x", ["a", "b"], None, correct=0)],
               pre_dropped=[{"question_id": "h", "reason": "header_row", "detail": "d",
                             "text": "question"}])
    assert ds.report["counts"]["n_read"] == 2
    assert ds.report["counts"]["dropped_by_reason"] == {"header_row": 1}


def test_duplicate_ids_refused():
    with pytest.raises(BadInput, match="duplicate question id 'x'"):
        build([q("x", ["a", "b"], [50, 50]), q("x", ["a", "b"], [50, 50])])
