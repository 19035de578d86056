"""Capture the last position's hidden state at every layer during the engine's own forward pass.

Forward hooks on the decoder blocks and the final norm keep ``[B, hidden]`` of the last position
(prompts are left-padded, so it is every row's last prompt token) and nothing else, so a capture
costs no more memory than the logits. The numbers are those of ``output_hidden_states=True``:
index 0 the input of the first block (the embedding output, after any scaling the model applies),
i the output of block i, L the final norm's output. Hooks record only inside :meth:`recording`,
per thread (the CPU path runs a batch per core in threads), so the forward passes that build a
shared prefix's cache record nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from common.errors import BadInput


def _blocks_and_norm(model: Any) -> tuple[list[Any], Any]:
    base = getattr(model, "model", None) or getattr(model, "base_model", None)
    layers = getattr(base, "layers", None)
    norm = getattr(base, "norm", None)
    if layers is None or norm is None:
        raise BadInput(f"--capture-activations needs a decoder with model.layers and model.norm "
                       f"(Llama, Mistral, Qwen, Gemma, ...); {type(model).__name__} has not",
                       fix="run this model without --capture-activations")
    return list(layers), norm


def _last(output: Any) -> torch.Tensor:
    hidden = output[0] if isinstance(output, tuple) else output
    return hidden[:, -1, :].detach().float().cpu()


class LastTokenCapture:
    """The hooks on one model; ``layers`` are the hidden_states indices kept."""

    def __init__(self, model: Any, embeddings: bool = False):
        blocks, norm = _blocks_and_norm(model)
        self.n_blocks = len(blocks)
        self.layers = tuple(range(0 if embeddings else 1, self.n_blocks + 1))
        self.hidden_size = int(model.config.hidden_size)
        self._local = threading.local()
        self._handles = [blocks[0].register_forward_pre_hook(self._keep_input(0))] \
            if embeddings else []
        self._handles += [block.register_forward_hook(self._keep_output(i + 1))
                          for i, block in enumerate(blocks[:-1])]
        self._handles.append(norm.register_forward_hook(self._keep_output(self.n_blocks)))

    def _keep_input(self, index: int) -> Any:
        def hook(module: Any, args: tuple) -> None:
            if (got := getattr(self._local, "got", None)) is not None:
                got[index] = _last(args[0])
        return hook

    def _keep_output(self, index: int) -> Any:
        def hook(module: Any, args: tuple, output: Any) -> None:
            if (got := getattr(self._local, "got", None)) is not None:
                got[index] = _last(output)
        return hook

    @contextmanager
    def recording(self) -> Iterator[dict[int, torch.Tensor]]:
        """Record this thread's forward passes into the dict yielded (by layer)."""
        self._local.got = got = {}
        try:
            yield got
        finally:
            self._local.got = None

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
