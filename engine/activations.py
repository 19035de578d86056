"""A run's captured activations: the last prompt token's hidden state at every layer, on disk.

Layout, one folder per writer (``run --capture-activations``; Slurm shards each have theirs)::

    RUN/activations/<writer>/meta.json      what was captured (below)
    RUN/activations/<writer>/layer-NN.npy   float16 or float32, [questions of the dataset, hidden]
    RUN/activations/<writer>/done.npy       uint8 [questions]: 1 where the row is written

Rows follow the dataset's question order (``meta.json`` lists the ids), whatever ``--limit`` or
shard a writer ran, so writers never clash and a resumed run writes into the same arrays. Arrays
are plain ``.npy`` files opened memory-mapped (never unpickled): a layer is read whole only when
asked for, one at a time. Layer numbers are transformers' ``hidden_states`` indices: 0 the
embedding output (captured only with ``--capture-embeddings``), 1..L-1 the output of block i,
L the final norm's output (what ``output_hidden_states=True`` gives).

A batch is written, flushed and marked done before its results are committed to the store, so a
killed run never holds a result whose activations are missing: those rows are run again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import BadInput
from datasets_io.atomic import write_text_atomic

ACTIVATIONS_DIR = "activations"
DTYPES = ("float32", "float16")
TOKEN = "the last prompt token (the one whose next-token distribution the measures read)"


def layer_file(folder: Path, layer: int) -> Path:
    return folder / f"layer-{layer:02d}.npy"


@dataclass(frozen=True)
class CaptureInfo:
    """What a writer's arrays hold (its ``meta.json``)."""

    question_ids: tuple[str, ...]
    layers: tuple[int, ...]
    hidden_size: int
    dtype: str
    dataset_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "hidden_size": self.hidden_size, "dtype": self.dtype,
                "token": TOKEN, "dataset_sha256": self.dataset_sha256,
                "layer_numbers": "transformers' hidden_states indices: 0 = embedding output, "
                                 "L = after the final norm",
                "question_ids": list(self.question_ids)}

    @classmethod
    def read(cls, folder: Path) -> CaptureInfo:
        path = folder / "meta.json"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(map(str, d["question_ids"])), tuple(map(int, d["layers"])),
                       int(d["hidden_size"]), str(d["dtype"]), str(d["dataset_sha256"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise BadInput(f"unreadable activation index ({err})", where=path,
                           fix="run the capture again (`alignuq run ... --capture-activations`)") \
                from None


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise BadInput(f"unknown activation dtype {dtype!r}", fix=f"use one of {', '.join(DTYPES)}")


class ActivationWriter:
    """A writer's arrays, created on first use and reopened on resume."""

    def __init__(self, run_dir: Path, writer: str, info: CaptureInfo):
        self.folder = Path(run_dir) / ACTIVATIONS_DIR / writer
        self.info = info
        self.row_of = {q: i for i, q in enumerate(info.question_ids)}
        if (self.folder / "meta.json").exists() and CaptureInfo.read(self.folder) != info:
            raise BadInput("this run's activations were captured with other settings (layers, "
                           "dtype or dataset)", where=self.folder,
                           fix="capture with the same --activation-dtype, or remove that folder "
                               "to capture anew")
        self.folder.mkdir(parents=True, exist_ok=True)
        n, h = len(info.question_ids), info.hidden_size
        self.done = _open(self.folder / "done.npy", (n,), "uint8")
        self.layers = {layer: _open(layer_file(self.folder, layer), (n, h), info.dtype)
                       for layer in info.layers}
        write_text_atomic(self.folder / "meta.json", json.dumps(info.to_dict(), indent=1))

    def done_ids(self) -> set[str]:
        return {q for q, d in zip(self.info.question_ids, self.done, strict=True) if d}

    def write(self, question_ids: Sequence[str], states: dict[int, np.ndarray]) -> None:
        """Rows of ``question_ids``: ``states[layer]`` is ``[len(question_ids), hidden]``. The
        arrays reach the disk before their rows are marked done."""
        rows = np.array([self.row_of[q] for q in question_ids])
        for layer, array in self.layers.items():
            values = states[layer].astype(array.dtype, copy=False)
            if not np.isfinite(values).all():
                raise BadInput(f"activations of layer {layer} are not finite in "
                               f"{self.info.dtype}", where=f"question {question_ids[0]}",
                               fix="capture with --activation-dtype float32")
            array[rows] = values
            array.flush()
        self.done[rows] = 1
        self.done.flush()


def _open(path: Path, shape: tuple[int, ...], dtype: str) -> np.memmap:
    """``path`` as a writable memory-mapped ``.npy`` of ``shape``; created (sparse, all zero)
    when absent, with the user's umask like every file of the workspace."""
    if path.exists():
        array = np.load(path, mmap_mode="r+", allow_pickle=False)
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise BadInput(f"activation file holds {array.shape} {array.dtype}, not {shape} "
                           f"{dtype}", where=path, fix="remove the run's activations folder to "
                                                       "capture anew")
        return array
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape).flush()
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r+", allow_pickle=False)


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RunActivations:
    """A run's captured activations, over all its writers."""

    run_dir: Path
    folders: tuple[Path, ...]
    info: CaptureInfo          # the first writer's; every writer's layers and size must agree

    @property
    def layers(self) -> tuple[int, ...]:
        return self.info.layers

    def done_ids(self) -> set[str]:
        out: set[str] = set()
        for folder in self.folders:
            done = np.load(folder / "done.npy", mmap_mode="r", allow_pickle=False)
            ids = CaptureInfo.read(folder).question_ids
            out.update(q for q, d in zip(ids, done, strict=True) if d)
        return out

    def layer(self, layer: int, question_ids: Iterable[str]) -> np.ndarray:
        """``[len(question_ids), hidden]`` float64 rows of ``layer``, in the order asked (each
        id must be done in some writer)."""
        wanted = list(question_ids)
        out = np.full((len(wanted), self.info.hidden_size), np.nan)
        todo = {q: i for i, q in enumerate(wanted)}
        for folder in self.folders:
            ids = CaptureInfo.read(folder).question_ids
            done = np.load(folder / "done.npy", mmap_mode="r", allow_pickle=False)
            array = np.load(layer_file(folder, layer), mmap_mode="r", allow_pickle=False)
            rows = [(todo.pop(q), r) for r, q in enumerate(ids) if done[r] and q in todo]
            if rows:
                dst, src = map(np.array, zip(*rows, strict=True))
                out[dst] = array[src]
        if todo:
            raise BadInput(f"{len(todo)} question(s) have no captured activations "
                           f"(first: {next(iter(todo))})", where=self.run_dir)
        return out


def run_activations(run_dir: Path) -> RunActivations | None:
    """The run's activations, or None where it captured none."""
    root = Path(run_dir) / ACTIVATIONS_DIR
    folders = tuple(sorted(p for p in root.glob("*") if (p / "meta.json").exists())) \
        if root.is_dir() else ()
    if not folders:
        return None
    infos = [CaptureInfo.read(f) for f in folders]
    first = infos[0]
    for folder, info in zip(folders[1:], infos[1:], strict=True):
        if (info.layers, info.hidden_size) != (first.layers, first.hidden_size):
            raise BadInput("the run's writers captured different layers", where=folder)
    return RunActivations(Path(run_dir), folders, first)
