"""The batched extraction runner: ``execute_run(spec)`` fills a run's results store.

Questions not yet in the store are sorted by the tokens they need run (their prompt less any
shared prefix or passage; longest first, so an out-of-memory error shows up in the first batch)
and packed into batches whose padded size (longest prompt x batch size) stays within
``spec.batch_tokens`` (``engine/batching.py``; on a CPU each core runs a batch at a time, handed
out as workers come free). Prompts are left-padded with position ids taken from the attention
mask, and only the last position's logits are computed (``logits_to_keep=1``). The prompt prefix
every question shares is computed once, and so is a passage that a group of questions shares
(``engine/prefixes.py``). Every batch's rows are committed as soon as they are computed, so a
killed run loses only the batches in flight (one per worker), and running it again resumes.
Nothing of vocabulary size is kept between batches.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import BAD_INPUT, CANCELLED, INTERNAL, OOM, AlignuqError, BadInput, write_failure
from engine import store as store_mod
from engine.activations import ActivationWriter, CaptureInfo, check_dtype
from engine.batching import BatchQueue, InlineExecutor
from engine.cpu_memory import keep_freed_memory
from engine.events import (
    ErrorEvent,
    FinishedEvent,
    LogEvent,
    Progress,
    ProgressEvent,
    ProgressMeter,
    RunEvent,
    append_event,
)
from engine.plan import RunPlan, manifest_for, plan_run, utc_now
from engine.prefixes import PASSAGE_MIN_TOKENS, PassagePrefixes, SharedPrefix, shared_prefix
from engine.prompts import LETTERS, PromptError, prompt_for_question, resolve_spellings
from engine.protocols import SUCCESSOR_EXAMPLES, supports_system_role
from engine.run_spec import RunSpec, RunSummary, auto_batch_tokens

EventSink = Callable[[RunEvent], None]


class _RunEvents:
    """The run's events: appended to its writer's events file once the run folder exists, and
    handed to ``on_event`` (the engine server forwards them to the front end)."""

    def __init__(self, writer: str, on_event: EventSink):
        self.writer, self.on_event = writer, on_event
        self.run_dir: Path | None = None

    def emit(self, event: RunEvent) -> None:
        if self.run_dir is not None:
            try:
                append_event(self.run_dir, event)
            except OSError:
                pass  # a full disk fails the next commit, with the error the user can act on
        self.on_event(event)

    def log(self, message: str, level: str = "info") -> None:
        self.emit(LogEvent(level, message, writer=self.writer))

    def progress(self, progress: Progress) -> None:
        self.emit(ProgressEvent(progress, writer=self.writer))


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
    """Run (or resume) ``spec`` to completion; raise AlignuqError with a stable code otherwise."""
    t_start = time.time()
    events = _RunEvents(spec.writer, on_event)
    try:
        return _execute(spec, events, cancel, t_start)
    except AlignuqError as err:
        events.emit(ErrorEvent.of(err, spec.writer))
        raise
    except OSError as err:  # a full or read-only workspace, vanished files
        bad = write_failure(err, events.run_dir or spec.workspace,
                            kept="the rows already stored are kept") \
            or BadInput(err.strerror or str(err), where=err.filename)
        events.emit(ErrorEvent(BAD_INPUT, bad.message, writer=spec.writer))
        raise bad from None


@dataclass
class _Loaded:
    """The model side of a run, once loaded."""

    model: Any
    tokenizer: Any
    device: str
    label_ids: Any              # per label, the token ids of its spellings
    pad_id: int
    manifest_args: dict[str, Any]  # what the manifest records about the model and prompts

    @property
    def settings(self) -> dict[str, Any]:
        return self.manifest_args["settings"]


def _execute(spec: RunSpec, events: _RunEvents, cancel: threading.Event | None,
             t_start: float) -> RunSummary:
    import torch

    events.progress(Progress.loading())
    plan = plan_run(spec)
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    events.run_dir = run_dir
    log = events.log
    log(f"run {plan.run_id}: {len(plan.target_ids)} questions of {plan.dataset.name}, "
        f"model {plan.model.name} ({plan.model.source}) on {plan.device} ({plan.dtype})")

    store = store_mod.ResultStore(run_dir / store_mod.RESULTS_DIR / f"{spec.writer}.sqlite",
                                  plan.run_id, journal=spec.store_journal)
    loaded: _Loaded | None = None
    capture: _Capture | None = None
    try:
        stored = store.done_ids()
        n_other = len(stored - set(plan.target_ids))
        torch.manual_seed(spec.seed)
        if str(plan.device).startswith("cpu"):
            keep_freed_memory()
        loaded = _load(plan, log)
        if spec.capture_activations:
            capture = _start_capture(plan, loaded, log)
        done = stored & capture.writer.done_ids() if capture else stored
        todo_ids = [q for q in plan.target_ids if q not in done]
        meter = ProgressMeter(plan.run_id, len(set(plan.target_ids) & done), len(plan.target_ids))
        if spec.writer == "main" or not (run_dir / store_mod.MANIFEST_FILE).exists():
            store_mod.write_manifest(run_dir, manifest_for(plan, **loaded.manifest_args,
                                                           status="running", n_done=meter.done,
                                                           n_other=n_other))
        rows, enc = _encode(plan, loaded, todo_ids)
        check_context(loaded.model, rows, enc)
        events.progress(meter.start())
        if spec.task == "generate":
            n_new = _run_generation(plan, loaded, rows, enc, store, meter, cancel, events)
        else:
            n_new = _run_batches(plan, loaded, rows, enc, store, meter, cancel, events, capture)
        summary = RunSummary(run_id=plan.run_id, run_dir=str(run_dir), n_done=meter.done,
                             n_total=meter.total, n_new=n_new, wall_s=time.time() - t_start,
                             device=loaded.device)
        if spec.writer == "main":
            store_mod.write_manifest(run_dir, manifest_for(plan, **loaded.manifest_args,
                                                           status="done", n_done=meter.done,
                                                           n_other=n_other))
        events.progress(meter.finish())
        events.emit(FinishedEvent(summary, writer=spec.writer))
        return summary
    except (BadInput, OSError):
        raise
    except AlignuqError as err:
        if spec.writer == "main":
            _set_status(run_dir, "cancelled" if err.code == CANCELLED else "failed", store)
        raise
    except Exception as err:
        if spec.writer == "main":
            _set_status(run_dir, "failed", store)
        raise AlignuqError(f"{type(err).__name__}: {err}", code=INTERNAL) from err
    finally:
        store.close()
        if capture is not None:
            capture.hooks.remove()
        loaded = capture = None  # a traceback keeps this frame: drop the model now, not with it
        _free(plan.device)


def _load(plan: RunPlan, log: Callable[..., None]) -> _Loaded:
    """Load the model and tokenizer, and resolve the label spellings and prompt settings."""
    from engine.models.load import load_model

    spec = plan.spec
    loaded = load_model(plan.model, plan.device, plan.dtype, spec.trust_remote_code)
    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    _log_forward_path(loaded.forward_path, log)
    head = model.get_output_embeddings()
    vocab_size = int(head.weight.shape[0]) if head is not None else int(model.config.vocab_size)
    labels = list(LETTERS[:int(plan.dataset.questions["n_choices"].max() or 2)])
    try:
        resolved = resolve_spellings(tokenizer, labels, plan.spellings)
    except PromptError as err:
        raise BadInput(str(err)) from None
    _log_dropped_spellings(resolved.dropped, spec.protocol, log)
    settings: dict[str, Any] = {"few_shot_examples": plan.few_shot,
                                "add_special_tokens": adds_special_tokens(spec)}
    if spec.chat_template:
        chat = getattr(tokenizer, "chat_template", None)
        if not chat or not isinstance(chat, str):
            raise BadInput(f"{plan.model.name} has no chat template; "
                                         "run without --chat-template")
        settings["chat_template_string"] = chat
        settings["chat_special"] = {k: v for k, v in tokenizer.special_tokens_map.items()
                                    if isinstance(v, str)}
    if spec.protocol:
        settings.update(protocol_settings(tokenizer, settings))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return _Loaded(model=model, tokenizer=tokenizer, device=device,
                   label_ids=resolved.token_ids(), pad_id=pad_id if pad_id < vocab_size else 0,
                   manifest_args={"spellings": resolved.to_dict(), "vocab_size": vocab_size,
                                  "settings": settings, "forward_path": loaded.forward_path})


@dataclass
class _Capture:
    """The hooks that keep each layer's last-position state, and the arrays they go to."""

    hooks: Any            # engine.models.capture.LastTokenCapture
    writer: ActivationWriter


