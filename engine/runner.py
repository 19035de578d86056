"""The batched extraction runner: ``execute_run(spec)`` fills a run's results store.

Questions not yet in the store are sorted by the tokens they need run (their prompt less any
shared prefix or passage; longest first, so an out-of-memory error shows up in the first batch) and packed into batches whose padded size (longest prompt x
batch size) stays within ``spec.batch_tokens`` (``engine/batching.py``; on a CPU each core runs a
batch at a time, handed out as workers come free). Prompts are left-padded with position ids taken
from the attention mask, and only the last position's logits are computed (``logits_to_keep=1``).
The prompt prefix every question shares is computed once, and so is a passage that a group of
questions shares (``PassagePrefixes``). Every batch's rows are committed as soon as they are
computed, so a killed run loses only the batches in flight (one per worker), and running it again
resumes. Nothing of vocabulary size is kept between batches.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datasets_io.dataset import Dataset, load_dataset
from datasets_io.errors import BadInput
from datasets_io.workspace import Workspace, resolve_workspace
from engine import store as store_mod
from engine.batching import BatchQueue, InlineExecutor
from engine.cpu_memory import keep_freed_memory
from engine.errors import BAD_INPUT, CANCELLED, INTERNAL, OOM, EngineError
from engine.measure_names import TOP_TOKENS_KEPT, VARIANTS, measure_names
from engine.models.resolve import ModelRef, resolve_model
from engine.prompts import (
    LETTERS,
    PromptError,
    default_spellings,
    few_shot_examples,
    prompt_for_question,
    resolve_spellings,
    template_string,
)
from engine.run_spec import Progress, RunSpec, RunSummary, auto_batch_tokens

EventSink = Callable[[dict[str, Any]], None]
# A passage shared by several questions gets a prefix of its own when it is at least this long
# past the run-wide prefix: below that, the extra one-row forward pass costs about what it saves.
PASSAGE_MIN_TOKENS = 64


@dataclass
class RunPlan:
    """Everything decided before the model is loaded."""

    spec: RunSpec
    ws: Workspace
    dataset: Dataset
    model: ModelRef
    device: str
    dtype: str
    template: str
    spellings: tuple[str, ...]
    run_id: str
    run_dir: Path
    target_ids: list[str]
    few_shot: list[dict[str, Any]] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("alignuq", "torch", "transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def run_hash(dataset_sha: str, weights_sha: str, spec: RunSpec, template: str,
             spellings: tuple[str, ...], dtype: str) -> str:
    """What makes two runs' numbers differ (not batch size, limit, shard, writer or device)."""
    key = {"dataset": dataset_sha, "weights": weights_sha, "variant": spec.variant,
           "template": template, "spellings": list(spellings), "topk": [int(k) for k in spec.topk],
           "topp": [float(p) for p in spec.topp], "chat_template": bool(spec.chat_template),
           "few_shot": int(spec.few_shot), "seed": int(spec.seed), "dtype": dtype}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def plan_run(spec: RunSpec) -> RunPlan:
    """Resolve the dataset, the model (hashing its weights once) and the run id; load nothing."""
    from engine.models.load import resolve_device, resolve_dtype

    if spec.variant not in VARIANTS:
        raise EngineError(BAD_INPUT, f"unknown variant {spec.variant!r} ({', '.join(VARIANTS)})")
    if spec.batch_tokens < 0:
        raise EngineError(BAD_INPUT, "batch_tokens must be >= 0 (0: automatic)")
    if spec.limit is not None and spec.limit < 0:
        raise EngineError(BAD_INPUT, "limit must be >= 0")
    try:
        ws = resolve_workspace(spec.workspace).ensure()
        dataset = load_dataset(ws, spec.dataset)
    except BadInput as err:
        raise EngineError(BAD_INPUT, err.message) from None
    try:
        template = template_string(spec.template, spec.variant)
    except PromptError as err:
        raise EngineError(BAD_INPUT, f"template: {err}") from None
    spellings = tuple(spec.spellings) if spec.spellings else default_spellings(spec.variant)
    model = resolve_model(spec.model, ws.cache)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    h = run_hash(dataset.report_hash(), model.weights_sha256 or "", spec, template, spellings, dtype)
    run_id = f"{dataset.name}-{model.slug}-{h}"
    ids = [str(q) for q in dataset.questions["question_id"]]
    if spec.question_ids is not None:
        known = set(ids)
        missing = [q for q in spec.question_ids if q not in known]
        if missing:
            raise EngineError(BAD_INPUT, f"{len(missing)} question id(s) not in dataset "
                                         f"{dataset.name!r} (first: {missing[0]!r})")
        wanted = set(spec.question_ids)
        ids = [q for q in ids if q in wanted]
    if spec.limit is not None:
        ids = ids[:spec.limit]
    return RunPlan(spec=spec, ws=ws, dataset=dataset, model=model, device=device, dtype=dtype,
                   template=template, spellings=spellings, run_id=run_id,
                   run_dir=ws.runs / run_id, target_ids=ids,
                   few_shot=few_shot_examples(dataset.questions, spec.few_shot))


