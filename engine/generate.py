"""Free-recall generation (SCIENCE-successor.md §5.1): a batch of left-padded prompts, decoded
token by token with a key/value cache, each step's distribution summarised as it is made.

A row stops at the first generated token whose text (``decode([id])``) contains ``}`` (stop
``close``), or at an end-of-sequence token (``eos``), else after ``max_new_tokens`` (``cap``); the
stopping token is kept. Greedy decoding takes the argmax of the float32 logits (as
``model.generate(do_sample=False)``); with a temperature > 0 each question draws from
``softmax(logits / T)`` with its own generator, seeded by the run's seed and the question id, so
an answer does not depend on which batch it ran in. The step summaries describe the model's own
distribution (temperature 1) whatever the temperature. What is stored: ``engine/free_recall.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.free_recall import closes
from engine.measure_names import TOP_TOKENS_KEPT
from engine.measures import TOPP_TOL, _prefix_entropy, descending_head
from engine.models.hf_compat import output_cache, with_cache


@dataclass
class GeneratedRow:
    token_ids: list[int]
    stop: str                       # close | eos | cap
    steps: dict[str, np.ndarray]
    label_probs: np.ndarray | None = None   # the three-choice question's (engine.three_choice)


def stop_token_mask(tokenizer: Any, vocab_size: int) -> torch.Tensor:
    """``[V]`` bool: the ids whose text contains the closing bracket (ids the tokenizer does not
    know, in a padded output layer, never stop)."""
    known = min(vocab_size, len(tokenizer))
    texts = tokenizer.batch_decode([[i] for i in range(known)])
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    mask[[i for i, t in enumerate(texts) if closes(t)]] = True
    return mask


def eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """End-of-sequence ids: the tokenizer's and the generation config's (one id or a list)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    config = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(config) if isinstance(config, (list, tuple)) else {config}
    return {int(i) for i in ids if i is not None}


def question_seed(seed: int, question_id: str) -> int:
    digest = hashlib.sha256(f"{int(seed)}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def summarise(logits: torch.Tensor, chosen: torch.Tensor, topk: Sequence[int],
              topp: Sequence[float]) -> dict[str, np.ndarray]:
    """One step's summary per row of float32 ``logits`` ``[B, V]`` (see engine/free_recall.py)."""
    B, V = logits.shape
    logp = torch.log_softmax(logits.double(), dim=-1)
    p = logp.exp()
    entropy = -torch.special.xlogy(p, p).sum(-1)
    kept = min(TOP_TOKENS_KEPT, V)
    s, order = descending_head(p, max(kept, *(int(k) for k in topk)), max(topp) + TOPP_TOL)
    C, E = s.cumsum(-1), torch.special.xlogy(s, s).cumsum(-1)
    topk_h = [_prefix_entropy(C, E, torch.full((B,), min(int(k), V), dtype=torch.long,
                                               device=C.device)) for k in topk]
    sizes = [((C < P - TOPP_TOL).sum(-1) + 1).clamp(max=V) for P in topp]
    topp_h = [_prefix_entropy(C, E, n) for n in sizes]
    return {"logprob": logp.gather(1, chosen[:, None])[:, 0].cpu().numpy(),
            "entropy": entropy.cpu().numpy(),
            "topk_entropy": torch.stack(topk_h, 1).cpu().numpy(),
            "topp_size": torch.stack(sizes, 1).to(torch.int32).cpu().numpy(),
            "topp_entropy": torch.stack(topp_h, 1).cpu().numpy(),
            "top_ids": order[:, :kept].to(torch.int32).cpu().numpy(),
            "top_logprobs": s[:, :kept].log().float().cpu().numpy()}


def _choose(logits: torch.Tensor, temperature: float,
            generators: Sequence[torch.Generator] | None) -> torch.Tensor:
    if temperature <= 0 or generators is None:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1).cpu()
    return torch.cat([torch.multinomial(probs[b], 1, generator=g)
                      for b, g in enumerate(generators)]).to(logits.device)


