"""Captured activations (run --capture-activations) against a direct forward with
output_hidden_states; their storage, resume and dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import runner
from engine.activations import run_activations
from engine.prompts import prompt_for_question
from engine.store import read_manifest, read_results
from tests.test_runner import make_dataset, sharp_llama_dir, spec_for, synthetic_questions

__all__ = ["sharp_llama_dir"]   # the fixture, used here


def direct_hidden_states(run_dir: Path, rows: list[dict], model_dir: Path) -> dict[str, np.ndarray]:
    """Batch size 1, no prefix cache: ``output_hidden_states`` at the prompt's last token,
    ``[layers + 1, hidden]`` per question."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = read_manifest(run_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = {}
    for row in rows:
        ids = tok(prompt_for_question(row, manifest), add_special_tokens=manifest["add_special_tokens"],
                  return_tensors="pt")
        with torch.no_grad():
            states = model(**ids, output_hidden_states=True).hidden_states
        out[row["question_id"]] = torch.stack([s[0, -1] for s in states]).double().numpy()
    return out


def captured(run_dir: Path, ids: list[str]) -> tuple[tuple[int, ...], np.ndarray]:
    acts = run_activations(run_dir)
    assert acts is not None
    return acts.layers, np.stack([acts.layer(layer, ids) for layer in acts.layers], axis=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_captured_states_equal_output_hidden_states(tmp_path, sharp_llama_dir, workers) -> None:
    """Every layer, embeddings included, as transformers gives them, in batches of several
    prompts with a shared prefix, on one or two CPU worker threads at once."""
    rows = synthetic_questions()
    make_dataset(tmp_path / "ws")
    summary = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, batch_tokens=200,
                                          capture_activations=True, capture_embeddings=True,
                                          extra={"cpu_workers": workers}))
    ids = [r["question_id"] for r in rows]
    layers, got = captured(Path(summary.run_dir), ids)
    direct = direct_hidden_states(Path(summary.run_dir), rows, sharp_llama_dir)
    want = np.stack([direct[q] for q in ids])
    assert layers == tuple(range(want.shape[1]))          # 0 = embeddings .. L = final norm
    scale = np.abs(want).max(axis=(0, 2), keepdims=True)
    assert np.abs(got - want).max() > 0 or workers == 1  # not trivially the same arrays
    np.testing.assert_allclose(got / scale, want / scale, atol=2e-5)
    # the last layer is the final norm's output, not the last block's: it differs from layer L-1
    assert not np.allclose(got[:, -1], got[:, -2], atol=1e-3)


def test_capture_added_to_a_finished_run_keeps_its_results(tmp_path, sharp_llama_dir) -> None:
    rows = synthetic_questions()
    make_dataset(tmp_path / "ws")
    first = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, batch_tokens=200))
    run_dir = Path(first.run_dir)
    before = read_results(run_dir).set_index("question_id")
    assert run_activations(run_dir) is None
    again = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, batch_tokens=200,
                                        capture_activations=True))
    assert again.run_id == first.run_id and again.n_new == 0
    acts = run_activations(run_dir)
    assert acts is not None and acts.done_ids() == {r["question_id"] for r in rows}
    assert acts.layers[0] == 1                        # no embeddings unless asked
    after = read_results(run_dir).set_index("question_id")
    np.testing.assert_array_equal(after["total_entropy"], before["total_entropy"])
    # a third run finds everything done: nothing computed, nothing rewritten
    third = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, capture_activations=True))
    assert third.n_new == 0 and third.n_done == len(rows)


def test_resumed_capture_fills_only_the_missing_rows(tmp_path, sharp_llama_dir) -> None:
    rows = synthetic_questions()
    make_dataset(tmp_path / "ws")
    part = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, limit=5,
                                       capture_activations=True))
    run_dir = Path(part.run_dir)
    acts = run_activations(run_dir)
    assert acts is not None and len(acts.done_ids()) == 5
    ids = [r["question_id"] for r in rows]
    with pytest.raises(Exception, match="no captured activations"):
        acts.layer(1, ids)
    first_rows = acts.layer(2, ids[:5]).copy()
    runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, capture_activations=True))
    _, got = captured(run_dir, ids)
    np.testing.assert_array_equal(got[:5, 1], first_rows)
    direct = direct_hidden_states(run_dir, rows, sharp_llama_dir)
    want = np.stack([direct[q][1:] for q in ids])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_float16_storage_is_half_the_size_and_close(tmp_path, sharp_llama_dir) -> None:
    rows = synthetic_questions()
    make_dataset(tmp_path / "ws")
    s = runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, capture_activations=True,
                                    activation_dtype="float16"))
    acts = run_activations(Path(s.run_dir))
    assert acts is not None and acts.info.dtype == "float16"
    raw = np.load(acts.folders[0] / "layer-01.npy", mmap_mode="r")
    assert raw.dtype == np.float16 and raw.shape == (len(rows), 64)
    ids = [r["question_id"] for r in rows]
    want = np.stack(list(direct_hidden_states(Path(s.run_dir), rows, sharp_llama_dir).values()))
    np.testing.assert_allclose(acts.layer(1, ids), want[:, 1], rtol=2e-3, atol=1e-3)


def test_a_capture_with_another_dtype_is_refused(tmp_path, sharp_llama_dir) -> None:
    make_dataset(tmp_path / "ws")
    runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, limit=3, capture_activations=True))
    with pytest.raises(Exception, match="captured with other settings"):
        runner.execute_run(spec_for(tmp_path / "ws", sharp_llama_dir, capture_activations=True,
                                    activation_dtype="float16"))