def run_id_for(spec: RunSpec) -> tuple[str, Path]:
    plan = plan_run(spec)
    return plan.run_id, plan.run_dir


def _manifest(plan: RunPlan, *, spellings: dict[str, Any], vocab_size: int, settings: dict[str, Any],
              status: str, n_done: int) -> dict[str, Any]:
    spec, m = plan.spec, plan.model
    old: dict[str, Any] = {}
    try:
        old = store_mod.read_manifest(plan.run_dir)
    except BadInput:
        pass
    return {
        "run_id": plan.run_id,
        "dataset": plan.dataset.name,
        "dataset_report_sha256": plan.dataset.report_hash(),
        "model": {"name": m.name, "source": m.source, "path": m.path, "origin": m.origin,
                  "architecture": m.architecture, "n_params": m.n_params, "vocab_size": vocab_size,
                  "weights_sha256": m.weights_sha256, "size_bytes": m.size_bytes},
        "variant": spec.variant,
        "template": plan.template,
        "spelling_patterns": list(plan.spellings),
        "spellings": spellings,
        "measures": measure_names(tuple(spec.topk), tuple(spec.topp)),
        "topk": [int(k) for k in spec.topk],
        "topp": [float(p) for p in spec.topp],
        "top_tokens_kept": TOP_TOKENS_KEPT,
        "chat_template": bool(spec.chat_template),
        "few_shot": int(spec.few_shot),
        **settings,
        "seed": int(spec.seed),
        "dtype": plan.dtype,
        "device": plan.device,
        "batch_tokens": int(spec.batch_tokens or auto_batch_tokens(plan.device)),
        "n_questions": int(len(plan.dataset.questions)),
        "n_total": len(plan.target_ids),
        "n_done": n_done,
        "status": status,
        "versions": _versions(),
        "created": old.get("created", _now()),
        "updated": _now(),
    }


class _Rate:
    """Questions per second over the last ``window`` seconds."""

    def __init__(self, window: float = 30.0):
        self.window = window
        self.points: deque[tuple[float, int]] = deque()

    def add(self, t: float, done: int) -> float:
        self.points.append((t, done))
        while len(self.points) > 2 and t - self.points[0][0] > self.window:
            self.points.popleft()
        (t0, d0), (t1, d1) = self.points[0], self.points[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0


def _attempt(fn: Callable[[list[int]], Any], batch: list[int]) -> Any:
    """``fn(batch)``, or the exception it raised (so OOM can be handled per batch)."""
    try:
        return fn(batch)
    except Exception as err:  # noqa: BLE001 - returned to the caller, which re-raises others
        return err


def _cpu_workers(device: str, spec: RunSpec) -> int:
    """On the CPU, one batch per core in parallel threads (1 thread each); elsewhere one."""
    import torch

    asked = spec.extra.get("cpu_workers")
    if asked:
        return max(1, int(asked))
    if not str(device).startswith("cpu"):
        return 1
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1, 8))


def _is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and ("out of memory" in str(err).lower()
                                              or "can't allocate memory" in str(err).lower())