@torch.inference_mode()
def generate_batch(model: Any, seqs: list[list[int]], *, pad_id: int, device: str,
                   max_new_tokens: int, stop_mask: torch.Tensor, eos: set[int],
                   topk: Sequence[int], topp: Sequence[float], temperature: float = 0.0,
                   seeds: Sequence[int] | None = None,
                   three_choice: tuple[list[int], list[list[int]]] | None = None
                   ) -> list[GeneratedRow]:
    """Generate for left-padded ``seqs``; every row's tokens, stop reason and step summaries,
    and with ``three_choice`` (the question's token ids, each label's spelling ids) the label
    probabilities of that question asked after the answer."""
    B, width = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((B, width), pad_id, dtype=torch.long)
    mask = torch.zeros((B, width), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[b, width - len(s):] = 1
    position = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, position = ids.to(device), mask.to(device), position.to(device)
    generators = None
    if temperature > 0:
        generators = [torch.Generator().manual_seed(int(s)) for s in (seeds or [0] * B)]
    stop_mask = stop_mask.to(device)
    eos_t = torch.tensor(sorted(eos) or [-1], device=device)
    out = model(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True,
                logits_to_keep=1)
    tokens: list[list[int]] = [[] for _ in range(B)]
    stops: list[str | None] = [None] * B
    parts: list[list[dict[str, np.ndarray]]] = [[] for _ in range(B)]
    last = position[:, -1:]
    for _ in range(max_new_tokens):
        logits = out.logits[:, -1, :].float()
        chosen = _choose(logits, temperature, generators)
        live = [b for b in range(B) if stops[b] is None]
        summary = summarise(logits[live], chosen[live], topk, topp)
        is_eos, is_close = torch.isin(chosen, eos_t).tolist(), stop_mask[chosen].tolist()
        for j, b in enumerate(live):
            tokens[b].append(int(chosen[b]))
            parts[b].append({k: v[j] for k, v in summary.items()})
            if is_eos[b]:
                stops[b] = "eos"
            elif is_close[b]:
                stops[b] = "close"
        if all(s is not None for s in stops):
            break
        live_now = torch.tensor([s is None for s in stops], device=device)
        step = torch.where(live_now, chosen, torch.full_like(chosen, pad_id))
        # a finished row's padding is masked out: the three-choice question follows its answer
        mask = torch.cat([mask, live_now[:, None].to(mask.dtype)], 1)
        last = last + 1
        out = model(input_ids=step[:, None], attention_mask=mask, position_ids=last,
                    **with_cache(model, output_cache(out)))
    rows = [GeneratedRow(tokens[b], stops[b] or "cap",
                         {k: np.stack([p[k] for p in parts[b]]) for k in parts[b][0]})
            for b in range(B)]
    if three_choice is not None:
        for row, q in zip(rows, _ask_three_choice(model, out, mask, seqs, tokens, three_choice,
                                                  device), strict=True):
            row.label_probs = q
    return rows


def _ask_three_choice(model: Any, out: Any, mask: torch.Tensor, seqs: list[list[int]],
                      tokens: list[list[int]], three_choice: tuple[list[int], list[list[int]]],
                      device: str) -> list[np.ndarray]:
    """The label probabilities of the question after each answer, on the cache of prompt and
    answer (which holds every generated token but the last)."""
    from engine.three_choice import label_probabilities

    question, label_ids = three_choice
    B, n = len(seqs), 1 + len(question)
    ids = torch.tensor([[t[-1], *question] for t in tokens], device=device)
    start = torch.tensor([len(s) + len(t) - 1 for s, t in zip(seqs, tokens, strict=True)],
                         device=device)
    position = start[:, None] + torch.arange(n, device=device)[None]
    mask = torch.cat([mask, torch.ones((B, n), dtype=mask.dtype, device=device)], 1)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position, logits_to_keep=1,
                   **with_cache(model, output_cache(out))).logits[:, -1, :]
    p = torch.softmax(logits.double(), dim=-1).cpu().numpy()
    return [label_probabilities(p[b], label_ids) for b in range(B)]
