"""The batched runner against a direct batch-size-1 computation; resume, cancel, OOM, errors."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from common.errors import BAD_INPUT, BAD_MODEL, CANCELLED, MODEL_NOT_FOUND, OOM, AlignuqError
from datasets_io.dataset import Dataset, questions_frame, write_dataset
from datasets_io.workspace import resolve_workspace
from engine import prefixes, runner, store
from engine.events import (
    FinishedEvent,
    LogEvent,
    ProgressEvent,
    ProgressMeter,
    RunEvent,
    events_path,
)
from engine.measure_names import measure_names
from engine.plan import run_id_for
from engine.prompts import prompt_for_question
from engine.run_spec import RunSpec
from engine.store import read_manifest, read_results
from tests.test_measures import assert_row_matches, reference_measures

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
         "sigma tau upsilon phi chi psi omega").split()


def synthetic_questions(n: int = 14) -> list[dict]:
    """Questions of varied length and choice count (2..6), some with braces and commas."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        k = 2 + i % 5
        text = " ".join(rng.choice(WORDS, size=3 + 7 * (i % 4))) + ("? {q}" if i % 3 == 0 else "?")
        choices = [" ".join(rng.choice(WORDS, size=1 + (j % 3))) + ("," if j == 1 else "")
                   for j in range(k)]
        rows.append({"question_id": f"q{i:03d}", "source": "test", "text": text, "choices": choices,
                     "human_share": [1.0 / k] * k, "correct": int(i % k), "subject": None,
                     "n_choices": k, "meta": "{}"})
    return rows


def make_dataset(root: Path, name: str = "synth", rows: list[dict] | None = None) -> str:
    ws = resolve_workspace(root).ensure()
    frame = questions_frame(rows or synthetic_questions())
    report = {"name": name, "source": "test", "settings": {}, "counts": {}}
    write_dataset(ws, Dataset(name=name, questions=frame, report=report), force=True)
    return name


