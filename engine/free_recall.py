"""Free-recall measures (SCIENCE-successor.md §5.2-5.4) from a generation's stored steps alone, so
they can be recomputed without the model. Torch-free.

A generation run stores per question its generated token ids, each token's text
(``decode([id])``) and, per step t (one per generated token, the stopping one included), the
summary of the model's next-token distribution p_t (computed in float64 from float32 logits):

``logprob``       log p_t(generated token)                                    float64 [T]
``entropy``       H(p_t), nats, over the whole vocabulary                     float64 [T]
``topk_entropy``  H(renormalised top K of p_t), one column per run top-k      float64 [T, nK]
``topp_size``     n_t = min{j : c_j >= P}, one column per run top-p           int32   [T, nP]
``topp_entropy``  H(renormalised nucleus of size n_t), nats                   float64 [T, nP]
``top_ids``       the 100 likeliest token ids                                 int32   [T, 100]
``top_logprobs``  their log-probabilities                                     float32 [T, 100]

What differs from the released definitions (AG.py), and why:

- **Stop rule** (fault 3): generation stops at the first token whose text contains ``}`` (so
  ``"}."`` stops it too) or at end of sequence, else at the cap; the released code stopped only on
  the exact tokens ``"}"``/``" }"``, so most base models ran to the 100-token cap. Every stored
  step is therefore in the sequence mask.
- **Bracket span**: the closing bracket is searched in the concatenation of the stored token
  texts, the very strings whose lengths give the character offsets (the released code searched
  the full decode but measured offsets with single-token decodes, which disagree where a
  SentencePiece decode drops a leading space). Otherwise as released: precedence ``}``, ``]``,
  ``)``; the span is the tokens starting before the bracket, kept only if not empty; else the
  whole answer, flagged inferred.
- ``fr_perplexity`` is ``exp(mean -log p_t(generated token))``; the released code used the
  argmax token's log-prob, the same for greedy decoding (not for sampling).
- Measures are float64 and not clipped (as released for free recall).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.free_recall_names import first_token_measures, sequence_measures

CLOSE = "}"
BRACKETS = ("}", "]", ")")   # precedence of the closing bracket searched for (§5.2)
STEP_ARRAYS = ("logprob", "entropy", "topk_entropy", "topp_size", "topp_entropy", "top_ids",
               "top_logprobs")


def closes(token_text: str) -> bool:
    """The stop rule's test of one generated token's text."""
    return CLOSE in token_text


def bracket_span(token_texts: Sequence[str]) -> int | None:
    """How many leading tokens the bracketed answer spans (None: no closing bracket found)."""
    text = "".join(token_texts)
    starts = np.cumsum([0, *(len(t) for t in token_texts)])[:-1]
    for bracket in BRACKETS:
        pos = text.find(bracket)
        if pos < 0:
            continue
        end = int(np.count_nonzero(starts < pos))
        if end > 0:
            return end
    return None


def _normalised_mean(values: np.ndarray, scale: float) -> float:
    return float(np.mean(values) / scale)


def _sequence(steps: dict[str, np.ndarray], n: int, vocab_size: int, topk: Sequence[int],
              topp: Sequence[float], prefix: str) -> dict[str, float]:
    """§5.3 over the first ``n`` steps."""
    names = iter(sequence_measures(prefix, tuple(topk), tuple(topp)))
    log_v = math.log(vocab_size)
    out = {next(names): _normalised_mean(steps["entropy"][:n], log_v),
           next(names): float(steps["entropy"][0] / log_v)}
    for j, k in enumerate(topk):
        out[next(names)] = _normalised_mean(steps["topk_entropy"][:n, j], math.log(k))
    sizes = steps["topp_size"][:n].astype(np.float64)
    for j in range(len(topp)):
        out[next(names)] = float(sizes[:, j].mean())
    for j in range(len(topp)):
        wide = sizes[:, j] > 1   # a ratio of sums over the steps whose nucleus has > 1 token
        out[next(names)] = float(steps["topp_entropy"][:n, j][wide].sum()
                                 / max(1e-10, np.log(sizes[wide, j]).sum()))
    out[next(names)] = float(np.exp(-np.mean(steps["logprob"][:n])))
    return out


def _first_token(steps: dict[str, np.ndarray], vocab_size: int, topk: Sequence[int],
                 topp: Sequence[float]) -> dict[str, float]:
    """§5.4: the multiple-choice measures of step 0's distribution (not clipped)."""
    names = iter(first_token_measures(tuple(topk), tuple(topp)))
    out = {next(names): float(steps["entropy"][0] / math.log(vocab_size)),
           next(names): float(steps["top_logprobs"][0, 0])}
    for j, k in enumerate(topk):
        out[next(names)] = float(steps["topk_entropy"][0, j] / math.log(k))
    sizes = steps["topp_size"][0]
    for j in range(len(topp)):
        out[next(names)] = float(sizes[j])
    for j in range(len(topp)):
        n = int(sizes[j])
        out[next(names)] = 0.0 if n <= 1 else float(steps["topp_entropy"][0, j] / math.log(n))
    return out


def measures_from_steps(steps: dict[str, np.ndarray], token_texts: Sequence[str], stop: str,
                        vocab_size: int, topk: Sequence[int], topp: Sequence[float]
                        ) -> dict[str, float]:
    """Every free-recall measure of one answer (``engine.free_recall_names``)."""
    n = len(token_texts)
    if n == 0 or len(steps["entropy"]) != n:
        raise ValueError(f"{len(steps['entropy'])} steps for {n} tokens")
    span = bracket_span(token_texts)
    out = _sequence(steps, n, vocab_size, topk, topp, "fr")
    out.update(_sequence(steps, span if span is not None else n, vocab_size, topk, topp, "bfr"))
    out.update(_first_token(steps, vocab_size, topk, topp))
    out.update({"fr_bracket_found": float(span is not None),
                "fr_bracket_inferred": float(span is None),
                "fr_hit_cap": float(stop == "cap"), "fr_gen_length": float(n)})
    return out