def execute_run(spec: RunSpec, on_event: EventSink = lambda e: None,
                cancel: threading.Event | None = None) -> RunSummary:
    """Run (or resume) ``spec`` to completion; raise EngineError with a stable code otherwise."""
    t_start = time.time()
    run_dir: list[Path] = []

    def emit(event: dict[str, Any]) -> None:
        if run_dir:
            try:
                store_mod.append_event(run_dir[0], event, spec.writer)
            except OSError:
                pass
        on_event(event)

    def log(message: str, level: str = "info") -> None:
        emit({"type": "log", "level": level, "message": message})

    try:
        return _execute(spec, emit, log, cancel, run_dir, t_start)
    except EngineError as err:
        emit({"type": "error", "code": err.code, "message": err.message})
        raise
    except BadInput as err:
        emit({"type": "error", "code": BAD_INPUT, "message": err.message})
        raise EngineError(BAD_INPUT, err.message) from None
    except OSError as err:  # read-only or full workspace, vanished files
        msg = f"{getattr(err, 'filename', '') or ''}: {err.strerror or err}".lstrip(": ")
        emit({"type": "error", "code": BAD_INPUT, "message": msg})
        raise EngineError(BAD_INPUT, msg) from None


def _execute(spec: RunSpec, emit: EventSink, log: Callable[..., None],
             cancel: threading.Event | None, run_dir_box: list[Path], t_start: float) -> RunSummary:
    import torch

    from engine.measures import compute_measures
    from engine.models.load import load_model

    emit(Progress(run_id="", done=0, total=0, rate=0.0, eta_s=None, phase="loading").to_event())
    plan = plan_run(spec)
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir_box.append(run_dir)
    log(f"run {plan.run_id}: {len(plan.target_ids)} questions of {plan.dataset.name}, "
        f"model {plan.model.name} ({plan.model.source}) on {plan.device} ({plan.dtype})")

    store = store_mod.ResultStore(run_dir / store_mod.RESULTS_DIR / f"{spec.writer}.sqlite",
                                  plan.run_id, journal=spec.store_journal)
    model = tokenizer = None
    try:
        done = store.done_ids()
        target = set(plan.target_ids)
        todo_ids = [q for q in plan.target_ids if q not in done]
        n_done = len(target & done)
        n_total = len(plan.target_ids)

        torch.manual_seed(spec.seed)
        if str(plan.device).startswith("cpu"):
            keep_freed_memory()
        model, tokenizer, device, dtype = load_model(plan.model, plan.device, plan.dtype,
                                                     spec.trust_remote_code)
        vocab_size = int(model.get_output_embeddings().weight.shape[0]) \
            if model.get_output_embeddings() is not None else int(model.config.vocab_size)
        labels = list(LETTERS[:int(plan.dataset.questions["n_choices"].max() or 2)])
        try:
            resolved = resolve_spellings(tokenizer, labels, plan.spellings)
        except PromptError as err:
            raise EngineError(BAD_INPUT, str(err)) from None
        settings: dict[str, Any] = {"few_shot_examples": plan.few_shot,
                                    "add_special_tokens": not spec.chat_template}
        if spec.chat_template:
            chat = getattr(tokenizer, "chat_template", None)
            if not chat or not isinstance(chat, str):
                raise EngineError(BAD_INPUT, f"{plan.model.name} has no chat template; "
                                             "run without --chat-template")
            settings["chat_template_string"] = chat
            settings["chat_special"] = {k: v for k, v in tokenizer.special_tokens_map.items()
                                        if isinstance(v, str)}
        manifest_args = {"spellings": resolved.to_dict(), "vocab_size": vocab_size,
                         "settings": settings}
        if spec.writer == "main" or not (run_dir / store_mod.MANIFEST_FILE).exists():
            store_mod.write_manifest(run_dir, _manifest(plan, **manifest_args, status="running",
                                                        n_done=n_done))
        for d in resolved.dropped:
            log(f"label spelling {d['text']!r} dropped: {d['reason']}", "warning")

        # prompts and token lengths of what is left to do
        records = {str(r["question_id"]): r for r in plan.dataset.questions.to_dict("records")}
        prompt_settings = {"template": plan.template, "few_shot": spec.few_shot, **settings,
                           "chat_template": spec.chat_template}
        rows = [records[q] for q in todo_ids]
        texts = [prompt_for_question(r, prompt_settings) for r in rows]
        enc = tokenizer(texts, add_special_tokens=not spec.chat_template)["input_ids"] if texts else []
        label_ids = resolved.token_ids()
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        if pad_id >= vocab_size:
            pad_id = 0

        rate = _Rate()
        t_run = time.time()
        rate.add(t_run, n_done)
        emit(Progress(plan.run_id, n_done, n_total, 0.0, None, "running").to_event())
        budget = int(spec.batch_tokens or auto_batch_tokens(device))
        prefix = _shared_prefix(model, enc, device, spec, log)
        passages = PassagePrefixes(model, enc, device, prefix,
                                   int(spec.extra.get("passage_min_tokens", PASSAGE_MIN_TOKENS)), log)
        workers = _cpu_workers(device, spec)
        n_threads = torch.get_num_threads()

        def compute(batch: list[int]) -> list[Any]:
            if workers > 1:
                torch.set_num_threads(1)  # one core per worker: data parallel beats op-parallel
            with passages.prefix_for(batch) as batch_prefix:
                logits = _forward(model, [enc[i] for i in batch], pad_id, device, batch_prefix)
            return compute_measures(logits, label_ids, [int(rows[i]["n_choices"]) for i in batch],
                                    topk=tuple(spec.topk), topp=tuple(spec.topp),
                                    variant=spec.variant)

        cost = passages.cost
        order = sorted(range(len(enc)), key=lambda i: (-cost[i], i))
        queue = BatchQueue(order, cost, budget, workers, passages.group, passages.setup)
        pool: Any = ThreadPoolExecutor(workers, thread_name_prefix="alignuq-batch") \
            if workers > 1 else InlineExecutor()
        pending: dict[Future, list[int]] = {}
        n_new = 0
        try:
            while queue or pending:
                if cancel is not None and cancel.is_set():
                    raise EngineError(CANCELLED, f"run {plan.run_id} cancelled after {n_done} of "
                                                 f"{n_total} questions (they are kept)")
                while queue and len(pending) < workers:
                    batch = queue.take()
                    pending[pool.submit(_attempt, compute, batch)] = batch
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in finished:
                    batch, out = pending.pop(future), future.result()
                    if isinstance(out, BaseException):
                        if not _is_oom(out):
                            raise out
                        _free(device, collect=True)  # the failed batch's tensors may sit in cycles
                        if len(batch) == 1:
                            raise EngineError(OOM, f"question {rows[batch[0]]['question_id']} "
                                                   f"({len(enc[batch[0]])} tokens) does not fit in "
                                                   f"memory on {device}")
                        queue.put_back(batch)
                        budget = queue.halve_budget_below(batch)
                        log(f"out of memory with {len(batch)} questions x {len(enc[batch[0]])} "
                            f"tokens; batch budget lowered to {budget} tokens", "warning")
                        continue
                    added = store.add([_result_row(rows[i], res, len(enc[i]))
                                       for i, res in zip(batch, out, strict=True)])
                    n_new += added
                    n_done += added
                    r = rate.add(time.time(), n_done)
                    eta = (n_total - n_done) / r if r > 0 else None
                    emit(Progress(plan.run_id, n_done, n_total, r, eta, "running").to_event())
                    del out
        finally:
            pool.shutdown(wait=True)
            torch.set_num_threads(n_threads)

        wall = time.time() - t_start
        summary = RunSummary(run_id=plan.run_id, run_dir=str(run_dir), n_done=n_done,
                             n_total=n_total, n_new=n_new, wall_s=wall, device=device)
        if spec.writer == "main":
            store_mod.write_manifest(run_dir, _manifest(plan, **manifest_args, status="done",
                                                        n_done=n_done))
        emit(Progress(plan.run_id, n_done, n_total, rate.add(time.time(), n_done), 0.0,
                      "done").to_event())
        emit({"type": "finished", **summary.to_dict()})
        return summary
    except EngineError as err:
        if err.code == CANCELLED and spec.writer == "main":
            _set_status(run_dir, "cancelled", store)
        elif spec.writer == "main":
            _set_status(run_dir, "failed", store)
        raise
    except (BadInput, OSError):
        raise
    except Exception as err:
        if spec.writer == "main":
            _set_status(run_dir, "failed", store)
        raise EngineError(INTERNAL, f"{type(err).__name__}: {err}") from err
    finally:
        store.close()
        model = tokenizer = None  # also empties the cell ``compute`` closes over
        _free(plan.device)


