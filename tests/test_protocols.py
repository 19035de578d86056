"""The successor's multiple-choice protocol (SCIENCE-successor.md §3-4.1): its prompts equal the
released ones byte for byte, its label spellings are the nine templates in both cases, a run
under it records the protocol in its id and manifest, and its numbers are a plain forward pass's
softmax summed over the single-token spellings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import BadInput
from engine import runner
from engine.plan import run_id_for
from engine.prompts import prompt_for_question
from engine.protocols import (
    SUCCESSOR_SPELLINGS,
    chat_messages,
    completion_prompt,
    protocol_prompt,
    supports_system_role,
)
from engine.store import read_manifest, read_results
from tests.test_runner import make_dataset, spec_for, synthetic_questions

COANE = Path("moore2026/Results/coane")
# Gemma's published chat template (google/gemma-2b-it): no system role, roles must alternate
GEMMA_CHAT = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")


def _released(data_dir: Path, model: str) -> pd.DataFrame:
    path = data_dir / COANE / f"coane_{model}.parquet"
    if not path.exists():
        pytest.skip(f"the successor's released Coane results are not at {path.parent}")
    return pd.read_parquet(path)


@pytest.mark.parametrize(("model", "bos"), [("Llama_3.1_8B", "<|begin_of_text|>"),
                                            ("Gemma_7B", "<bos>"), ("Falcon3_1B", "")])
def test_completion_prompts_are_the_released_ones(data_dir, model, bos) -> None:
    """Every Coane row of a base model, its options in the released order (§3.2)."""
    released = _released(data_dir, model)
    for rec in released.itertuples():
        assert completion_prompt(rec.Question, list(rec.Answers), bos) == \
            rec.formatted_question_mcqa, rec.Index


def test_chat_prompts_without_a_system_role_are_the_released_ones_but_the_brace(data_dir) -> None:
    """Gemma's template refuses a system turn: the system line goes before the first user turn
    (§3.3). The released prompt ends in '{' (fault 1); only successor-as-released adds it."""
    released = _released(data_dir, "Gemma_2B_Ins")
    special = {"bos_token": "<bos>", "eos_token": "<eos>"}
    assert not supports_system_role(GEMMA_CHAT, special)
    settings = {"chat_template": True, "chat_template_string": GEMMA_CHAT,
                "chat_special": special, "system_role": False}
    for rec in released.itertuples():
        row = {"text": rec.Question, "choices": list(rec.Answers)}
        fixed = protocol_prompt(row, {**settings, "protocol": "successor"})
        as_released = protocol_prompt(row, {**settings, "protocol": "successor-as-released"})
        assert as_released == rec.formatted_question_mcqa, rec.Index
        assert fixed + "{" == as_released and fixed.endswith("<start_of_turn>model\n")


def test_the_system_line_is_a_system_turn_where_the_template_takes_one() -> None:
    messages = chat_messages("Q?", ["x", "y"], system_role=True)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant",
                                             "user"]
    assert messages[2]["content"] == "C" and messages[4]["content"] == "B"
    assert messages[-1]["content"] == "Question: Q?\nA. x\nB. y\nAnswer:"
    folded = chat_messages("Q?", ["x", "y"], system_role=False)
    assert len(folded) == 5 and folded[0]["content"].startswith(
        "Answer each multiple choice question with only the letter of the correct answer.\n\n"
        "Question: What is the chemical symbol for gold?")


def test_texts_are_cleaned_as_the_released_code_did() -> None:
    prompt = completion_prompt("Who wrote \u201cIt\u2019s\u2026\u201d \u2013 or not?",
                               ["A\u2014B", "C"], "")
    assert prompt.endswith("Question: Who wrote \"It's...\" - or not?\nA. A-B\nB. C\nAnswer:")


def test_the_nine_spelling_templates_in_both_cases() -> None:
    """§4.1: each template upper then lower case, a string once."""
    forms = ["{}", "{}.", "{} ", "{})", "{},", "{}:", " {}", "({})", "{}\u3002"]
    want = [f.format(c) for f in forms for c in ("{L}", "{l}")]
    assert list(SUCCESSOR_SPELLINGS) == want and len(want) == 18


def test_a_protocol_fixes_the_prompt_whole(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    for extra in ({"few_shot": 1}, {"template": "corrected"}, {"spellings": ("A",)},
                  {"variant": "paper"}):
        with pytest.raises(BadInput, match="fixes the prompt whole"):
            run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir, protocol="successor", **extra))
    with pytest.raises(BadInput, match="unknown prompt protocol 'succesor'"):
        run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir, protocol="succesor"))
    plain = run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir))[0]
    ours = run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir, protocol="successor"))[0]
    released = run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir, protocol="successor-as-released",
                                   chat_template=True))[0]
    assert "-successor-" in ours and "-successor-as-released-" in released
    assert len({plain, ours, released}) == 3


@pytest.mark.parametrize("protocol", ["successor", "successor-as-released"])
def test_a_protocol_run_is_the_plain_forward_pass_summed_over_spellings(
        tmp_path, tiny_llama_dir, protocol) -> None:
    """The stored label probabilities against transformers called plainly on the prompt written
    out in this test, the spellings' tokens found here with the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = synthetic_questions(6)
    make_dataset(tmp_path / "ws", rows=rows)
    chat = protocol == "successor-as-released"
    summary = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, protocol=protocol,
                                          chat_template=chat))
    manifest = read_manifest(Path(summary.run_dir))
    assert (manifest["protocol"], manifest["add_special_tokens"]) == (protocol, False)
    stored = read_results(Path(summary.run_dir)).set_index("question_id")
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    for row in rows:
        block = "Question: {}\n{}\nAnswer:".format(
            row["text"], "\n".join(f"{'ABCDEF'[i]}. {c}" for i, c in enumerate(row["choices"])))
        prompt = prompt_for_question(row, manifest)
        if chat:
            assert prompt.endswith(block + "<|im_end|>\n<|im_start|>assistant\n{")
            assert "<|im_start|>system\nAnswer each multiple choice" in prompt
        else:
            assert prompt == (f"{tok.bos_token}Question: What is the chemical symbol for gold?\n"
                              "A. Ag\nB. Mo\nC. Au\nD. Gd\nAnswer: C\n\nQuestion: In what year "
                              "did the First World War end?\nA. 1939\nB. 1918\nC. 1914\nD. 1945\n"
                              "Answer: B\n\n" + block)
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            p = torch.softmax(model(**ids).logits[0, -1].double(), -1).numpy()
        q = []
        for letter in "ABCDEF"[:row["n_choices"]]:
            spellings = [form.format(case) for form in ("{}", "{}.", "{} ", "{})", "{},", "{}:",
                                                        " {}", "({})", "{}\u3002")
                         for case in (letter, letter.lower())]
            tokens = {t[0] for t in (tok.encode(s, add_special_tokens=False) for s in spellings)
                      if len(t) == 1}
            q.append(sum(p[t] for t in tokens))
        got = stored.loc[row["question_id"]]
        assert got["label_probs"] == pytest.approx(q, rel=1e-5)
        assert got["cloze"] == int(np.argmax(q))
