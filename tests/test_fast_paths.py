"""The cheaper RMSNorm and gated-MLP forwards: used only where they give the very same numbers."""

from __future__ import annotations

import gc
import weakref

import torch
from transformers import AutoModelForCausalLM, GemmaConfig, GemmaForCausalLM

from engine.models.fast_paths import use_fast_paths


def load_with_random_norms(path) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a fresh model's norm weights are all 1; make them matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=gen))
    return model


def test_llama_gets_the_fast_forwards_and_the_very_same_logits(tiny_llama_dir) -> None:
    plain, fast = load_with_random_norms(tiny_llama_dir), load_with_random_norms(tiny_llama_dir)
    n_layers = fast.config.num_hidden_layers
    assert use_fast_paths(fast) == 2 * n_layers + 1 + n_layers  # norms (2 per layer + final), MLPs
    kinds = {type(m).__name__ for m in fast.modules()}
    assert {"FastLlamaRMSNorm", "FastLlamaMLP"} <= kinds
    assert not kinds & {"LlamaRMSNorm", "LlamaMLP"}
    assert use_fast_paths(fast) == 0  # twice is harmless
    ids = torch.randint(5, 1000, (3, 17), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[0, :6] = 0
    with torch.inference_mode():
        want = plain(input_ids=ids, attention_mask=mask).logits
        got = fast(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(got, want)


def test_a_model_with_fast_paths_is_freed_as_soon_as_it_is_dropped(tiny_llama_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    assert use_fast_paths(model) > 0
    ref = weakref.ref(model)
    gc.disable()  # freed by reference counting alone: no cycle left for the collector
    try:
        del model
        assert ref() is None
    finally:
        gc.enable()


def test_a_norm_with_another_formula_keeps_its_own_forward() -> None:
    # Gemma's RMSNorm scales by (1 + w) and its MLP uses GELU: neither may be swapped
    config = GemmaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    torch.manual_seed(0)
    model = GemmaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_()
    assert use_fast_paths(model) == 0
    assert not any(type(m).__name__.startswith("Fast") for m in model.modules())


class ShiftedRMSNorm(torch.nn.Module):
    """Looks like a Llama RMSNorm (weight, variance_epsilon) but scales by (1 + w)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(width))
        self.variance_epsilon = 1e-6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return (1 + self.weight) * x


def test_the_bitwise_check_rejects_a_lookalike_with_another_formula() -> None:
    torch.manual_seed(0)
    block = torch.nn.Sequential(ShiftedRMSNorm(16))
    assert use_fast_paths(block) == 0
    assert type(block[0]) is ShiftedRMSNorm


def test_bfloat16_models_get_the_same_numbers_too(tiny_llama_dir) -> None:
    plain = load_with_random_norms(tiny_llama_dir).to(torch.bfloat16)
    fast = load_with_random_norms(tiny_llama_dir).to(torch.bfloat16)
    assert use_fast_paths(fast) > 0
    ids = torch.randint(5, 1000, (2, 11), generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        got, want = fast(input_ids=ids).logits, plain(input_ids=ids).logits
    assert got.dtype == want.dtype == torch.bfloat16
    assert torch.equal(got, want)
