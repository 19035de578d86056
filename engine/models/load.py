"""Load a resolved model for extraction: device and dtype choice, eval mode, left padding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import BAD_MODEL, AlignuqError, BadInput
from engine.models.resolve import ModelRef

DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(device: str = "auto") -> str:
    import torch

    if device in ("auto", "", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput(f"device {device!r} asked for, but CUDA is not available here", fix="use --device cpu, or --device auto (CUDA where there is one)")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise BadInput(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto``: bfloat16 on a GPU, float32 on the CPU."""
    if dtype not in DTYPES:
        raise BadInput(f"unknown dtype {dtype!r} ({', '.join(DTYPES)})")
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    return dtype


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    forward_path: dict[str, Any]  # which forward runs (the run manifest's ``forward_path``)


def load_model(ref: ModelRef, device: str = "auto", dtype: str = "auto",
               trust_remote_code: bool = False) -> LoadedModel:
    """The model in eval mode on ``device``, its tokenizer (left padding), and which forward
    it runs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from engine.models.fast_decoder import use_fast_decoder
    from engine.models.fast_paths import use_fast_paths

    hf_logging.disable_progress_bar()  # stdout/stderr stay for the protocol and our own logs

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.path, trust_remote_code=trust_remote_code)
    except Exception as err:
        raise AlignuqError(f"{ref.path}: cannot load the tokenizer ({_short(err)})", code=BAD_MODEL) from None
    try:
        model = AutoModelForCausalLM.from_pretrained(ref.path, dtype=getattr(torch, dt),
                                                     trust_remote_code=trust_remote_code)
    except torch.OutOfMemoryError:
        raise
    except Exception as err:
        raise AlignuqError(f"{ref.path}: cannot load the model ({_short(err)})", code=BAD_MODEL) from None
    model.to(dev)
    model.eval()
    lean_modules = use_fast_paths(model)
    decoder = use_fast_decoder(model)  # from here on the outputs are valid at the last position
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        # else: no pad token; the runner pads with id 0 under a zero attention mask
    path = {**decoder.to_dict(), "lean_modules": lean_modules, "transformers": _version()}
    return LoadedModel(model, tokenizer, dev, dt, path)


def _version() -> str:
    import transformers

    return str(transformers.__version__)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]