def _start_capture(plan: RunPlan, loaded: _Loaded, log: Callable[..., None]) -> _Capture:
    from engine.models.capture import LastTokenCapture

    spec = plan.spec
    check_dtype(spec.activation_dtype)
    hooks = LastTokenCapture(loaded.model, embeddings=spec.capture_embeddings)
    info = CaptureInfo(tuple(str(q) for q in plan.dataset.questions["question_id"]), hooks.layers,
                       hooks.hidden_size, spec.activation_dtype, plan.dataset.report_hash())
    try:
        writer = ActivationWriter(plan.run_dir, spec.writer, info)
    except BaseException:
        hooks.remove()
        raise
    log(f"capturing the last prompt token's hidden state at layers {info.layers[0]}.."
        f"{info.layers[-1]} ({info.hidden_size} values, {info.dtype}) into {writer.folder}")
    return _Capture(hooks, writer)


def adds_special_tokens(spec: RunSpec) -> bool:
    """Whether the tokenizer adds its special tokens (BOS) to a prompt: not where the prompt
    already holds them (a chat template's, or a protocol's literal BOS)."""
    return not (spec.chat_template or spec.protocol)


def protocol_settings(tokenizer: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """What a protocol's prompts take from the tokenizer, recorded so they can be rebuilt."""
    out: dict[str, Any] = {"bos": tokenizer.bos_token or "",
                           "few_shot_examples": [dict(e) for e in SUCCESSOR_EXAMPLES]}
    if "chat_template_string" in settings:
        out["system_role"] = supports_system_role(settings["chat_template_string"],
                                                  settings["chat_special"])
    return out


def _log_dropped_spellings(dropped: list[dict[str, Any]], protocol: str | None,
                           log: Callable[..., None]) -> None:
    """Each dropped spelling is a warning, but a protocol's: they are expected (most of its 18
    spellings per letter are several tokens, or the same token, for any one tokenizer)."""
    if protocol:
        if dropped:
            log(f"{len(dropped)} label spellings of protocol {protocol} are not single tokens "
                "here (or repeat one): left out, as the protocol says (the manifest lists them)")
        return
    for d in dropped:
        log(f"label spelling {d['text']!r} dropped: {d['reason']}", "warning")


def _log_forward_path(path: dict[str, Any], log: Callable[..., None]) -> None:
    """Say which forward runs; a Llama-family model that misses the lean one is a warning (it
    runs slower, and usually means a transformers release moved an API the engine relies on)."""
    lean, every, why_not = path["lean_layers"], path["decoder_layers"], path["why_not"]
    if lean:
        log(f"lean decoder forward on {lean} of {every} layers"
            + (", the last one at the last position only" if path["last_position_only"] else ""),
            "debug")
    if why_not and "not a Llama-family decoder layer" not in why_not:
        log(f"{every - lean} of {every} decoder layers keep transformers' own forward "
            f"(transformers {path['transformers']}): {why_not}", "warning")


def _encode(plan: RunPlan, loaded: _Loaded, todo_ids: list[str]) -> tuple[list[dict[str, Any]],
                                                                          list[list[int]]]:
    """The dataset rows of ``todo_ids`` and their prompts' token ids."""
    spec = plan.spec
    records = {str(r["question_id"]): r for r in plan.dataset.questions.to_dict("records")}
    prompt_settings = {"template": plan.template, "few_shot": spec.few_shot, **loaded.settings,
                       "chat_template": spec.chat_template, "protocol": spec.protocol,
                       "task": spec.task}
    rows = [records[q] for q in todo_ids]
    texts = [prompt_for_question(r, prompt_settings) for r in rows]
    if not texts:
        return rows, []
    return rows, loaded.tokenizer(texts, add_special_tokens=adds_special_tokens(spec))["input_ids"]


def context_length(config: Any) -> int | None:
    """The longest sequence the model was built for (None when its config does not say)."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_context(model: Any, rows: list[dict[str, Any]], enc: list[list[int]]) -> None:
    """Refuse prompts longer than the model's context: past it, a model with learned positions
    fails and one with rotary positions gives numbers from positions it was never trained on."""
    limit = context_length(getattr(model, "config", None))
    if limit is None:
        return
    too_long = sorted(((len(e), str(rows[i]["question_id"])) for i, e in enumerate(enc)
                       if len(e) > limit), reverse=True)
    if not too_long:
        return
    (n, qid), others = too_long[0], [q for _, q in too_long[1:]]
    more = f"; {len(others)} more: {', '.join(others[:5])}{', …' if len(others) > 5 else ''}" \
        if others else ""
    raise BadInput(f"its prompt is {n} tokens, longer than the model's context of {limit} "
                   f"tokens{more}", where=f"question {qid}",
                   fix="leave such questions out (`alignuq datasets derive NAME --name NEW "
                       "--exclude ID`), use fewer few-shot examples, or a model with a longer context")


def _run_batches(plan: RunPlan, loaded: _Loaded, rows: list[dict[str, Any]], enc: list[list[int]],
                 store: store_mod.ResultStore, meter: ProgressMeter,
                 cancel: threading.Event | None, events: _RunEvents,
                 capture: _Capture | None = None) -> int:
    """Run ``rows`` in batches (one per worker at a time), committing each batch's results (and
    first its activations, when captured) as it comes back; return how many rows were added to
    the store."""
    import torch

    from engine.measures import compute_measures

    spec, device, log = plan.spec, loaded.device, events.log
    prefix = shared_prefix(loaded.model, enc, device, bool(spec.extra.get("share_prefix", True)), log)
    passages = PassagePrefixes(loaded.model, enc, device, prefix,
                               int(spec.extra.get("passage_min_tokens", PASSAGE_MIN_TOKENS)), log)
    workers = _cpu_workers(device, spec)
    n_threads = torch.get_num_threads()

    def compute(batch: list[int]) -> tuple[list[Any], dict[int, Any]]:
        if workers > 1:
            torch.set_num_threads(1)  # one core per worker: data parallel beats op-parallel
        with passages.prefix_for(batch) as batch_prefix:
            with _recording(capture) as states:
                logits = _forward(loaded.model, [enc[i] for i in batch], loaded.pad_id, device,
                                  batch_prefix)
        return compute_measures(logits, loaded.label_ids, [int(rows[i]["n_choices"]) for i in batch],
                                topk=tuple(spec.topk), topp=tuple(spec.topp),
                                variant=spec.variant), states

    order = sorted(range(len(enc)), key=lambda i: (-passages.cost[i], i))
    queue = BatchQueue(order, passages.cost, int(spec.batch_tokens or auto_batch_tokens(device)),
                       workers, passages.group, passages.setup)
    pool: Any = ThreadPoolExecutor(workers, thread_name_prefix="alignuq-batch") \
        if workers > 1 else InlineExecutor()
    pending: dict[Future, list[int]] = {}
    n_new = 0
    try:
        while queue or pending:
            if cancel is not None and cancel.is_set():
                raise AlignuqError(f"run {plan.run_id} cancelled after {meter.done} of "
                                   f"{meter.total} questions (they are kept)", code=CANCELLED)
            while queue and len(pending) < workers:
                batch = queue.take()
                pending[pool.submit(_attempt, compute, batch)] = batch
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                batch, out = pending.pop(future), future.result()
                if isinstance(out, BaseException):
                    _retry_smaller(out, batch, queue, rows, enc, device, log)
                    continue
                results, states = out
                if capture is not None:
                    capture.writer.write([str(rows[i]["question_id"]) for i in batch],
                                         {layer: t.numpy() for layer, t in states.items()})
                added = store.add([_result_row(rows[i], res, len(enc[i]))
                                   for i, res in zip(batch, results, strict=True)])
                n_new += added
                events.progress(meter.add(len(batch) if capture is not None else added))
                del out, results, states
    finally:
        pool.shutdown(wait=True)
        torch.set_num_threads(n_threads)
        loaded = passages = prefix = None  # a traceback keeps this frame (see _execute)
    return n_new


def _run_generation(plan: RunPlan, loaded: _Loaded, rows: list[dict[str, Any]],
                    enc: list[list[int]], store: store_mod.ResultStore, meter: ProgressMeter,
                    cancel: threading.Event | None, events: _RunEvents) -> int:
    """Generate the answers of ``rows`` in batches (``engine/generate.py``), committing each
    batch's answers and their measures as it finishes; return how many rows were added."""
    from engine import three_choice
    from engine.free_recall import measures_from_steps
    from engine.generate import eos_ids, generate_batch, question_seed, stop_token_mask

    spec, device, tok = plan.spec, loaded.device, loaded.tokenizer
    vocab_size = int(loaded.manifest_args["vocab_size"])
    stop_mask, eos = stop_token_mask(tok, vocab_size), eos_ids(tok, loaded.model)
    asked = (three_choice.question_ids(tok), three_choice.label_token_ids(tok))
    cost = [len(e) + spec.max_new_tokens for e in enc]
    queue = BatchQueue(sorted(range(len(enc)), key=lambda i: (-cost[i], i)), cost,
                       int(spec.batch_tokens or auto_batch_tokens(device)))
    n_new = 0
    while queue:
        if cancel is not None and cancel.is_set():
            raise AlignuqError(f"run {plan.run_id} cancelled after {meter.done} of "
                               f"{meter.total} questions (they are kept)", code=CANCELLED)
        batch = queue.take()
        qids = [str(rows[i]["question_id"]) for i in batch]
        out = _attempt(lambda b: generate_batch(
            loaded.model, [enc[i] for i in b], pad_id=loaded.pad_id, device=device,
            max_new_tokens=spec.max_new_tokens, stop_mask=stop_mask, eos=eos,
            topk=tuple(spec.topk), topp=tuple(spec.topp), temperature=spec.temperature,
            seeds=[question_seed(spec.seed, str(rows[i]["question_id"])) for i in b],
            three_choice=asked), batch)
        if isinstance(out, BaseException):
            _retry_smaller(out, batch, queue, rows, enc, device, events.log)
            continue
        results, generations = [], []
        for i, qid, gen in zip(batch, qids, out, strict=True):
            texts = [tok.decode([t]) for t in gen.token_ids]
            measures = measures_from_steps(gen.steps, texts, gen.stop, vocab_size,
                                           spec.topk, spec.topp)
            measures.update(three_choice.measures(gen.label_probs))
            results.append(store_mod.ResultRow(qid, cloze=-1, label_probs=[], choice_mass=0.0,
                                               measures=measures, prompt_tokens=len(enc[i])))
            generations.append(store_mod.Generation(
                qid, answer=tok.decode(gen.token_ids, skip_special_tokens=True), stop=gen.stop,
                token_ids=np.asarray(gen.token_ids, np.int32), token_texts=texts,
                steps=gen.steps))
        added = store.add(results, generations)
        n_new += added
        events.progress(meter.add(added))
    return n_new


