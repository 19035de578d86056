"""A leaner forward for Llama-family decoder layers, and a last layer that computes one position.

Two savings, each taken only after a check on the loaded model itself:

* **Same numbers, fewer passes** (every layer). Rotary embedding as ``x*cos`` with the rotated half
  subtracted and added in place (transformers builds ``cat(-x2, x1)`` and two more full tensors),
  and both residual sums in place. Every element is rounded exactly as before (``a + (-b)`` is
  ``a - b``; addition commutes), and the check requires bitwise-identical logits.
* **Only the last position in the last layer.** The engine reads the next-token logits of the
  last position only. The last layer's keys and values need every position, but its queries,
  attention output, residual and MLP are needed at the last position alone, which saves about
  one layer's worth of work (3% of a 30-layer model). The logits then differ from a full forward
  by float32 rounding only (smaller matmuls sum in another order, as any change of batch size
  does); the check requires them to agree within ``LAST_ONLY_TOL``.

Only exact Llama-family classes with SDPA attention, no sliding window and no hooks on the
attention module (its forward is not called) are touched; anything else, or a check that fails,
keeps transformers' own forward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from engine.models.fast_paths import fast_class, is_swapped

DECODER_CLASSES = ("LlamaDecoderLayer", "MistralDecoderLayer", "Qwen2DecoderLayer")
LAST_ONLY_TOL = 1e-4  # on logits of the order of 10: float32 summation-order noise, not a bug


def last_only_tolerance(dtype: torch.dtype) -> float:
    """How far (relative to the largest logit) trimmed logits may be from full ones: float32
    summation-order noise, or a few units of a coarser dtype's rounding (bf16 on a GPU)."""
    return max(LAST_ONLY_TOL, 4 * torch.finfo(dtype).eps)


def _rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x*cos + rotate_half(x)*sin`` for ``x`` ``[B, H, S, D]`` and ``cos``/``sin`` ``[B, S, D]``."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = x.shape[-1] // 2
    out = x * cos
    out[..., :half] -= x[..., half:] * sin[..., :half]
    out[..., half:] += x[..., :half] * sin[..., half:]
    return out


def _decoder_forward(self: Any, hidden_states: torch.Tensor, attention_mask: Any = None,
                     position_ids: Any = None, cache: Any = None, use_cache: Any = False,
                     position_embeddings: Any = None, past_key_values: Any = None,
                     **kwargs: Any) -> torch.Tensor:
    """transformers' decoder-layer forward, leaner. The key/value cache arrives as ``cache``
    (transformers >= 5.24) or ``past_key_values`` (before; see ``hf_compat``)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cache = cache if cache is not None else past_key_values

    attn = self.self_attn
    x = self.input_layernorm(hidden_states)
    cos, sin = position_embeddings
    residual, x_q, cos_q, sin_q = hidden_states, x, cos, sin
    if self.last_position_only:
        residual, x_q, cos_q, sin_q = (t[:, -1:] for t in (hidden_states, x, cos, sin))
        if attention_mask is not None:
            attention_mask = attention_mask[..., -1:, :]
    batch, n_pos, n_q = x.shape[0], x.shape[1], x_q.shape[1]
    q = attn.q_proj(x_q).view(batch, n_q, -1, attn.head_dim).transpose(1, 2)
    k = attn.k_proj(x).view(batch, n_pos, -1, attn.head_dim).transpose(1, 2)
    v = attn.v_proj(x).view(batch, n_pos, -1, attn.head_dim).transpose(1, 2)
    q, k = _rotary(q, cos_q, sin_q), _rotary(k, cos, sin)
    if cache is not None:
        k, v = cache.update(k, v, attn.layer_idx)
    out, _ = sdpa_attention_forward(attn, q, k, v, attention_mask, dropout=0.0,
                                    scaling=attn.scaling, **kwargs)
    h = attn.o_proj(out.reshape(batch, n_q, -1)).add_(residual)
    return self.mlp(self.post_attention_layernorm(h)).add_(h)


def _unfit(layer: Any) -> str | None:
    """Why the lean forward does not describe ``layer`` (None when it does)."""
    attn = getattr(layer, "self_attn", None)
    if type(layer).__name__ not in DECODER_CLASSES or attn is None:
        return f"{type(layer).__name__} is not a Llama-family decoder layer"
    implementation = getattr(attn.config, "_attn_implementation", None)
    if implementation != "sdpa":
        return f"attention is {implementation!r}, not 'sdpa'"
    if getattr(attn, "sliding_window", None) is not None:
        return "attention has a sliding window"
    if attn._forward_hooks or attn._forward_pre_hooks:
        return "the attention module has hooks (the lean forward would skip them)"
    if hasattr(attn, "q_norm") or hasattr(attn, "k_norm"):
        return "queries and keys are normalised per head"
    if not all(isinstance(getattr(attn, n, None), torch.nn.Linear)
               for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
        return "the attention projections are not plain Linear layers"
    return None


def decoder_layers(model: Any) -> list[Any]:
    """The decoder layers a forward pass runs, in order ([] if the model has no such list)."""
    try:
        layers = model.get_decoder().layers
        return list(layers[:model.config.num_hidden_layers])
    except (AttributeError, TypeError):
        return []


def _left_padded(ids: torch.Tensor, n_pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention mask with row 0 padded on the left by ``n_pad``, and its position ids."""
    mask = torch.ones_like(ids)
    mask[0, :n_pad] = 0
    return mask, (mask.cumsum(-1) - 1).clamp(min=0)