def _result_row(row: dict[str, Any], res: Any, prompt_tokens: int) -> store_mod.ResultRow:
    import numpy as np

    return store_mod.ResultRow(
        question_id=str(row["question_id"]), cloze=res.cloze, label_probs=res.label_probs.tolist(),
        choice_mass=res.choice_mass, measures=res.measures, top_ids=res.top_ids.astype(np.int32),
        top_probs=res.top_probs.astype(np.float32), prompt_tokens=prompt_tokens)


def _set_status(run_dir: Path, status: str, store: store_mod.ResultStore) -> None:
    try:
        manifest = store_mod.read_manifest(run_dir)
        manifest["status"] = status
        manifest["n_done"] = len(store.done_ids()) if store.conn is not None else manifest.get("n_done")
        manifest["updated"] = _now()
        store_mod.write_manifest(run_dir, manifest)
    except (BadInput, OSError):
        pass


def _free(device: str, collect: bool = False) -> None:
    """Hand a GPU's cached blocks back to the driver, after a full collection (always on a GPU;
    on a CPU only when asked: the model has no reference cycles, so dropping the last reference
    frees it at once, and a collection at the end of every run took 0.2 s)."""
    import torch

    on_gpu = str(device).startswith("cuda") and torch.cuda.is_available()
    if collect or on_gpu:
        gc.collect()
    if on_gpu:
        torch.cuda.empty_cache()


