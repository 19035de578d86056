"""Every per-question measure of SCIENCE.md §2 from one descending sort per row, on the device.

For a batch of next-token logits ``[B, V]``:

* ``p = softmax(float32 logits)``; ``total_entropy = -sum p log p`` with ``log p`` from
  ``log_softmax`` (no ``-inf * 0``).
* one stable descending sort ``s`` (ties keep the lower token id first; only as many leading
  columns as the measures read, see ``descending_head``), then float64 prefix sums
  ``C_j = sum_{i<=j} s_i`` and ``E_j = sum_{i<=j} s_i log s_i``. The entropy of the renormalised
  top ``j`` is ``H_j = log C_j - E_j / C_j``, so every top-k and top-p entropy is a lookup.
* top-p sizes compare ``C_j`` with ``p`` up to ``TOPP_TOL`` (float32 resolution of a softmax), so a
  cumulative sum that equals ``p`` mathematically (e.g. 0.5 + 0.25 at p = 0.75) counts as reaching
  it whatever the rounding: corrected ``m = min{j : C_j >= p}``, paper ``#{j : C_j <= p}``.
* label probabilities ``q_i`` are sums of ``p`` over each label's spelling token ids.

Only small per-row arrays leave the device (measures, ``q``, top-100 ids and probabilities).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.choice_measures import choice_measures
from engine.measure_names import TOP_TOKENS_KEPT, topk_entropy, topp_entropy, topp_size

TOPP_TOL = 1e-6
HEAD = 1024  # columns of the sort taken first (see descending_head)


@dataclass
class RowMeasures:
    cloze: int
    label_probs: np.ndarray          # q_i, float64, one per choice
    choice_mass: float
    measures: dict[str, float]       # raw values (nats); NaN where undefined
    top_ids: np.ndarray              # int32 [<=100]
    top_probs: np.ndarray            # float32 [<=100]


def label_id_matrix(token_ids: Sequence[Sequence[int]], device: torch.device | str = "cpu"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the per-label spelling ids to ``[L, S]`` with a validity mask."""
    width = max(len(ids) for ids in token_ids)
    ids = torch.zeros(len(token_ids), width, dtype=torch.long)
    mask = torch.zeros(len(token_ids), width, dtype=torch.bool)
    for i, row in enumerate(token_ids):
        ids[i, :len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, :len(row)] = True
    return ids.to(device), mask.to(device)


def _prefix_entropy(C: torch.Tensor, E: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Entropy of the renormalised top ``j`` (1-based, ``[B]`` long), from the prefix sums."""
    idx = (j - 1).clamp(min=0).unsqueeze(1)
    c = C.gather(1, idx).squeeze(1)
    e = E.gather(1, idx).squeeze(1)
    h = torch.log(c) - e / c
    return torch.where(j <= 1, torch.zeros_like(h), h.clamp(min=0.0))


def descending_head(p: torch.Tensor, n_exact: int, mass: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The leading columns of each row's stable descending sort (values, token ids).

    A full sort of a 50k vocabulary is most of the measures' time, yet the measures read only the
    top-k prefix and the top-p nucleus. So take the top ``HEAD`` by ``topk`` and put them in the
    full sort's order (ids ascending within ties). That head is used only if, in every row, it
    holds probability mass above ``mass`` (every top-p nucleus ends inside it) and its first
    ``n_exact`` values are strictly above its last (so no tie at its edge can change which ids
    those are); otherwise, as for a flat distribution, the full sort.
    """
    V = p.shape[-1]
    width = min(V, max(HEAD, n_exact))
    if width < V:
        vals, ids = torch.topk(p, width, dim=-1)
        ids, by_id = ids.sort(dim=-1)
        vals, by_val = vals.gather(-1, by_id).sort(dim=-1, descending=True, stable=True)
        ids = ids.gather(-1, by_val)
        edge_clear = bool((vals[:, max(1, n_exact) - 1] > vals[:, -1]).all())
        if edge_clear and bool((vals.double().cumsum(-1)[:, -1] > mass).all()):
            return vals, ids
    return torch.sort(p, dim=-1, descending=True, stable=True)


@torch.no_grad()
def compute_measures(logits: torch.Tensor, label_ids: Sequence[Sequence[int]],
                     n_choices: Sequence[int], *, topk: Sequence[int], topp: Sequence[float],
                     variant: str = "corrected", keep_top: int = TOP_TOKENS_KEPT,
                     ) -> list[RowMeasures]:
    """Measures for each row of ``logits`` ``[B, V]``; ``label_ids[i]`` = token ids of label i."""
    B, V = logits.shape
    device = logits.device
    x = logits.float()
    logp = torch.log_softmax(x, dim=-1)
    p = torch.softmax(x, dim=-1)
    plogp = torch.where(p > 0, p * logp, torch.zeros_like(p))  # 0 * -inf is 0 here, not NaN
    total_entropy = -plogp.double().sum(-1)
    del plogp

    kept = min(keep_top, V)
    s, order = descending_head(p, max([kept, *(int(k) for k in topk)]),
                               max(topp, default=0.0) + TOPP_TOL)
    s64 = s.double()
    C = s64.cumsum(-1)
    E = torch.special.xlogy(s64, s64).cumsum(-1)

    cols: dict[str, torch.Tensor] = {"top1_prob": s64[:, 0], "total_entropy": total_entropy}
    for k in topk:
        kk = torch.full((B,), min(int(k), V), dtype=torch.long, device=device)
        cols[topk_entropy(k)] = _prefix_entropy(C, E, kk)
    for pv in topp:
        if variant == "paper":
            size = (C <= pv + TOPP_TOL).sum(-1)
            h = _prefix_entropy(C, E, size)
            h = torch.where(size == 0, torch.full_like(h, math.nan), h)
        else:
            size = ((C < pv - TOPP_TOL).sum(-1) + 1).clamp(max=V)
            h = _prefix_entropy(C, E, size)
        cols[topp_size(pv)] = size.double()
        cols[topp_entropy(pv)] = h

    ids, mask = label_id_matrix(label_ids, device)
    q_all = (p.double()[:, ids.flatten()].view(B, *ids.shape) * mask).sum(-1)  # [B, L]

    names = list(cols)
    table = torch.stack([cols[n] for n in names], dim=1).cpu().numpy()
    q_host = q_all.cpu().numpy()
    top_ids = order[:, :kept].to(torch.int32).cpu().numpy()
    top_probs = s[:, :kept].cpu().numpy()

    rows: list[RowMeasures] = []
    for b in range(B):
        n = int(n_choices[b])
        q = q_host[b, :n].astype(np.float64)
        measures = {name: float(table[b, i]) for i, name in enumerate(names)}
        measures.update(choice_measures(q))
        rows.append(RowMeasures(cloze=int(np.argmax(q)), label_probs=q, choice_mass=float(q.sum()),
                                measures=measures, top_ids=top_ids[b].copy(),
                                top_probs=top_probs[b].copy()))
    return rows

