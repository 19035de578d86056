"""Free-recall generation runs (SCIENCE-successor.md §5) with SmolLM2 on Coane questions: the
greedy tokens equal transformers' own ``generate``, batched or one by one; every stored step
summary equals a direct computation from one teacher-forced forward pass; every measure equals a
loop written out here from the stored steps; the stop rule catches a ``}`` merged with the next
character (the released fault 3); a limited run completed later equals one run whole; seeded
sampling repeats with its seed and differs with another."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import BadInput
from engine import runner
from engine.free_recall import bracket_span, measures_from_steps
from engine.free_recall_names import free_recall_measures
from engine.plan import run_id_for
from engine.prompts import prompt_for_question
from engine.store import read_generations, read_manifest, read_results
from tests.test_runner import make_dataset, spec_for

COANE = Path("moore2026/Results/coane/coane_data.parquet")
N_QUESTIONS, MAX_NEW = 10, 30
TOPK, TOPP = (5, 10, 25, 50, 100), (0.95, 0.9, 0.75, 0.5)


def coane_rows(data_dir: Path, n: int) -> list[dict]:
    path = data_dir / COANE
    if not path.exists():
        pytest.skip(f"the successor's Coane file is not at {path}")
    frame = pd.read_parquet(path).head(n)
    return [{"question_id": f"c{i:03d}", "source": "coane", "text": r.Question,
             "choices": [str(c) for c in r.Answers], "human_share": [0.25] * 4,
             "correct": "ABCD".index(r.Correct_Answer), "subject": None, "n_choices": 4,
             "meta": "{}"} for i, r in enumerate(frame.itertuples())]


def generate(ws: Path, model: Path, rows: list[dict], **kw) -> Path:
    make_dataset(ws, rows=rows)
    kw = {"protocol": "successor", "task": "generate", "max_new_tokens": MAX_NEW,
          "device": "cpu", **kw}
    return Path(runner.execute_run(spec_for(ws, model, **kw)).run_dir)


@pytest.fixture(scope="module")
def rows(data_dir) -> list[dict]:
    return coane_rows(data_dir, N_QUESTIONS)


@pytest.fixture(scope="module")
def batched(smollm_dir, rows, tmp_path_factory) -> Path:
    """Several questions per batch (left-padded)."""
    return generate(tmp_path_factory.mktemp("batched"), smollm_dir, rows, batch_tokens=600)


@pytest.fixture(scope="module")
def stock(smollm_dir):
    """transformers' own model and tokenizer, no alignuq forward."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(smollm_dir, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(smollm_dir))


def answers(run_dir: Path, with_steps: bool = False) -> pd.DataFrame:
    return read_generations(run_dir, with_steps=with_steps).set_index("question_id").sort_index()


def prompt_ids(run_dir: Path, row: dict, tok) -> list[int]:
    prompt = prompt_for_question(row, read_manifest(run_dir))
    return tok(prompt, add_special_tokens=False)["input_ids"]


def test_greedy_tokens_are_transformers_generate_batched_or_not(batched, stock, rows, smollm_dir,
                                                                tmp_path) -> None:
    import torch

    model, tok = stock
    got = answers(batched)
    assert len(got) == N_QUESTIONS and set(got["stop"]) <= {"close", "eos", "cap"}
    assert (got["stop"] == "close").sum() >= N_QUESTIONS // 2   # SmolLM2 closes its brackets
    manifest = read_manifest(batched)
    assert manifest["task"] == "generate" and manifest["max_new_tokens"] == MAX_NEW
    prompt = prompt_for_question(rows[0], manifest)
    assert prompt.startswith(tok.bos_token + "What is the chemical symbol for gold?\nAnswer in as "
                             "few words as possible, wrapping the key part in {} brackets: The "
                             "chemical symbol for gold is {Au}.\n\n")
    assert prompt.endswith(rows[0]["text"] + "\nAnswer in as few words as possible, wrapping "
                           "the key part in {} brackets: {")
    for row in rows:
        ids = prompt_ids(batched, row, tok)
        with torch.no_grad():
            ref = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids),
                                 dtype=torch.long), max_new_tokens=MAX_NEW, do_sample=False,
                                 pad_token_id=tok.eos_token_id)[0, len(ids):].tolist()
        mine = got.loc[row["question_id"]]
        tokens = mine["token_ids"].tolist()
        assert tokens == ref[:len(tokens)], row["question_id"]
        texts = [tok.decode([t]) for t in ref]
        first_close = next((j for j, t in enumerate(texts) if "}" in t), None)
        first_eos = next((j for j, t in enumerate(ref) if t == tok.eos_token_id), None)
        ends = [j for j in (first_close, first_eos) if j is not None]
        assert len(tokens) == (min(ends) + 1 if ends else MAX_NEW)
        assert mine["token_texts"] == texts[:len(tokens)]
        assert mine["answer"] == tok.decode(tokens, skip_special_tokens=True)
    one_by_one = generate(tmp_path / "ws", smollm_dir, rows, batch_tokens=1)
    alone = answers(one_by_one)
    for qid in got.index:
        assert alone.loc[qid, "token_ids"].tolist() == got.loc[qid, "token_ids"].tolist()