class SharedPrefix:
    """The key/value cache of a token prefix that several prompts start with.

    The template's header (and a chat template's system part, and few-shot examples) is the same
    for every question; it is computed once and each batch attends to it, so only the
    question-specific tokens are run. A passage that a group of questions shares (a reading
    passage, a survey battery's stem) extends it the same way (``base``). Used only with plain
    (non-sliding-window) key/value caches.
    """

    def __init__(self, model: Any, ids: list[int], device: str,
                 base: SharedPrefix | None = None):
        import torch
        from transformers.cache_utils import DynamicCache, DynamicLayer

        start = base.length if base is not None else 0
        kwargs: dict[str, Any] = {}
        if base is not None:  # only the tokens past ``base`` are run, attending to its cache
            kwargs = {"past_key_values": base.cache_for(1),
                      "position_ids": torch.arange(start, len(ids), device=device)[None]}
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids[start:]], device=device),
                        attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=device),
                        use_cache=True, logits_to_keep=1, **kwargs)
        cache = out.past_key_values
        if not isinstance(cache, DynamicCache) or not cache.layers \
                or any(type(layer) is not DynamicLayer for layer in cache.layers):
            raise TypeError(f"unsupported cache {type(cache).__name__}")
        self.kv = [(layer.keys, layer.values) for layer in cache.layers]
        self.length = len(ids)

    def cache_for(self, batch: int) -> Any:
        from transformers.cache_utils import DynamicCache

        return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                            for k, v in self.kv])


def common_prefix(seqs: list[list[int]]) -> list[int]:
    """The longest token prefix shared by every sequence, leaving each at least one token."""
    if not seqs:
        return []
    first = seqs[0]
    n = min(len(s) for s in seqs) - 1
    for s in seqs[1:]:
        m = 0
        while m < n and s[m] == first[m]:
            m += 1
        n = m
        if n == 0:
            break
    return list(first[:max(0, n)])