@pytest.fixture(scope="module")
def sharp_llama_dir(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with its (tied) embeddings scaled up: peaked, varied next-token distributions."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    with torch.no_grad():  # larger logits, and layers that mix in the context
        model.get_input_embeddings().weight.mul_(10.0)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.mul_(10.0)
            layer.mlp.down_proj.weight.mul_(10.0)
    out = tmp_path_factory.mktemp("sharp-llama")
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(out)
    return out


def direct_reference(run_dir: Path, dataset_rows: list[dict], model_dir: Path) -> dict[str, dict]:
    """Batch size 1, full-sequence logits, float32 softmax, numpy measures: the paper's way."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = read_manifest(run_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    labels = manifest["spellings"]["labels"]
    label_ids = [[s["token_id"] for s in manifest["spellings"]["kept"][lab]] for lab in labels]
    out = {}
    for row in dataset_rows:
        prompt = prompt_for_question(row, manifest)
        ids = tok(prompt, add_special_tokens=manifest["add_special_tokens"], return_tensors="pt")
        with torch.no_grad():
            logits = model(**ids).logits[0, -1]
        p = torch.softmax(logits.float(), -1).double().numpy()
        out[row["question_id"]] = reference_measures(
            p, label_ids, row["n_choices"], topk=tuple(manifest["topk"]),
            topp=tuple(manifest["topp"]), variant=manifest["variant"])
    return out


def spec_for(ws: Path, model: Path | str, **kw) -> RunSpec:
    return RunSpec(workspace=str(ws), dataset=kw.pop("dataset", "synth"), model=str(model), **kw)


@pytest.mark.parametrize("variant", ["corrected", "paper"])
def test_every_stored_measure_equals_the_direct_computation(tmp_path, sharp_llama_dir, variant) -> None:
    rows = synthetic_questions()
    make_dataset(tmp_path / "ws")
    summary = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, variant=variant,
                                          batch_tokens=200))
    assert summary.n_done == summary.n_new == len(rows)
    stored = read_results(Path(summary.run_dir), with_top=True).set_index("question_id")
    ref = direct_reference(Path(summary.run_dir), rows, sharp_llama_dir)
    assert stored["topp_size@0.5"].nunique() > 3 and stored["top1_prob"].max() > 0.3  # varied
    for qid, want in ref.items():
        got = stored.loc[qid]
        assert_row_matches({m: got[m] for m in measure_names()}, want)
        assert got["cloze"] == want["cloze"]
        assert got["label_probs"] == pytest.approx(want["label_probs"].tolist(), abs=1e-6)
        assert got["choice_mass"] == pytest.approx(want["choice_mass"], abs=1e-6)
        assert got["top_ids"].tolist()[:20] == want["top_ids"].tolist()[:20]
    if variant == "paper":
        assert read_manifest(Path(summary.run_dir))["template"].endswith("\nAnswer: ")


def test_batched_results_equal_batch_size_one(tmp_path, sharp_llama_dir) -> None:
    results = []
    for name, budget in (("one", 1), ("many", 4096)):
        make_dataset(tmp_path / name)
        s = runner.execute_run(spec_for(tmp_path / name, sharp_llama_dir, batch_tokens=budget))
        results.append((s, read_results(Path(s.run_dir), with_top=True).set_index("question_id")))
    (s1, one), (s2, many) = results
    assert s1.run_id == s2.run_id  # the batch budget is not part of the run id
    events = [json.loads(line) for line in events_path(Path(s1.run_dir)).read_text().splitlines()]
    n_batches_one = sum(1 for e in events if e["type"] == "progress" and e["phase"] == "running") - 1
    assert n_batches_one == len(one)
    for qid in one.index:
        for m in measure_names():
            a, b = one.loc[qid, m], many.loc[qid, m]
            if m.startswith("topp_size"):
                assert a == b, (qid, m)
            else:
                assert a == pytest.approx(b, abs=1e-5), (qid, m)
        assert one.loc[qid, "cloze"] == many.loc[qid, "cloze"]
        assert one.loc[qid, "label_probs"] == pytest.approx(many.loc[qid, "label_probs"], abs=1e-5)


def test_the_shared_prefix_gives_the_same_numbers(tmp_path, sharp_llama_dir) -> None:
    frames = []
    events: list[RunEvent] = []
    for name, share in (("plain", False), ("shared", True)):
        make_dataset(tmp_path / name)
        s = runner.execute_run(spec_for(tmp_path / name, sharp_llama_dir, batch_tokens=300,
                                        extra={"share_prefix": share}), on_event=events.append)
        frames.append(read_results(Path(s.run_dir)).set_index("question_id"))
    assert any("shared prompt prefix" in e.message for e in events if isinstance(e, LogEvent))
    plain, shared = frames
    for qid in plain.index:
        for m in measure_names():
            if m.startswith("topp_size"):
                assert plain.loc[qid, m] == shared.loc[qid, m], (qid, m)
            else:
                assert plain.loc[qid, m] == pytest.approx(shared.loc[qid, m], abs=1e-5), (qid, m)


def passage_questions() -> list[dict]:
    """Two reading passages, each shared by some questions, and questions with none."""
    rng = np.random.default_rng(5)
    rows = synthetic_questions(6)
    for p, n in ((0, 3), (1, 2)):
        passage = "Read this. " + " ".join(rng.choice(WORDS, size=60))
        for j in range(n):
            k = 3 + j
            rows.append({**rows[0], "question_id": f"p{p}-{j}", "n_choices": k,
                         "text": f"{passage}\n{' '.join(rng.choice(WORDS, size=4 + 3 * j))}?",
                         "choices": [str(w) for w in rng.choice(WORDS, size=k)],
                         "human_share": [1.0 / k] * k, "correct": 0})
    return rows


def test_questions_sharing_a_passage_match_the_direct_computation(tmp_path, sharp_llama_dir) -> None:
    rows = passage_questions()
    events: list[RunEvent] = []
    make_dataset(tmp_path / "ws", rows=rows)
    summary = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, batch_tokens=400),
                                 on_event=events.append)
    logs = [e.message for e in events if isinstance(e, LogEvent)]
    assert any(m.startswith("2 passages shared by 5 questions") for m in logs), logs
    stored = read_results(Path(summary.run_dir), with_top=True).set_index("question_id")
    for qid, want in direct_reference(Path(summary.run_dir), rows, sharp_llama_dir).items():
        got = stored.loc[qid]
        assert_row_matches({m: got[m] for m in measure_names()}, want)
        assert got["label_probs"] == pytest.approx(want["label_probs"].tolist(), abs=1e-6)
        assert got["top_ids"].tolist()[:20] == want["top_ids"].tolist()[:20]


def test_a_passage_is_computed_once_when_its_questions_run_in_separate_batches(
        tmp_path, sharp_llama_dir, monkeypatch) -> None:
    rows = passage_questions()
    made: list[int] = []
    real_init = prefixes.SharedPrefix.__init__

    def counting_init(self, model, ids, device, base=None):  # the real one, counted
        made.append(len(ids))
        real_init(self, model, ids, device, base)

    monkeypatch.setattr(prefixes.SharedPrefix, "__init__", counting_init)
    make_dataset(tmp_path / "ws", rows=rows)
    summary = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, batch_tokens=1,
                                          extra={"cpu_workers": 2}))
    assert summary.n_done == len(rows)
    assert len(made) == 3 and made[0] < min(made[1:])  # the header, then each passage once
    stored = read_results(Path(summary.run_dir)).set_index("question_id")
    for qid, want in direct_reference(Path(summary.run_dir), rows, sharp_llama_dir).items():
        assert_row_matches({m: stored.loc[qid, m] for m in measure_names()}, want)


def test_passage_groups_find_prompts_sharing_a_long_prefix() -> None:
    head = [1, 2]
    a, b = head + [7] * 10, head + [8] * 10  # two passages past the shared head
    seqs = [a + [3], b + [4, 4], a + [5, 5, 5], head + [9, 9], a + [6], b + [4, 5]]
    group, shared = prefixes.passage_groups(seqs, skip=2, min_shared=10)
    assert shared == [12, 13]  # a's three questions share 12 tokens; b's two also share [4]
    assert [group[i] for i in (0, 2, 4)] == [0, 0, 0]
    assert group[1] == group[5] == 1 and group[3] == -1
    assert prefixes.passage_groups(seqs, skip=2, min_shared=11)[0] == [-1, 0, -1, -1, -1, 0]
    # a prompt that is the passage itself keeps a token of its own
    assert prefixes.passage_groups([a, a + [1]], skip=2, min_shared=5) == ([0, 0], [11])


def test_common_prefix_leaves_every_prompt_a_token() -> None:
    assert prefixes.common_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4, 6]]) == [1, 2, 3]
    assert prefixes.common_prefix([[1, 2, 3], [1, 2, 3, 4]]) == [1, 2]
    assert prefixes.common_prefix([[1, 2], [2, 2]]) == []


def test_installed_transformers_honours_logits_to_keep(tiny_llama_dir) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    ids = torch.randint(0, 1000, (3, 11))
    with torch.no_grad():
        kept = model(input_ids=ids, logits_to_keep=1).logits
        full = model(input_ids=ids).logits
    assert kept.shape == (3, 1, model.config.vocab_size)
    assert torch.allclose(kept[:, 0], full[:, -1], atol=1e-5)


def test_left_padding_uses_position_ids_from_the_mask(tiny_llama_dir) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    short, long = [5, 6, 7], [8, 9, 10, 11, 12, 13, 14]
    batched = runner._forward(model, [long, short], pad_id=0, device="cpu")
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([short])).logits[0, -1]
    assert torch.allclose(batched[1], alone, atol=1e-5)


def test_resume_computes_each_question_exactly_once(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    first = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, limit=5))
    assert (first.n_done, first.n_total, first.n_new) == (5, 5, 5)
    events: list[RunEvent] = []
    second = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir), on_event=events.append)
    assert second.run_id == first.run_id
    assert (second.n_done, second.n_total, second.n_new) == (14, 14, 9)
    frame = read_results(Path(second.run_dir))
    assert sorted(frame["question_id"]) == [f"q{i:03d}" for i in range(14)]
    assert isinstance(events[-1], FinishedEvent) and events[-1].summary.n_new == 9
    progress = [e.progress for e in events if isinstance(e, ProgressEvent)
                and e.progress.phase == "running"]
    assert progress[0].done == 5 and progress[-1].done == 14
    manifest = read_manifest(Path(second.run_dir))
    assert manifest["status"] == "done" and manifest["n_total"] == 14
    third = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir))
    assert third.n_new == 0


@pytest.mark.parametrize("ending", ["finished", "cancelled"])
def test_the_model_is_freed_when_the_run_ends_without_a_collection(tmp_path, tiny_llama_dir,
                                                                   monkeypatch, ending) -> None:
    # a server process runs one job after another: each run's model must be gone at its end,
    # also while the error of a cancelled run (and its traceback, with the runner's frames) lives
    import gc
    import weakref

    from engine.models import load

    loaded: list[weakref.ref] = []
    real_load = load.load_model

    def spy(*args, **kwargs):
        out = real_load(*args, **kwargs)
        loaded.append(weakref.ref(out.model))
        return out

    monkeypatch.setattr(load, "load_model", spy)
    make_dataset(tmp_path / "ws")
    cancel = threading.Event()

    def on_event(e: RunEvent) -> None:
        if ending == "cancelled" and isinstance(e, ProgressEvent) and e.progress.done >= 1:
            cancel.set()

    spec = spec_for(tmp_path / "ws", tiny_llama_dir, batch_tokens=150, extra={"cpu_workers": 2})
    gc.collect()
    gc.disable()
    try:
        if ending == "finished":
            assert runner.execute_run(spec, on_event=on_event, cancel=cancel).n_new == 14
        else:
            with pytest.raises(AlignuqError) as err:
                runner.execute_run(spec, on_event=on_event, cancel=cancel)
            assert err.value.code == CANCELLED and err.tb is not None
        assert len(loaded) == 1
        assert loaded[0]() is None
    finally:
        gc.enable()


def test_cancel_between_batches_keeps_the_rows_done(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    cancel = threading.Event()

    def on_event(e: RunEvent) -> None:
        if isinstance(e, ProgressEvent) and e.progress.phase == "running" and e.progress.done >= 1:
            cancel.set()

    with pytest.raises(AlignuqError) as err:
        runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, batch_tokens=1),
                           on_event=on_event, cancel=cancel)
    assert err.value.code == CANCELLED
    run_id, run_dir = run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir))
    kept = len(read_results(run_dir))  # the batches computed in parallel with the first one
    assert 1 <= kept <= runner._cpu_workers("cpu", spec_for(tmp_path, tiny_llama_dir))
    assert read_manifest(run_dir)["status"] == "cancelled"
    done = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir))
    assert (done.n_new, done.n_done) == (14 - kept, 14)
    assert sorted(read_results(run_dir)["question_id"]) == [f"q{i:03d}" for i in range(14)]


def test_parallel_cpu_workers_give_the_same_numbers(tmp_path, sharp_llama_dir) -> None:
    frames = []
    for name, workers in (("one", 1), ("two", 2)):
        make_dataset(tmp_path / name)
        s = runner.execute_run(spec_for(tmp_path / name, sharp_llama_dir, batch_tokens=150,
                                        extra={"cpu_workers": workers}))
        frames.append(read_results(Path(s.run_dir)).set_index("question_id").sort_index())
    assert torch.get_num_threads() >= 1
    one, two = frames
    assert list(one.index) == list(two.index)
    for m in measure_names():
        assert np.allclose(one[m], two[m], atol=1e-6, equal_nan=True), m


def test_out_of_memory_halves_the_batch_and_finishes(tmp_path, tiny_llama_dir, monkeypatch) -> None:
    real = runner._forward
    sizes: list[int] = []

    def fake(model, seqs, pad_id, device, prefix=None):
        sizes.append(len(seqs))
        if len(seqs) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, seqs, pad_id, device, prefix)

    monkeypatch.setattr(runner, "_forward", fake)
    make_dataset(tmp_path / "ws")
    events: list[RunEvent] = []
    summary = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, batch_tokens=100000),
                                 on_event=events.append)
    assert summary.n_done == 14
    assert max(s for s in sizes) == 14 and sizes[-1] <= 2
    assert any("out of memory" in e.message for e in events if isinstance(e, LogEvent))

    def always(model, seqs, pad_id, device, prefix=None):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(runner, "_forward", always)
    make_dataset(tmp_path / "ws2")
    with pytest.raises(AlignuqError) as err:
        runner.execute_run(spec_for(tmp_path / "ws2", tiny_llama_dir))
    assert err.value.code == OOM


def test_spellings_that_are_not_single_tokens_are_dropped_and_recorded(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    summary = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, limit=3,
                                          spellings=("A", " A", "(A)", " Answer A")))
    manifest = read_manifest(Path(summary.run_dir))
    dropped = {(d["label"], d["text"]) for d in manifest["spellings"]["dropped"]}
    assert ("A", " Answer A") in dropped and ("B", "(B)") in dropped
    assert [s["text"] for s in manifest["spellings"]["kept"]["B"]] == ["B", " B"]


def test_manifest_records_what_makes_the_numbers(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    summary = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, limit=2))
    m = read_manifest(Path(summary.run_dir))
    for key in ("run_id", "dataset", "dataset_report_sha256", "variant", "template", "spellings",
                "measures", "topk", "topp", "chat_template", "few_shot", "seed", "dtype", "device",
                "n_questions", "n_total", "versions", "created", "updated"):
        assert key in m, key
    assert m["model"]["vocab_size"] == 49152 and len(m["model"]["weights_sha256"]) == 64
    assert m["measures"] == measure_names()
    assert m["n_questions"] == 14 and m["n_total"] == 2
    assert set(m["versions"]) >= {"alignuq", "torch", "transformers", "python"}
    assert summary.run_id.startswith("synth-") and m["dtype"] == "float32"
    other = run_id_for(spec_for(tmp_path / "ws", tiny_llama_dir, variant="paper"))[0]
    assert other != summary.run_id


def test_few_shot_and_chat_template_prompts(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    summary = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, limit=2, few_shot=2,
                                          chat_template=True))
    m = read_manifest(Path(summary.run_dir))
    prompt = prompt_for_question(synthetic_questions()[0], m)
    assert prompt.startswith("<|im_start|>") and prompt.count("Answer:") == 3
    assert m["add_special_tokens"] is False and len(m["few_shot_examples"]) == 3


@pytest.mark.parametrize("case", ["dataset", "model_path", "no_config", "no_tokenizer", "not_causal",
                                  "variant"])
def test_error_codes(tmp_path, tiny_llama_dir, case) -> None:
    import shutil

    make_dataset(tmp_path / "ws")
    model: Path | str = tiny_llama_dir
    kw: dict = {}
    if case == "dataset":
        kw["dataset"], code = "no-such-dataset", BAD_INPUT
    elif case == "model_path":
        model, code = tmp_path / "missing-model", MODEL_NOT_FOUND
    elif case == "variant":
        kw["variant"], code = "nonsense", BAD_INPUT
    else:
        model, code = tmp_path / "broken", BAD_MODEL
        shutil.copytree(tiny_llama_dir, model)
        if case == "no_config":
            (model / "config.json").unlink()
        elif case == "no_tokenizer":
            for f in model.glob("tokenizer*"):
                f.unlink()
        else:
            cfg = json.loads((model / "config.json").read_text())
            cfg["architectures"], cfg["model_type"] = ["BertModel"], "bert"
            (model / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(AlignuqError) as err:
        runner.execute_run(spec_for(tmp_path / "ws", model, **kw))
    assert err.value.code == code
    assert "\n" not in err.value.message


@pytest.mark.slow
def test_smollm_on_real_questions_matches_the_direct_computation(tmp_path, smollm_dir, data_dir) -> None:
    """SmolLM2-135M on real MMLU and Coane questions, both variants."""
    import csv

    rows = []
    for i, rec in enumerate(csv.reader(open(data_dir / "mmlu" / "test" / "anatomy_test.csv"))):
        if i >= 4:
            break
        rows.append({"question_id": f"anatomy-{i}", "source": "mmlu", "text": rec[0],
                     "choices": rec[1:5], "human_share": None, "correct": "ABCD".index(rec[5]),
                     "subject": "anatomy", "n_choices": 4, "meta": "{}"})
    with open(data_dir / "coane2021_trivia_mc.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for i, rec in enumerate(reader):
            if i >= 3:
                break
            opts = [v for k, v in rec.items() if k.lower().startswith(("option", "choice", "answer_"))]
            if len(opts) < 2:
                continue
            rows.append({"question_id": f"coane-{i}", "source": "coane", "text": rec.get("question") or
                         next(iter(rec.values())), "choices": opts[:4], "human_share": None,
                         "correct": None, "subject": None, "n_choices": len(opts[:4]), "meta": "{}"})
    make_dataset(tmp_path / "ws", "real", rows)
    for variant in ("corrected", "paper"):
        s = runner.execute_run(spec_for(tmp_path / "ws", smollm_dir, dataset="real", variant=variant))
        stored = read_results(Path(s.run_dir)).set_index("question_id")
        ref = direct_reference(Path(s.run_dir), rows, smollm_dir)
        for qid, want in ref.items():
            got = stored.loc[qid]
            # 30 float32 layers with other kernels and thread counts than the reference (one
            # thread per batch on the CPU): within 1e-5, absolute or relative to the value
            assert_row_matches({m: got[m] for m in measure_names()}, want, atol=1e-5)
            assert got["cloze"] == want["cloze"]
            assert not math.isnan(got["choice_mass"])


def test_rate_and_eta_count_from_the_first_batch_not_from_the_model_load() -> None:
    clock = [1000.0]
    meter = ProgressMeter("r", done=2, total=12, clock=lambda: clock[0])
    clock[0] += 20.0  # loading the model and encoding the prompts
    progress = [meter.start()]
    clock[0] += 2.0
    progress.append(meter.add(4))  # 4 questions in the 2 s since the start: 2 q/s, 6 left -> 3 s
    clock[0] += 3.0
    progress.append(meter.add(6))
    progress.append(meter.finish())
    running = [p for p in progress if p.phase == "running"]
    assert running[0].done == 2 and running[0].rate == 0.0 and running[0].eta_s is None
    assert running[1].rate == pytest.approx(2.0) and running[1].eta_s == pytest.approx(3.0)
    assert progress[-1].phase == "done" and progress[-1].rate == pytest.approx(10 / 5)
    assert progress[-1].eta_s == 0.0


def test_a_prompt_longer_than_the_models_context_is_refused_before_anything_runs(
        tmp_path, tiny_llama_dir) -> None:
    rows = synthetic_questions(4)
    rows[1]["text"] = " ".join(["apple"] * 2100)  # the tiny Llama's context is 2048 tokens
    rows[3]["text"] = " ".join(["pear"] * 2300)
    make_dataset(tmp_path / "ws", rows=rows)
    with pytest.raises(AlignuqError) as err:
        runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir))
    assert err.value.code == BAD_INPUT
    message = err.value.message
    assert message.startswith("question q003: its prompt is ") and "2048 tokens; 1 more: q001" in message
    n = int(message.split("its prompt is ")[1].split()[0])
    assert n > 2300 and "leave such questions out" in err.value.fix
    (run_dir,) = (tmp_path / "ws" / "runs").iterdir()
    assert store.count_done(run_dir) == 0


def test_more_few_shot_examples_than_the_dataset_can_give_is_refused(tmp_path, tiny_llama_dir) -> None:
    make_dataset(tmp_path / "ws", rows=synthetic_questions(4))
    with pytest.raises(AlignuqError) as err:
        runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, few_shot=4))
    assert err.value.code == BAD_INPUT
    assert err.value.what == "--few-shot 4 needs 5 questions with an answer (a correct one, or " \
                                "human shares) in dataset 'synth', which has 4"
    assert err.value.fix == "use --few-shot 3 or fewer"
    assert runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, few_shot=3)).n_done == 4


def test_a_smaller_limit_later_keeps_the_runs_total(tmp_path, tiny_llama_dir) -> None:
    from engine.runs import run_status

    make_dataset(tmp_path / "ws", rows=synthetic_questions(8))
    first = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, limit=6))
    run_dir = Path(first.run_dir)
    for limit, n_new in ((3, 0), (0, 0)):  # nothing new, and the 6 stored rows still count
        again = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir, limit=limit))
        assert (again.n_new, again.n_total) == (n_new, limit)
        m = read_manifest(run_dir)
        assert (m["n_done"], m["n_total"], m["status"]) == (6, 6, "done")
        st = run_status(run_dir)
        assert (st.status, st.n_done, st.n_total) == ("done", 6, 6)
    everything = runner.execute_run(spec_for(tmp_path / "ws", tiny_llama_dir))
    assert (everything.n_new, everything.n_done, everything.n_total) == (2, 8, 8)
    assert (read_manifest(run_dir)["n_total"], run_status(run_dir).n_total) == (8, 8)


def test_a_run_prints_no_warning_and_records_its_forward_path(tmp_path, tiny_llama_dir) -> None:
    # a fresh process, as a user runs it: transformers prints a deprecation once per process
    # (e.g. `past_key_values` renamed `cache` in 5.24), which the shared prefixes would trigger
    import subprocess
    import sys

    from tests.engine_helpers import REPO, engine_env

    make_dataset(tmp_path / "ws", rows=passage_questions())
    spec = spec_for(tmp_path / "ws", tiny_llama_dir, batch_tokens=400)
    code = ("import json, sys; from engine.run_spec import RunSpec; from engine.runner import "
            "execute_run; from engine.events import encode_event; "
            "execute_run(RunSpec.from_dict(json.loads(sys.argv[1])), "
            "on_event=lambda e: print(encode_event(e), end='', flush=True))")
    done = subprocess.run([sys.executable, "-W", "default", "-c", code, json.dumps(spec.to_dict())],
                          cwd=REPO, env=engine_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    logs = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(e.get("message", "").startswith("2 passages shared") for e in logs)
    assert not [e for e in logs if e.get("level") == "warning"]
    run_dir = next((tmp_path / "ws" / "runs").iterdir())
    path = read_manifest(run_dir)["forward_path"]
    assert path["decoder"] == "alignuq-lean", path
    assert path["lean_layers"] == path["decoder_layers"] == 2 and path["last_position_only"]