def _teacher_forced_logits(model, prompt: list[int], answer: list[int]) -> np.ndarray:
    """The float32 logits that predicted each answer token, from one plain forward pass."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + answer])).logits[0].float()
    return logits[len(prompt) - 1:len(prompt) - 1 + len(answer)].numpy()


def _direct_steps(logits: np.ndarray, answer: list[int]) -> dict[str, np.ndarray]:
    """Every step summary of float32 ``logits`` [T, V], written out plainly in float64."""
    out: dict[str, list] = {k: [] for k in ("logprob", "entropy", "topk_entropy", "topp_size",
                                            "topp_entropy", "top_ids", "top_logprobs")}

    def entropy(x):
        x = x / x.sum()
        return float(-(x * np.log(x)).sum())

    for t, z in enumerate(logits.astype(np.float64)):
        logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
        p = np.exp(logp)
        order = np.argsort(-p, kind="stable")
        s = p[order]
        c = np.cumsum(s)
        sizes = [int(np.argmax(c >= P - 1e-6)) + 1 for P in TOPP]
        out["logprob"].append(logp[answer[t]])
        out["entropy"].append(-(p * logp).sum())
        out["topk_entropy"].append([entropy(s[:k]) for k in TOPK])
        out["topp_size"].append(sizes)
        out["topp_entropy"].append([0.0 if n == 1 else entropy(s[:n]) for n in sizes])
        out["top_ids"].append(order[:100])
        out["top_logprobs"].append(logp[order[:100]])
    return {k: np.array(v) for k, v in out.items()}


FLOATS = ("logprob", "entropy", "topk_entropy", "topp_entropy")


def test_every_step_summary_is_the_direct_computation(batched, stock, rows) -> None:
    """The summary of given logits equals the plain float64 computation to 1e-9; the stored
    steps equal the summaries of a teacher-forced forward pass over prompt + answer up to the
    float32 noise between a cached, batched, left-padded decode and one plain pass."""
    import torch

    from engine.generate import summarise

    model, tok = stock
    got = answers(batched, with_steps=True)
    worst = 0.0
    for row in rows:
        mine = got.loc[row["question_id"]]
        steps, tokens = mine["steps"], mine["token_ids"].tolist()
        logits = _teacher_forced_logits(model, prompt_ids(batched, row, tok), tokens)
        want = _direct_steps(logits, tokens)
        exact = summarise(torch.from_numpy(logits), torch.tensor(tokens), TOPK, TOPP)
        assert set(steps) == set(want) == set(exact) and len(steps["entropy"]) == len(tokens)
        for name in FLOATS:
            np.testing.assert_allclose(exact[name], want[name], rtol=0, atol=1e-9, err_msg=name)
            worst = max(worst, float(np.abs(steps[name] - want[name]).max()))
            np.testing.assert_allclose(steps[name], want[name], rtol=0, atol=1e-4, err_msg=name)
        np.testing.assert_array_equal(exact["topp_size"], want["topp_size"])
        np.testing.assert_array_equal(exact["top_ids"], want["top_ids"])
        np.testing.assert_allclose(exact["top_logprobs"], want["top_logprobs"], rtol=1e-6)
        np.testing.assert_array_equal(steps["top_ids"][:, :5], want["top_ids"][:, :5])
        np.testing.assert_allclose(steps["top_logprobs"], want["top_logprobs"], rtol=0, atol=1e-4)
    print(f"largest difference of a stored step from the teacher-forced pass: {worst:.2e}")


def _loop_measures(steps: dict, texts: list[str], stop: str, V: int) -> dict[str, float]:
    """§5.2-5.4 written out as loops over the stored steps."""
    T = len(texts)
    text, starts, pos = "".join(texts), [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t)
    span = None
    for bracket in "}])":
        at = text.find(bracket)
        if at >= 0 and sum(1 for s in starts if s < at) > 0:
            span = sum(1 for s in starts if s < at)
            break
    out = {}
    for prefix, n in (("fr", T), ("bfr", span if span is not None else T)):
        out[f"{prefix}_total_entropy"] = sum(steps["entropy"][t] for t in range(n)) / n / math.log(V)
        out[f"{prefix}_first_token_entropy"] = steps["entropy"][0] / math.log(V)
        for j, k in enumerate(TOPK):
            out[f"{prefix}_topk_entropy@{k}"] = sum(steps["topk_entropy"][t][j] / math.log(k)
                                                     for t in range(n)) / n
        for j, P in enumerate(TOPP):
            sizes = [int(steps["topp_size"][t][j]) for t in range(n)]
            out[f"{prefix}_topp_size@{P:g}"] = sum(sizes) / n
            num = sum(steps["topp_entropy"][t][j] for t in range(n) if sizes[t] > 1)
            den = sum(math.log(sizes[t]) for t in range(n) if sizes[t] > 1)
            out[f"{prefix}_topp_entropy@{P:g}"] = num / max(1e-10, den)
        out[f"{prefix}_perplexity"] = math.exp(-sum(steps["logprob"][t] for t in range(n)) / n)
    out["tok1_total_entropy"] = steps["entropy"][0] / math.log(V)
    out["tok1_top1_prob"] = float(steps["top_logprobs"][0][0])
    for j, k in enumerate(TOPK):
        out[f"tok1_topk_entropy@{k}"] = steps["topk_entropy"][0][j] / math.log(k)
    for j, P in enumerate(TOPP):
        n0 = int(steps["topp_size"][0][j])
        out[f"tok1_topp_size@{P:g}"] = n0
        out[f"tok1_topp_entropy@{P:g}"] = 0.0 if n0 == 1 else steps["topp_entropy"][0][j] / math.log(n0)
    out.update(fr_bracket_found=float(span is not None), fr_bracket_inferred=float(span is None),
               fr_hit_cap=float(stop == "cap"), fr_gen_length=float(T))
    return out


def test_every_measure_is_the_loop_over_the_stored_steps(batched) -> None:
    stored = read_results(batched).set_index("question_id")
    got = answers(batched, with_steps=True)
    V = read_manifest(batched)["model"]["vocab_size"]
    assert list(read_manifest(batched)["measures"])[:-3] == free_recall_measures()
    assert stored["fr_bracket_found"].sum() >= N_QUESTIONS // 2
    assert (stored["cloze"] == -1).all() and (stored["choice_mass"] == 0).all()
    for qid, gen in got.iterrows():
        want = _loop_measures(gen["steps"], gen["token_texts"], gen["stop"], V)
        assert set(want) == set(free_recall_measures())
        assert set(stored.columns) >= set(want)
        for name, value in want.items():
            assert stored.loc[qid, name] == pytest.approx(value, rel=1e-12, abs=1e-12), (qid, name)


def test_the_three_choice_measures_are_a_forward_pass_over_prompt_answer_and_question(
        batched, stock, rows) -> None:
    """§6.2 of the first paper: 'true, false or neutral?' asked after the answer, on the cache of
    prompt and answer; against one plain forward pass over the three, label spellings found
    here."""
    import torch

    from engine.choice_measures import choice_measures

    model, tok = stock
    stored = read_results(batched).set_index("question_id")
    got = answers(batched)
    question = tok.encode("\nIs this answer true, false or neutral? Answer:", add_special_tokens=False)
    labels = [[tok.encode(s, add_special_tokens=False)[0] for s in (f" {w}", f" {w.capitalize()}",
                                                                     w, w.capitalize())
               if len(tok.encode(s, add_special_tokens=False)) == 1]
              for w in ("true", "false", "neutral")]
    assert all(len(set(ids)) >= 2 for ids in labels)
    for row in rows:
        qid = row["question_id"]
        ids = prompt_ids(batched, row, tok) + got.loc[qid, "token_ids"].tolist() + question
        with torch.no_grad():
            p = torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()
        q = np.array([p[sorted(set(ids))].sum() for ids in labels])
        for name, value in choice_measures(q).items():
            assert stored.loc[qid, f"tc_{name}"] == pytest.approx(value, abs=1e-4), (qid, name)
    assert stored["tc_choice_entropy"].nunique() == N_QUESTIONS   # varied, not a constant
    assert read_manifest(batched)["measures"][-3:] == ["tc_choice_entropy", "tc_choice_top1",
                                                       "tc_choice_margin"]


def test_the_span_and_the_flags_on_constructed_answers() -> None:
    assert bracket_span(["Par", "is", "}."]) == 2          # '}' merged with the next character
    assert bracket_span(["The", " Beat", "les", "}"]) == 3
    assert bracket_span(["}", " and", ")"]) == 2            # an empty {} tries the next bracket
    assert bracket_span(["no", " bracket"]) is None
    T = 3
    steps = {"logprob": np.log([0.5, 0.25, 1.0]), "entropy": np.array([1.0, 2.0, 3.0]),
             "topk_entropy": np.ones((T, 5)), "topp_size": np.array([[1] * 4, [4] * 4, [2] * 4]),
             "topp_entropy": np.full((T, 4), 0.5), "top_ids": np.zeros((T, 100), np.int32),
             "top_logprobs": np.full((T, 100), -0.1, np.float32)}
    m = measures_from_steps(steps, ["Par", "is", "}."], "close", 100, TOPK, TOPP)
    assert (m["fr_bracket_found"], m["fr_bracket_inferred"], m["fr_hit_cap"]) == (1, 0, 0)
    assert m["fr_total_entropy"] == pytest.approx(2.0 / math.log(100))
    assert m["bfr_total_entropy"] == pytest.approx(1.5 / math.log(100))
    assert m["fr_topp_entropy@0.5"] == pytest.approx(1.0 / (math.log(4) + math.log(2)))
    assert m["bfr_topp_entropy@0.5"] == pytest.approx(0.5 / math.log(4))
    assert m["fr_perplexity"] == pytest.approx(math.exp(-(math.log(0.5) + math.log(0.25)) / 3))
    capped = measures_from_steps(steps, ["a", "b", "c"], "cap", 100, TOPK, TOPP)
    assert (capped["fr_bracket_found"], capped["fr_bracket_inferred"], capped["fr_hit_cap"]) == (0, 1, 1)
    assert capped["bfr_total_entropy"] == capped["fr_total_entropy"]


def test_a_close_bracket_merged_with_the_next_character_stops(smollm_dir, stock, rows) -> None:
    """Fault 3: '}.' is one SmolLM2 token; the released rule (exact '}' or ' }') missed it."""
    import torch

    from engine.generate import eos_ids, generate_batch, stop_token_mask
    from engine.models.hf_compat import cache_kwarg

    model, tok = stock
    merged = tok.convert_tokens_to_ids("}.")
    assert tok.decode([merged]) == "}." and len(tok.encode("}.", add_special_tokens=False)) == 1
    released_close = {i for s in ("}", " }") for i in [tok.encode(s, add_special_tokens=False)]
                      if len(i) == 1 for i in i}
    assert merged not in released_close

    class ForceAtStep3(torch.nn.Module):
        """The model, with '}.' made certain at the fourth generated step."""

        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls, self.generation_config = inner, 0, inner.generation_config

        def forward(self, cache=None, **kw):
            if cache is not None:
                kw[cache_kwarg(self.inner)] = cache
            out = self.inner(**kw)
            self.calls += 1
            if self.calls == 4:
                out.logits[..., merged] += 1e4
            return out

    ids = tok(prompt_for_question(rows[3], {"protocol": "successor", "task": "generate",
                                            "bos": tok.bos_token}),
              add_special_tokens=False)["input_ids"]
    (row,) = generate_batch(ForceAtStep3(model), [ids], pad_id=0, device="cpu",
                            max_new_tokens=MAX_NEW, stop_mask=stop_token_mask(tok, 49152),
                            eos=eos_ids(tok, model), topk=TOPK, topp=TOPP)
    assert row.token_ids[-1] == merged and row.stop == "close" and len(row.token_ids) <= 4
    assert len(row.steps["entropy"]) == len(row.token_ids)


def test_a_limited_run_completed_later_equals_one_run_whole(batched, smollm_dir, rows,
                                                            tmp_path) -> None:
    ws = tmp_path / "ws"
    first = generate(ws, smollm_dir, rows, limit=4)
    kept = read_results(first).set_index("question_id")
    assert len(answers(first)) == len(kept) == 4
    again = generate(ws, smollm_dir, rows)
    pd.testing.assert_frame_equal(read_results(again).set_index("question_id").loc[kept.index],
                                  kept)   # the stored rows are kept as they were
    assert again == first   # the limit is not in the run id: the same run, resumed
    whole, resumed = answers(batched), answers(again)
    assert list(resumed.index) == list(whole.index)
    for qid in whole.index:
        assert resumed.loc[qid, "token_ids"].tolist() == whole.loc[qid, "token_ids"].tolist()
        assert resumed.loc[qid, "answer"] == whole.loc[qid, "answer"]
    a = read_results(batched).set_index("question_id").sort_index()
    b = read_results(again).set_index("question_id").sort_index()
    cols = free_recall_measures()   # other batches: float32 noise of the forward pass only
    np.testing.assert_allclose(b[cols].to_numpy(), a[cols].to_numpy(), rtol=0, atol=1e-4)


def test_seeded_sampling_repeats_with_its_seed_and_differs_with_another(smollm_dir, rows,
                                                                       tmp_path) -> None:
    few = rows[:5]
    runs = {name: answers(generate(tmp_path / name, smollm_dir, few, temperature=1.5, seed=seed,
                                   max_new_tokens=20, batch_tokens=bt))
            for name, seed, bt in (("a", 0, 600), ("b", 0, 1), ("c", 1, 600))}
    tokens = {name: [t.tolist() for t in frame["token_ids"]] for name, frame in runs.items()}
    assert tokens["a"] == tokens["b"]           # same seed, other batches: the same answers
    assert tokens["a"] != tokens["c"]


def test_generation_settings_enter_the_run_id_only_when_generating(tmp_path, smollm_dir) -> None:
    make_dataset(tmp_path / "ws")
    plain = run_id_for(spec_for(tmp_path / "ws", smollm_dir, protocol="successor"))[0]
    scored = run_id_for(spec_for(tmp_path / "ws", smollm_dir, protocol="successor",
                                 max_new_tokens=7, temperature=0.5))[0]
    assert plain == scored   # a scoring run ignores them: its id is what it was
    greedy = run_id_for(spec_for(tmp_path / "ws", smollm_dir, protocol="successor", task="generate"))[0]
    capped = run_id_for(spec_for(tmp_path / "ws", smollm_dir, protocol="successor", task="generate",
                                 max_new_tokens=50))[0]
    assert len({plain, greedy, capped}) == 3 and "-successor-fr-" in greedy
    for kw, message in (({}, "needs --protocol successor, not none"),
                        ({"protocol": "successor-as-released"}, "not successor-as-released"),
                        ({"protocol": "successor", "max_new_tokens": 0}, "at least 1")):
        with pytest.raises(BadInput, match=message):
            run_id_for(spec_for(tmp_path / "ws", smollm_dir, task="generate", **kw))


@pytest.mark.parametrize(("model", "bos"), [("Llama_3.1_8B", "<|begin_of_text|>"), ("Falcon3_1B", "")])
def test_free_recall_prompts_are_the_released_ones(data_dir, model, bos) -> None:
    """§3.2: every Coane row's released ``formatted_question_fr``, byte for byte."""
    from engine.protocols import fr_completion_prompt

    path = data_dir / COANE.parent / f"coane_{model}.parquet"
    if not path.exists():
        pytest.skip(f"no released results at {path}")
    for rec in pd.read_parquet(path).itertuples():
        assert fr_completion_prompt(rec.Question, bos) == rec.formatted_question_fr, rec.Index