def _lcp(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of ``a`` and ``b``, leaving each at least one token."""
    n = min(len(a), len(b)) - 1
    m = 0
    while m < n and a[m] == b[m]:
        m += 1
    return max(0, m)


def passage_groups(seqs: list[list[int]], skip: int, min_shared: int) -> tuple[list[int], list[int]]:
    """Groups of prompts that share at least ``min_shared`` tokens past the first ``skip``.

    Returns ``group`` (per prompt: its group, or -1) and ``shared`` (per group: the length of the
    prefix all its prompts share). Prompts sorted by their tokens put those with a common prefix
    next to each other, and a run of neighbours shares the smallest prefix of its neighbour pairs.
    """
    group = [-1] * len(seqs)
    shared: list[int] = []
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    run: list[int] = order[:1]
    run_len = 1 << 62
    for a, b in zip(order, order[1:] + [-1], strict=True):
        m = _lcp(seqs[a], seqs[b]) if b >= 0 else 0
        if m - skip >= min_shared:
            run.append(b)
            run_len = min(run_len, m)
            continue
        if len(run) > 1:
            for i in run:
                group[i] = len(shared)
            shared.append(run_len)
        run, run_len = [b], 1 << 62
    return group, shared


class PassagePrefixes:
    """The prefixes that groups of questions share past the run-wide one (``passage_groups``).

    A group's prefix is computed when its first batch runs, on top of the run-wide prefix, and
    dropped when the last of its questions is done, so at most a batch's worth is kept. Without a
    run-wide prefix (``share_prefix`` off, or a cache the trick does not fit) there are no groups.
    """

    def __init__(self, model: Any, seqs: list[list[int]], device: str, base: SharedPrefix | None,
                 min_shared: int, log: Callable[..., None]):
        self.model, self.seqs, self.device, self.base = model, seqs, device, base
        skip = base.length if base is not None else 0
        self.group, self.shared = passage_groups(seqs, skip, min_shared) \
            if base is not None else ([-1] * len(seqs), [])
        lengths = [self.shared[g] if g >= 0 else skip for g in self.group]
        self.cost = [len(s) - n for s, n in zip(seqs, lengths, strict=True)]
        self.setup = [n - skip for n in self.shared]  # each passage's tokens, run once
        counts = Counter(self.group)
        self._left = [counts[g] for g in range(len(self.shared))]  # questions still to run
        self._cache: dict[int, SharedPrefix] = {}
        self._lock = threading.Lock()
        if self.shared:
            saved = sum((n - 1) * tokens for n, tokens in zip(self._left, self.setup, strict=True))
            n = len(self.shared)
            log(f"{n} passage{'s' if n != 1 else ''} shared by {sum(self._left)} questions, each "
                f"computed once ({saved} tokens fewer to run)")

    @contextmanager
    def prefix_for(self, batch: list[int]) -> Iterator[SharedPrefix | None]:
        """The prefix ``batch`` (one group's questions, or none's) runs after."""
        g = self.group[batch[0]]
        if g < 0:
            yield self.base
            return
        with self._lock:
            prefix = self._cache.get(g)
            if prefix is None:
                prefix = self._cache[g] = SharedPrefix(self.model, self.seqs[batch[0]][:self.shared[g]],
                                                       self.device, self.base)
        yield prefix
        with self._lock:  # not reached when the batch failed (it is put back and runs again)
            self._left[g] -= len(batch)
            if self._left[g] <= 0:
                self._cache.pop(g, None)


def _shared_prefix(model: Any, seqs: list[list[int]], device: str, spec: RunSpec,
                   log: Callable[..., None]) -> SharedPrefix | None:
    if not spec.extra.get("share_prefix", True) or len(seqs) < 2:
        return None
    ids = common_prefix(seqs)
    if len(ids) < 4:
        return None
    try:
        prefix = SharedPrefix(model, ids, device)
    except Exception as err:  # noqa: BLE001 - any model the trick does not fit runs plainly
        log(f"shared prefix not used ({type(err).__name__}: {str(err)[:120]})", "debug")
        return None
    log(f"shared prompt prefix: {len(ids)} tokens computed once", "debug")
    return prefix


def _forward(model: Any, seqs: list[list[int]], pad_id: int, device: str,
             prefix: SharedPrefix | None = None):
    """Last-position logits ``[B, V]`` for left-padded ``seqs`` (after ``prefix``, if any)."""
    import torch

    skip = prefix.length if prefix is not None else 0
    width = max(len(s) for s in seqs) - skip
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for b, s in enumerate(seqs):
        tail = s[skip:]
        ids[b, width - len(tail):] = torch.tensor(tail, dtype=torch.long)
        mask[b, width - len(tail):] = 1
    position_ids = skip + (mask.cumsum(-1) - 1).clamp(min=0)
    kwargs: dict[str, Any] = {"use_cache": False}
    if prefix is not None:
        mask = torch.cat([torch.ones((len(seqs), skip), dtype=torch.long), mask], dim=1)
        kwargs = {"use_cache": True, "past_key_values": prefix.cache_for(len(seqs))}
    ids, mask, position_ids = ids.to(device), mask.to(device), position_ids.to(device)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids,
                    logits_to_keep=1, **kwargs)
        logits = out.logits
        if logits.dim() != 3 or logits.shape[0] != len(seqs):
            raise EngineError(INTERNAL, f"unexpected logits shape {tuple(logits.shape)}")
        return logits[:, -1, :]


os.environ.setdefault("HF_HUB_OFFLINE", "1")