@contextmanager
def _recording(capture: _Capture | None) -> Iterator[dict[int, Any]]:
    """The capture's record of this thread's forward pass (an empty dict when not capturing)."""
    if capture is None:
        yield {}
        return
    with capture.hooks.recording() as states:
        yield states


def _retry_smaller(err: BaseException, batch: list[int], queue: BatchQueue,
                   rows: list[dict[str, Any]], enc: list[list[int]], device: str,
                   log: Callable[..., None]) -> None:
    """After a failed batch: re-raise anything but out-of-memory; otherwise put the batch back
    with half the budget (a single question that does not fit is an OOM error)."""
    if not _is_oom(err):
        raise err
    _free(device, collect=True)  # the failed batch's tensors may sit in cycles
    if len(batch) == 1:
        raise AlignuqError(f"question {rows[batch[0]]['question_id']} "
                               f"({len(enc[batch[0]])} tokens) does not fit in memory on {device}", code=OOM)
    queue.put_back(batch)
    budget = queue.halve_budget_below(batch)
    log(f"out of memory with {len(batch)} questions x {len(enc[batch[0]])} tokens; "
        f"batch budget lowered to {budget} tokens", "warning")


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
        manifest["updated"] = utc_now()
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



def _forward(model: Any, seqs: list[list[int]], pad_id: int, device: str,
             prefix: SharedPrefix | None = None):
    """Last-position logits ``[B, V]`` for left-padded ``seqs`` (after ``prefix``, if any)."""
    import torch

    from engine.models.hf_compat import with_cache

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
        kwargs = with_cache(model, prefix.cache_for(len(seqs)))
    ids, mask, position_ids = ids.to(device), mask.to(device), position_ids.to(device)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids,
                    logits_to_keep=1, **kwargs)
        logits = out.logits
        if logits.dim() != 3 or logits.shape[0] != len(seqs):
            raise AlignuqError(f"unexpected logits shape {tuple(logits.shape)}", code=INTERNAL)
        return logits[:, -1, :]


os.environ.setdefault("HF_HUB_OFFLINE", "1")