def _last_logits(model: Any) -> list[torch.Tensor]:
    """Last-position logits of a probe batch as the runner builds them: left-padded, and
    left-padded after a shared prefix whose keys and values are cached."""
    from transformers.cache_utils import DynamicCache

    from engine.models.hf_compat import output_cache, with_cache

    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(0, int(model.config.vocab_size), (2, 9), generator=gen).to(device)
    prefix = torch.randint(0, int(model.config.vocab_size), (1, 4), generator=gen).to(device)
    outs = []
    with torch.inference_mode():
        mask, positions = _left_padded(ids, 3)
        outs.append(model(input_ids=ids, attention_mask=mask, position_ids=positions,
                          logits_to_keep=1).logits[:, -1])
        head = output_cache(model(input_ids=prefix, use_cache=True, logits_to_keep=1))
        cache = DynamicCache(ddp_cache_data=[(layer.keys.expand(2, -1, -1, -1),
                                              layer.values.expand(2, -1, -1, -1))
                                             for layer in head.layers])
        mask, positions = _left_padded(ids, 2)
        outs.append(model(input_ids=ids, attention_mask=torch.cat([torch.ones_like(ids[:, :4]), mask], 1),
                          position_ids=positions + 4, logits_to_keep=1,
                          **with_cache(model, cache)).logits[:, -1])
    return outs


def _set_classes(layers: list[Any], classes: list[type]) -> None:
    for layer, cls in zip(layers, classes, strict=True):
        layer.__class__ = cls


@dataclass(frozen=True)
class DecoderPath:
    """Which forward a model's decoder layers run: recorded in a run's manifest and log."""

    lean_layers: int          # layers given the lean forward
    decoder_layers: int       # decoder layers of the model
    last_position_only: bool  # the last layer computes the last position only
    why_not: str | None = None  # why some or all layers keep transformers' own forward

    @property
    def decoder(self) -> str:
        return "alignuq-lean" if self.lean_layers else "transformers"

    def to_dict(self) -> dict[str, Any]:
        return {"decoder": self.decoder, **asdict(self)}


def _probe_fails(model: Any, layers: list[Any], stock: list[type]) -> str | None:
    """Swap in the lean forward and compare a probe batch's logits bit for bit; on any
    difference or error put transformers' own forward back and say why."""
    try:
        want = _last_logits(model)
        _set_classes(layers, [fast_class(cls, _decoder_forward, last_position_only=False)
                              for cls in stock])
        got = _last_logits(model)
    except Exception as err:  # noqa: BLE001 - a model the probe does not fit keeps its own forward
        _set_classes(layers, stock)
        return f"the probe failed ({type(err).__name__}: {str(err)[:160]})"
    if not all(torch.equal(a, b) for a, b in zip(want, got, strict=True)):
        _set_classes(layers, stock)
        return "the lean forward's logits differ from transformers' own"
    return None


def _trim_last_layer(model: Any) -> bool:
    """Let the last layer compute the last position only if the logits stay within tolerance."""
    last = decoder_layers(model)[-1]
    last.last_position_only = False
    want = _last_logits(model)
    last.last_position_only = True
    try:
        trimmed = _last_logits(model)
        tol = last_only_tolerance(want[0].dtype)
        close = all(float((a - b).abs().max()) <= tol * max(1.0, float(a.abs().max()))
                    for a, b in zip(want, trimmed, strict=True))
    except Exception:  # noqa: BLE001 - then the last layer runs in full like the others
        close = False
    last.last_position_only = close
    return close


def use_fast_decoder(model: Any, last_position_only: bool = True) -> DecoderPath:
    """Give the model's Llama-family decoder layers the leaner forward where the check passes;
    with ``last_position_only`` the last layer then computes the last position only (the
    model's outputs are valid there alone). Return what the model runs from now on."""
    every = decoder_layers(model)
    done = [layer for layer in every if is_swapped(layer)]
    todo = [layer for layer in every if not is_swapped(layer)]
    reasons = {layer: _unfit(layer) for layer in todo}
    layers = [layer for layer in todo if reasons[layer] is None]
    why_not = next((r for r in reasons.values() if r is not None), None)
    if layers:
        why_not = _probe_fails(model, layers, [type(layer) for layer in layers]) or why_not
    lean = [layer for layer in every if is_swapped(layer)]
    trimmed = bool(lean) and lean[-1] is every[-1] and (
        every[-1].last_position_only if done else
        last_position_only and _trim_last_layer(model))
    if not every:
        why_not = f"{type(model).__name__} has no list of decoder layers"
    return DecoderPath(len(lean), len(every), bool(trimmed), why_not)
