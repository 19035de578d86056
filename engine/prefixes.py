"""Prompt prefixes computed once: the run-wide header, and passages that groups of questions share.

Every prompt of a run starts with the same template header (and a chat template's system part,
and few-shot examples): its keys and values are computed once (``SharedPrefix``) and each batch
attends to them, so only the question-specific tokens are run. Questions that share a longer
stretch past it (a reading passage with several questions on it, a survey battery's stem) form a
group whose passage is computed once on top of the header (``passage_groups``,
``PassagePrefixes``). Only plain (non-sliding-window) key/value caches are used this way; any
other model runs every token.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# A passage shared by several questions gets a prefix of its own when it is at least this long
# past the run-wide prefix: below that, the extra one-row forward pass costs about what it saves.
PASSAGE_MIN_TOKENS = 64


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

        from engine.models.hf_compat import output_cache, with_cache

        start = base.length if base is not None else 0
        kwargs: dict[str, Any] = {"use_cache": True}
        if base is not None:  # only the tokens past ``base`` are run, attending to its cache
            kwargs = {**with_cache(model, base.cache_for(1)),
                      "position_ids": torch.arange(start, len(ids), device=device)[None]}
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids[start:]], device=device),
                        attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=device),
                        logits_to_keep=1, **kwargs)
        cache = output_cache(out)
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


def shared_prefix(model: Any, seqs: list[list[int]], device: str, enabled: bool,
                  log: Callable[..., None]) -> SharedPrefix | None:
    """The prefix every one of ``seqs`` starts with, computed once (None when ``enabled`` is off,
    when it is shorter than 4 tokens, or when the model's cache does not fit the trick)."""
    if not enabled or len(seqs) < 2:
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
