"""`alignuq runs import` on the real Coane & Umanath trivia data (human shares + correct answers).

The per-question results are TEST DATA made here: label probabilities derived deterministically
from the human shares plus seeded noise, and measures computed from them. They stand in for a
model's output; the questions, shares and answers are real.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets_io.dataset import load_dataset
from datasets_io.workspace import Workspace
from engine.store import read_manifest, read_results

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _h(p: np.ndarray) -> float:
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum())


def make_results(ws_root: Path, dataset: str, seed: int, noise: float) -> pd.DataFrame:
    """Seeded test results for every question of ``dataset`` (see the module docstring)."""
    questions = load_dataset(Workspace(ws_root), dataset).questions
    rng = np.random.default_rng(seed)
    rows = []
    for q in questions.itertuples():
        n = int(q.n_choices)
        h = np.asarray(q.human_share) if q.human_share is not None else np.full(n, 1.0 / n)
        logit = 1.5 * np.log(h + 0.05) + rng.normal(0, noise, n)
        p = np.exp(logit - logit.max())
        p /= p.sum()
        mass = rng.uniform(0.6, 0.99)
        s = np.sort(p)[::-1]
        ent = _h(p)
        rows.append({"question_id": q.question_id, "cloze": LETTERS[int(np.argmax(p))],
                     "label_probs": json.dumps((p * mass).tolist()),
                     "top1_prob": s[0] * mass, "total_entropy": ent + 3 * (1 - mass),
                     "topk_entropy@5": ent + (1 - mass),
                     "topp_size@0.9": float(np.searchsorted(np.cumsum(s), 0.9) + 1),
                     "topp_entropy@0.9": ent * 0.9 + rng.normal(0, 0.05),
                     "choice_entropy": ent, "choice_top1": s[0], "choice_margin": s[0] - s[1]})
    return pd.DataFrame(rows)


@pytest.fixture
def coane(cli, ws_dir: Path, data_dir: Path) -> Path:
    res = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane")
    assert res.code == 0, res.err
    return ws_dir


def test_import_csv_writes_a_real_run(cli, coane: Path, tmp_path: Path) -> None:
    frame = make_results(coane, "coane", seed=1, noise=0.5)
    path = tmp_path / "model-a.csv"
    frame.to_csv(path, index=False)
    res = cli("runs", "import", path, "--dataset", "coane", "--model-name", "toy-a",
              "--vocab-size", "49152")
    assert res.code == 0, res.err
    run_id = res.out.strip()
    run_dir = coane / "runs" / run_id
    man = read_manifest(run_dir)
    assert man["source"] == "import" and man["dataset"] == "coane"
    assert man["model"] == {"name": "toy-a", "vocab_size": 49152, "source": "import"}
    import hashlib
    assert man["import"]["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert man["topk"] == [5] and man["topp"] == [0.9]
    stored = read_results(run_dir).set_index("question_id").loc[frame["question_id"]]
    assert len(stored) == 421
    assert list(stored["cloze"]) == [LETTERS.index(c) for c in frame["cloze"]]
    assert np.allclose(np.vstack(stored["label_probs"]),
                       np.vstack(frame["label_probs"].map(json.loads)))
    assert np.allclose(stored["choice_entropy"], frame["choice_entropy"])
    assert np.allclose(stored["choice_mass"], np.vstack(frame["label_probs"].map(json.loads)).sum(1))
    # the same id again is refused, --force replaces
    again = cli("runs", "import", path, "--dataset", "coane", "--model-name", "toy-a")
    assert again.code == 2 and "already exists" in again.err
    assert cli("runs", "import", path, "--dataset", "coane", "--model-name", "toy-a",
               "--force").code == 0


def test_import_parquet_with_a_mapping(cli, coane: Path, tmp_path: Path) -> None:
    frame = make_results(coane, "coane", seed=2, noise=1.0).head(50)
    frame = frame.rename(columns={"choice_entropy": "H", "label_probs": "probs"})
    frame["probs"] = frame["probs"].map(json.loads)            # a real list column
    frame["notes"] = "x"
    path = tmp_path / "b.parquet"
    frame.to_parquet(path)
    res = cli("runs", "import", path, "--dataset", "coane", "--model-name", "toy-b",
              "--run-id", "b1", "--map", "H=choice_entropy", "--map", "probs=label_probs")
    assert res.code == 0, res.err
    assert "ignored column(s) notes" in res.err
    stored = read_results(coane / "runs" / "b1")
    assert len(stored) == 50
    assert np.allclose(stored.set_index("question_id").loc[frame["question_id"], "choice_entropy"],
                       frame["H"])


@pytest.mark.parametrize("mutate,needle", [
    (lambda f: f.assign(question_id=f["question_id"].where(f.index != 7, "nope-1")), "'nope-1': unknown question id"),
    (lambda f: f.assign(label_probs=f["label_probs"].where(f.index != 3, "[0.5, 0.5]")), "has 2 values but the question has 4"),
    (lambda f: f.assign(cloze=f["cloze"].where(f.index != 5, "E")), "cloze 'E' is not one of the letters A..D"),
    (lambda f: f.assign(cloze=f["cloze"].where(f.index != 5, "1")), "cloze '1'"),
    (lambda f: f.assign(label_probs=f["label_probs"].where(f.index != 2, "oops")), "label_probs is not a JSON list"),
    (lambda f: f.assign(choice_entropy=f["choice_entropy"].astype(object).where(f.index != 4, "big")), "choice_entropy is not a number"),
    (lambda f: f.drop(columns=["cloze"]), "missing column(s) cloze"),
])
def test_bad_rows_are_refused_with_file_line_and_id(cli, coane: Path, tmp_path: Path,
                                                    mutate, needle: str) -> None:
    frame = mutate(make_results(coane, "coane", seed=3, noise=0.5).head(20))
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    res = cli("runs", "import", path, "--dataset", "coane", "--model-name", "m", "--run-id", "bad")
    assert res.code == 2, res.out + res.err
    assert needle in res.err
    assert str(path) in res.err and len(res.err.strip().splitlines()) == 1
    assert not (coane / "runs" / "bad").exists()
    leftovers = [p.name for p in (coane / "runs").iterdir()] if (coane / "runs").exists() else []
    assert leftovers == []


def test_line_numbers_point_at_the_csv_line(cli, coane: Path, tmp_path: Path) -> None:
    frame = make_results(coane, "coane", seed=3, noise=0.5).head(20)
    frame.loc[7, "question_id"] = "ghost"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    res = cli("runs", "import", path, "--dataset", "coane", "--model-name", "m")
    assert f"{path}:9: question 'ghost'" in res.err      # header is line 1, row 7 is line 9


def test_pickles_and_unknown_datasets_are_refused(cli, coane: Path, tmp_path: Path) -> None:
    pkl = tmp_path / "r.pkl"
    make_results(coane, "coane", seed=3, noise=0.5).to_pickle(pkl)
    res = cli("runs", "import", pkl, "--dataset", "coane", "--model-name", "m")
    assert res.code == 2 and "pickles are never read" in res.err
    csv = tmp_path / "r.csv"
    make_results(coane, "coane", seed=3, noise=0.5).to_csv(csv, index=False)
    res = cli("runs", "import", csv, "--dataset", "nope", "--model-name", "m")
    assert res.code == 2 and "no dataset named 'nope'" in res.err
    res = cli("runs", "import", csv, "--dataset", "coane", "--model-name", "m", "--map", "x")
    assert res.code == 2 and "COLUMN=MEASURE" in res.err


def test_an_imported_run_is_done(cli, coane: Path, tmp_path: Path) -> None:
    """`runs import` writes a run whole, every row of its file at once; `runs list` said
    'incomplete (stopped before the end (engine killed?))', and the tables would take it for a
    partial run."""
    path = tmp_path / "model-a.csv"
    make_results(coane, "coane", seed=1, noise=0.5).head(300).to_csv(path, index=False)
    assert cli("runs", "import", path, "--dataset", "coane", "--model-name", "toy-a").code == 0
    listed = json.loads(cli("runs", "list", "--format", "json").out)
    assert [(r["status"], r["n_done"], r["n_total"]) for r in listed] == [("done", 300, 300)]
