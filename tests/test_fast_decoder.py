"""The leaner Llama decoder-layer forward and the last layer that computes only the last position."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen3Config, Qwen3ForCausalLM
from transformers.cache_utils import DynamicCache

from engine.models import fast_decoder
from engine.models.fast_decoder import LAST_ONLY_TOL, decoder_layers, use_fast_decoder
from engine.models.hf_compat import output_cache, with_cache
from tests.test_fast_paths import load_with_random_norms


def last_logits(model, ids, mask, prefix=None) -> torch.Tensor:
    """Last-position logits of a left-padded batch, optionally after a cached shared prefix."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    kwargs = {}
    if prefix is not None:
        with torch.inference_mode():
            head = output_cache(model(input_ids=prefix, use_cache=True))
        n = prefix.shape[1]
        kwargs = with_cache(model, DynamicCache(ddp_cache_data=[
            (layer.keys.expand(len(ids), -1, -1, -1), layer.values.expand(len(ids), -1, -1, -1))
            for layer in head.layers]))
        mask = torch.cat([torch.ones(len(ids), n, dtype=mask.dtype), mask], dim=1)
        positions = positions + n
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask, position_ids=positions,
                     logits_to_keep=1, **kwargs).logits[:, -1]


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 1000, (3, 13), generator=gen)
    mask = torch.ones_like(ids)
    mask[0, :5] = 0
    mask[2, :1] = 0
    return ids, mask, torch.randint(5, 1000, (1, 6), generator=gen)


def test_every_layer_is_leaner_with_the_very_same_logits(tiny_llama_dir, batch) -> None:
    ids, mask, prefix = batch
    plain, fast = load_with_random_norms(tiny_llama_dir), load_with_random_norms(tiny_llama_dir)
    n_layers = fast.config.num_hidden_layers
    path = use_fast_decoder(fast, last_position_only=False)
    assert (path.lean_layers, path.decoder, path.why_not) == (n_layers, "alignuq-lean", None)
    assert {type(layer).__name__ for layer in decoder_layers(fast)} == {"FastLlamaDecoderLayer"}
    assert not any(layer.last_position_only for layer in decoder_layers(fast))
    for pre in (None, prefix):
        assert torch.equal(last_logits(fast, ids, mask, pre), last_logits(plain, ids, mask, pre))
    # every position too, not only the last (the rotary and residual sums round as before)
    with torch.inference_mode():
        assert torch.equal(fast(input_ids=ids).logits, plain(input_ids=ids).logits)
    assert use_fast_decoder(fast, last_position_only=False) == path  # twice is harmless


def test_the_last_layer_computes_the_last_position_only(tiny_llama_dir, batch) -> None:
    ids, mask, prefix = batch
    plain, fast = load_with_random_norms(tiny_llama_dir), load_with_random_norms(tiny_llama_dir)
    assert use_fast_decoder(fast).last_position_only
    layers = decoder_layers(fast)
    assert layers[-1].last_position_only and not any(x.last_position_only for x in layers[:-1])
    with torch.inference_mode():
        assert fast(input_ids=ids).logits.shape[1] == 1  # nothing else was computed
    for pre in (None, prefix):
        want, got = last_logits(plain, ids, mask, pre), last_logits(fast, ids, mask, pre)
        assert torch.allclose(got, want, rtol=0, atol=LAST_ONLY_TOL * float(want.abs().max()))
        assert torch.equal(got.argmax(-1), want.argmax(-1))


def test_a_forward_that_changes_the_numbers_is_not_used(tiny_llama_dir, monkeypatch) -> None:
    real = fast_decoder._rotary
    monkeypatch.setattr(fast_decoder, "_rotary", lambda x, c, s: real(x, c, s) * (1 + 1e-6))
    model = load_with_random_norms(tiny_llama_dir)
    path = use_fast_decoder(model)
    assert (path.lean_layers, path.decoder) == (0, "transformers")
    assert path.why_not == "the lean forward's logits differ from transformers' own"
    assert {type(layer).__name__ for layer in decoder_layers(model)} == {"LlamaDecoderLayer"}


def test_a_last_layer_that_disagrees_is_run_in_full(tiny_llama_dir, batch, monkeypatch) -> None:
    ids, mask, _ = batch
    monkeypatch.setattr(fast_decoder, "last_only_tolerance", lambda dtype: -1.0)  # none is close
    model = load_with_random_norms(tiny_llama_dir)
    path = use_fast_decoder(model)
    assert path.lean_layers == model.config.num_hidden_layers and not path.last_position_only
    assert not decoder_layers(model)[-1].last_position_only
    with torch.inference_mode():
        assert model(input_ids=ids).logits.shape[1] == ids.shape[1]


def test_other_architectures_keep_their_own_layers() -> None:
    # Qwen3 normalises queries and keys per head: the lean forward does not describe it
    config = Qwen3Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).eval()
    path = use_fast_decoder(model)
    assert path.lean_layers == 0 and "Qwen3DecoderLayer is not a Llama-family" in path.why_not
    assert not any(type(m).__name__.startswith("Fast") for m in model.modules())


def test_the_model_is_freed_as_soon_as_it_is_dropped(tiny_llama_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    assert use_fast_decoder(model).lean_layers > 0
    ref = weakref.ref(model)
    gc.disable()
    try:
        del model
        assert ref() is None
    finally:
        gc.enable()


def test_a_layer_whose_attention_has_hooks_keeps_its_own_forward(tiny_llama_dir) -> None:
    # the lean forward never calls self_attn.forward, so hooks on it (e.g. accelerate's device
    # placement) would be skipped: such a layer is left alone
    model = load_with_random_norms(tiny_llama_dir)
    seen = []
    decoder_layers(model)[-1].self_attn.register_forward_pre_hook(lambda m, a: seen.append(1))
    path = use_fast_decoder(model)
    assert path.lean_layers == model.config.num_hidden_layers - 1 and not path.last_position_only
    assert path.why_not == "the attention module has hooks (the lean forward would skip them)"
    assert type(decoder_layers(model)[-1]).__name__ == "LlamaDecoderLayer"
    with torch.inference_mode():
        model(input_ids=torch.tensor([[5, 6, 7]]))
    assert seen  # the hook still runs


def test_a_probe_that_breaks_is_reported_with_its_reason(tiny_llama_dir, monkeypatch) -> None:
    # what a transformers release that moves an argument looks like: the lean forward raises
    def broken(*args, **kwargs):
        raise TypeError("got an unexpected keyword argument 'cache'")

    monkeypatch.setattr(fast_decoder, "_decoder_forward", broken)
    model = load_with_random_norms(tiny_llama_dir)
    path = use_fast_decoder(model)
    assert path.decoder == "transformers" and path.lean_layers == 0
    assert path.why_not == ("the probe failed (TypeError: got an unexpected keyword argument "
                            "'cache')")
    assert {type(layer).__name__ for layer in decoder_layers(model)} == {"LlamaDecoderLayer"}
