"""SCIENCE.md §1 prompts byte for byte, label spellings, few-shot and chat templates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.prompts import (
    TEMPLATES,
    PromptError,
    build_prompt,
    default_spellings,
    few_shot_examples,
    prompt_for_question,
    render_chat,
    resolve_spellings,
    spelling_for,
    template_string,
)

HEAD = ("Following is a question and a selection of answer choices. Provide the label for the "
        "answer with which you most agree.")


def science_corrected(q: str, choices: list[str]) -> str:
    return (HEAD + "\n\nQuestion: " + q + "\n"
            + "".join(f"    {L}. {c}\n" for L, c in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", choices, strict=False))
            + "\nAnswer:")


def science_paper(q: str, choices: list[str]) -> str:
    return (HEAD + "\nQuestion: " + q
            + "".join(f"\n {L}. {c}" for L, c in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", choices, strict=False))
            + "\nAnswer: ")


CASES = [
    ("Which band was Paul McCartney a member of?", ["The Monkees", "The Beatles"]),
    ("Braces {question} and {label} stay as {they} are", ["a, b, c", "{choice}", "x\ny", "ü"]),
    ("Twenty-six?", [f"option {i}" for i in range(26)]),
]


@pytest.mark.parametrize("q,choices", CASES)
def test_named_templates_match_science_md_byte_for_byte(q, choices) -> None:
    assert build_prompt(q, choices, "corrected") == science_corrected(q, choices)
    assert build_prompt(q, choices, "paper") == science_paper(q, choices)
    assert build_prompt(q, choices, None, variant="paper") == science_paper(q, choices)
    assert build_prompt(q, choices) == science_corrected(q, choices)


def test_a_custom_template_string_and_bad_ones() -> None:
    tpl = "Q: {question}\n{for_each_choice}({label}) {choice}\n{end}A:"
    assert build_prompt("Why?", ["yes", "no"], tpl) == "Q: Why?\n(A) yes\n(B) no\nA:"
    assert template_string(tpl) == tpl
    for bad in ("no question here {for_each_choice}{label}{end}", "Q: {question} {label}"):
        with pytest.raises(PromptError):
            template_string(bad)
    with pytest.raises(PromptError):
        build_prompt("q", [str(i) for i in range(27)])


def test_spelling_patterns() -> None:
    assert spelling_for("A", "C") == "C" and spelling_for(" A", "C") == " C"
    assert spelling_for("(a)", "C") == "(c)" and spelling_for("{L}.", "D") == "D."
    assert default_spellings("corrected") == ("A", " A") and default_spellings("paper") == ("A",)


class FakeTokenizer:
    all_special_ids = [0]
    vocab = {"A": 10, " A": 11, "B": 12, " B": 13, "<s>": 0, "X": 10}

    def encode(self, text, add_special_tokens=False):
        if text in self.vocab:
            return [self.vocab[text]]
        return [1] * (len(text) + 1)


def test_resolve_spellings_keeps_single_tokens_once_and_reports_the_rest() -> None:
    res = resolve_spellings(FakeTokenizer(), ["A", "B"], ["A", " A", "(A)", "{L}"])
    assert res.token_ids() == [[10, 11], [12, 13]]
    reasons = {(d["label"], d["text"]): d["reason"] for d in res.dropped}
    assert reasons[("A", "(A)")] == "encodes to 4 tokens"
    assert reasons[("A", "A")] == "duplicate token"   # "{L}" spelled "A" again
    doc = res.to_dict()
    assert doc["kept"]["B"] == [{"text": "B", "token_id": 12}, {"text": " B", "token_id": 13}]
    json.dumps(doc)


def test_a_label_with_no_single_token_spelling_is_refused() -> None:
    with pytest.raises(PromptError, match="C"):
        resolve_spellings(FakeTokenizer(), ["A", "C"], ["A"])


def test_real_tokenizer_spellings(smollm_dir) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm_dir)
    res = resolve_spellings(tok, list("ABCD"), ["A", " A", "(A)", "A."])
    assert all(len(ids) >= 2 for ids in res.token_ids())
    for pairs in res.kept:
        for text, tid in pairs:
            assert tok.encode(text, add_special_tokens=False) == [tid]
    assert {d["text"] for d in res.dropped} >= {"(A)"}
    # the corrected prompt ends at "Answer:" (the answer token is " A"); the paper's prompt ends
    # with a lone space token, after which the answer token is "A"
    corrected = tok.encode(build_prompt("Q?", ["x", "y"], "corrected"), add_special_tokens=False)
    assert tok.decode(corrected[-1:]) == ":"
    assert tok.encode(build_prompt("Q?", ["x", "y"], "corrected") + " A",
                      add_special_tokens=False)[-1] == tok.encode(" A", add_special_tokens=False)[0]
    paper = tok.encode(build_prompt("Q?", ["x", "y"], "paper"), add_special_tokens=False)
    assert tok.decode(paper[-1:]) == " "


def test_chat_rendering_equals_transformers(smollm_dir) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm_dir)
    assert isinstance(tok.chat_template, str)
    text = build_prompt("Which is largest?", ["Mars", "Jupiter"])
    messages = [{"role": "user", "content": text}]
    want = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    special = {k: v for k, v in tok.special_tokens_map.items() if isinstance(v, str)}
    assert render_chat(tok.chat_template, messages, special) == want


def test_few_shot_examples_and_prompt_rebuild() -> None:
    import pandas as pd

    frame = pd.DataFrame({
        "question_id": ["a", "b", "c"], "text": ["1+1?", "2+2?", "3+3?"],
        "choices": [["2", "3"], ["4", "5"], ["6", "7"]], "correct": pd.array([0, 0, 1], "Int64"),
        "human_share": [None, None, None], "n_choices": [2, 2, 2]})
    examples = few_shot_examples(frame, 1)
    assert [e["question_id"] for e in examples] == ["a", "b"]
    settings = {"template": TEMPLATES["corrected"], "few_shot": 1, "few_shot_examples": examples}
    first = prompt_for_question({"question_id": "a", "text": "1+1?", "choices": ["2", "3"]}, settings)
    assert first == build_prompt("2+2?", ["4", "5"]) + " A\n\n" + build_prompt("1+1?", ["2", "3"])
    third = prompt_for_question(frame.iloc[2], settings)
    assert third.startswith(build_prompt("1+1?", ["2", "3"]) + " A\n\n")
    paper = dict(settings, template=TEMPLATES["paper"])
    assert "\nAnswer: A\n\n" in prompt_for_question(frame.iloc[2], paper)
    plain = prompt_for_question(frame.iloc[2], {"template": TEMPLATES["paper"]})
    assert plain == build_prompt("3+3?", ["6", "7"], "paper")


def test_few_shot_examples_of_survey_questions_answer_with_the_human_top_choice() -> None:
    import pandas as pd

    # a survey dataset: no correct answers (pandas' NA in an Int64 column), human shares
    frame = pd.DataFrame({
        "question_id": ["s1", "s2", "s3"], "text": ["Tea?", "Rain?", "Cats?"],
        "choices": [["Yes", "No"], ["Yes", "No", "Unsure"], ["Yes", "No"]],
        "correct": pd.array([None, 1, None], "Int64"),
        "human_share": [[0.3, 0.7], [0.5, 0.2, 0.3], None], "n_choices": [2, 3, 2]})
    examples = few_shot_examples(frame, 2)
    assert [(e["question_id"], e["answer"]) for e in examples] == [("s1", 1), ("s2", 1)]


def test_prompts_module_is_torch_free() -> None:
    code = ("import sys, engine.prompts, engine.models.resolve; "
            "print(any(m.split('.')[0] in ('torch', 'transformers') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