def test_chat_free_recall_prompts_are_the_released_ones_and_run(data_dir, smollm_dir, rows,
                                                                 tmp_path) -> None:
    """§3.3: Gemma's template (no system role: the system line before the first user turn) gives
    the released prompts; SmolLM2's takes a system turn, and a chat run generates after '{'."""
    from engine.protocols import protocol_prompt
    from tests.test_protocols import GEMMA_CHAT

    path = data_dir / COANE.parent / "coane_Gemma_2B_Ins.parquet"
    if not path.exists():
        pytest.skip(f"no released results at {path}")
    settings = {"protocol": "successor", "task": "generate", "chat_template": True,
                "chat_template_string": GEMMA_CHAT, "system_role": False,
                "chat_special": {"bos_token": "<bos>", "eos_token": "<eos>"}}
    for rec in pd.read_parquet(path).itertuples():
        assert protocol_prompt({"text": rec.Question, "choices": []}, settings) == \
            rec.formatted_question_fr, rec.Index
    run_dir = generate(tmp_path / "ws", smollm_dir, rows[:3], chat_template=True, max_new_tokens=8)
    prompt = prompt_for_question(rows[0], read_manifest(run_dir))
    assert prompt.startswith("<|im_start|>system\nAnswer each question concisely. Wrap the key "
                             "part of your answer in {} brackets.")
    assert "<|im_start|>user\nWhat is the chemical symbol for gold?<|im_end|>\n<|im_start|>"\
           "assistant\nThe chemical symbol for gold is {Au}.<|im_end|>" in prompt
    assert prompt.endswith("brackets:<|im_end|>\n<|im_start|>assistant\n{")
    assert len(answers(run_dir)) == 3
