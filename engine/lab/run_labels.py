"""A short, unique label for each run: its model, its variant where it is not the default (or
where another run of that model on the dataset has another), and what tells it apart from the
other runs of that model on the same dataset (few-shot, protocol, chat template, dtype, limit,
template, spellings). The one place that names runs: the console's run list, question detail,
attach list and the result tables' model column all take it. A free-recall run (task
generate) is told from its model's multiple-choice runs by its task. Pure: manifests in, labels out.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DEFAULT_VARIANT", "model_name", "run_labels", "short_id"]

DEFAULT_VARIANT = "corrected"


def model_name(manifest: Mapping[str, Any], run_id: str) -> str:
    """The model's name as the manifest gives it (the run id where it gives none)."""
    model = manifest.get("model")
    if isinstance(model, Mapping):
        return str(model.get("name") or model.get("path") or run_id)
    return str(model or run_id)


def short_id(run_id: str) -> str:
    """The run id's last part (its hash, for the ids the engine makes)."""
    return run_id.rsplit("-", 1)[-1][:8]


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:4]


def _limit(m: Mapping[str, Any]) -> str:
    total, size = m.get("n_total"), m.get("n_questions")
    if isinstance(total, int) and isinstance(size, int) and total < size:
        return f"first {total}"
    return "all"


def _spellings(m: Mapping[str, Any]) -> str:
    patterns = m.get("spelling_patterns")
    if isinstance(patterns, list) and patterns:
        return "spellings " + "/".join(repr(p).strip("'") for p in patterns)
    return f"spellings #{_digest(m.get('spellings'))}" if m.get("spellings") else ""


# Each trait: how a manifest shows it. Ordered: the first ones are what a researcher set; the
# template and the spellings follow from those, so they are named only when nothing else differs.
TRAITS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("task", lambda m: "free recall" if m.get("task") == "generate" else "multiple choice"),
    ("protocol", lambda m: f"protocol {m['protocol']}" if m.get("protocol") else "no protocol"),
    ("chat_template", lambda m: "chat" if m.get("chat_template") else "no chat"),
    ("few_shot", lambda m: f"{int(m.get('few_shot') or 0)}-shot"),
    ("dtype", lambda m: str(m.get("dtype") or "dtype ?")),
    ("limit", _limit),
)
DERIVED: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("template", lambda m: f"template #{_digest(m.get('template'))}" if m.get("template") else ""),
    ("spellings", _spellings),
)


def _differing(group: list[Mapping[str, Any]],
               traits: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...]) -> list[str]:
    return [key for key, show in traits if len({show(m) for m in group}) > 1]


def _describe(group: dict[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """For runs of one model and variant on one dataset: the traits that tell each apart."""
    manifests = list(group.values())
    keys = _differing(manifests, TRAITS) or _differing(manifests, DERIVED)
    shows = dict(TRAITS + DERIVED)
    return {rid: [shows[k](m) for k in keys] for rid, m in group.items()}


def run_labels(manifests: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``{run_id: label}``, unique among the runs of each dataset: the model, the variant (where
    it is not the default, or another run of the model on the dataset has another), the traits
    that tell it apart from the model's other runs there, and the run id's hash as a last
    resort (two runs made alike)."""
    by_model: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for rid, m in manifests.items():
        by_model[(str(m.get("dataset")), model_name(m, rid))][rid] = m
    labels: dict[str, str] = {}
    for (_, model), runs in by_model.items():
        variants = {rid: str(m.get("variant") or DEFAULT_VARIANT) for rid, m in runs.items()}
        name_variant = len(set(variants.values())) > 1
        by_variant: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
        for rid, m in runs.items():
            by_variant[variants[rid]][rid] = m
        for variant, group in by_variant.items():
            traits = _describe(group)
            for rid in group:
                parts = [model]
                if name_variant or variant != DEFAULT_VARIANT:
                    parts.append(variant)
                labels[rid] = " · ".join(parts + [t for t in traits[rid] if t])
    _break_ties(labels, manifests)
    return labels


def _break_ties(labels: dict[str, str], manifests: Mapping[str, Mapping[str, Any]]) -> None:
    """Runs alike in every trait get their id's hash (the full id where the hashes clash)."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rid, label in labels.items():
        seen[(str(manifests[rid].get("dataset")), label)].append(rid)
    for rids in seen.values():
        if len(rids) > 1:
            hashes = [short_id(rid) for rid in rids]
            unique = len(set(hashes)) == len(hashes)
            for rid, h in zip(rids, hashes, strict=True):
                labels[rid] += f" #{h}" if unique else f" #{rid}"
