"""Planning a run: everything decided before a model is loaded (the dataset, the model's
identity and weights hash, the run id and folder, the questions), and the run's manifest.

Torch-free at import: the Slurm submission and the runs listing use it on a login node
(resolving ``--device auto`` imports torch when a plan is made, to ask for CUDA).
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.errors import BadInput
from datasets_io.dataset import Dataset, load_dataset
from datasets_io.workspace import Workspace, resolve_workspace
from engine import store as store_mod
from engine import three_choice
from engine.free_recall_names import free_recall_measures
from engine.measure_names import TOP_TOKENS_KEPT, VARIANTS, measure_names
from engine.models.resolve import ModelRef, resolve_model
from engine.prompts import PromptError, default_spellings, few_shot_examples, template_string
from engine.protocols import SUCCESSOR_SPELLINGS, SUCCESSOR_TEMPLATE
from engine.run_spec import RunSpec, auto_batch_tokens, check_protocol, check_task


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


def utc_now() -> str:
    """Now, in UTC, to the second (the manifest's created and updated)."""
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
    if spec.protocol:   # only then: the ids of runs made before protocols existed stay the same
        key["protocol"] = spec.protocol
    if spec.task != "score":   # likewise for the generation settings
        key.update(task=spec.task, max_new_tokens=int(spec.max_new_tokens),
                   temperature=float(spec.temperature))
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def plan_run(spec: RunSpec) -> RunPlan:
    """Resolve the dataset, the model (hashing its weights once) and the run id; load nothing."""
    from engine.models.load import resolve_device, resolve_dtype

    if spec.variant not in VARIANTS:
        raise BadInput(f"unknown variant {spec.variant!r} ({', '.join(VARIANTS)})")
    if spec.batch_tokens < 0:
        raise BadInput("batch_tokens must be >= 0 (0: automatic)")
    if spec.limit is not None and spec.limit < 0:
        raise BadInput("limit must be >= 0")
    check_protocol_spec(spec)
    check_task(spec)
    ws = resolve_workspace(spec.workspace).ensure()
    dataset = load_dataset(ws, spec.dataset)
    template, spellings = prompt_settings(spec)
    model = resolve_model(spec.model, ws.cache)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    h = run_hash(dataset.report_hash(), model.weights_sha256 or "", spec, template, spellings, dtype)
    run_id = "-".join([dataset.name, model.slug, *([spec.protocol] if spec.protocol else []),
                       *(["fr"] if spec.task == "generate" else []), h])
    ids = [str(q) for q in dataset.questions["question_id"]]
    if spec.question_ids is not None:
        known = set(ids)
        missing = [q for q in spec.question_ids if q not in known]
        if missing:
            raise BadInput(f"{len(missing)} question id(s) not in dataset "
                                         f"{dataset.name!r} (first: {missing[0]!r})")
        wanted = set(spec.question_ids)
        ids = [q for q in ids if q in wanted]
    if spec.limit is not None:
        ids = ids[:spec.limit]
    few_shot = few_shot_examples(dataset.questions, spec.few_shot)
    if spec.few_shot > 0 and len(few_shot) < spec.few_shot + 1:
        raise BadInput(f"--few-shot {spec.few_shot} needs {spec.few_shot + 1} questions "
                                     f"with an answer (a correct one, or human shares) in dataset "
                                     f"{dataset.name!r}, which has {len(few_shot)}", fix=f"use --few-shot {max(0, len(few_shot) - 1)} or fewer")
    return RunPlan(spec=spec, ws=ws, dataset=dataset, model=model, device=device, dtype=dtype,
                   template=template, spellings=spellings, run_id=run_id,
                   run_dir=ws.runs / run_id, target_ids=ids, few_shot=few_shot)


def check_protocol_spec(spec: RunSpec) -> None:
    """A protocol fixes the template, the spellings and the examples: none may be given too."""
    check_protocol(spec.protocol)
    if not spec.protocol:
        return
    given = [flag for flag, value in (("--template", spec.template), ("--spellings", spec.spellings),
                                      ("--few-shot", spec.few_shot), ("--variant paper",
                                                                      spec.variant == "paper"))
             if value]
    if given:
        raise BadInput(f"--protocol {spec.protocol} fixes the prompt whole; it cannot be combined "
                       f"with {', '.join(given)}", fix="leave those out, or the protocol")


def prompt_settings(spec: RunSpec) -> tuple[str, tuple[str, ...]]:
    """The run's exact template and label spelling patterns."""
    if spec.protocol:
        return SUCCESSOR_TEMPLATE, SUCCESSOR_SPELLINGS
    try:
        template = template_string(spec.template, spec.variant)
    except PromptError as err:
        raise BadInput(f"template: {err}") from None
    return template, tuple(spec.spellings) if spec.spellings else default_spellings(spec.variant)


def run_id_for(spec: RunSpec) -> tuple[str, Path]:
    plan = plan_run(spec)
    return plan.run_id, plan.run_dir


def manifest_for(plan: RunPlan, *, spellings: dict[str, Any], vocab_size: int, settings: dict[str, Any],
              forward_path: dict[str, Any], status: str, n_done: int,
              n_other: int = 0) -> dict[str, Any]:
    """The run's manifest. ``n_other`` counts rows stored earlier beyond this invocation's
    questions (a smaller ``--limit`` than before): the run still holds them."""
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
        "protocol": spec.protocol,
        "template": plan.template,
        "spelling_patterns": list(plan.spellings),
        "spellings": spellings,
        "task": spec.task,
        **({"max_new_tokens": int(spec.max_new_tokens), "temperature": float(spec.temperature)}
           if spec.task == "generate" else {}),
        "measures": ([*free_recall_measures(tuple(spec.topk), tuple(spec.topp)),
                      *three_choice.MEASURES] if spec.task == "generate" else measure_names(tuple(spec.topk), tuple(spec.topp))),
        "topk": [int(k) for k in spec.topk],
        "topp": [float(p) for p in spec.topp],
        "top_tokens_kept": TOP_TOKENS_KEPT,
        "chat_template": bool(spec.chat_template),
        "few_shot": int(spec.few_shot),
        **settings,
        "seed": int(spec.seed),
        "dtype": plan.dtype,
        "device": plan.device,
        "forward_path": forward_path,
        "batch_tokens": int(spec.batch_tokens or auto_batch_tokens(plan.device)),
        "n_questions": int(len(plan.dataset.questions)),
        "n_total": len(plan.target_ids) + n_other,
        "n_done": n_done + n_other,
        "status": status,
        "versions": _versions(),
        "created": old.get("created", utc_now()),
        "updated": utc_now(),
    }
