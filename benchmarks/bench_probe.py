"""Probe speed at the successor's grid: 4,096 features x 32 layers x 10 folds on 421 questions,
ridge with its penalty chosen by 5-fold nested CV over 19 penalties, plus shuffled targets; and
scikit-learn's GridSearchCV doing the same ridge on one layer, for comparison. Also the host
memory of reading one layer of an 8B-sized capture (14,042 questions x 4,096, float16).

    .venv/bin/python benchmarks/bench_probe.py [--layers 32] [--shuffles 100]

Activations are seeded random numbers with a planted signal, written and read through the same
memory-mapped files a capture run writes (engine.activations), so the figure is the probe's own
cost, not a model's.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.activations import ActivationWriter, CaptureInfo, run_activations
from engine.analysis.probe_fit import RIDGE_ALPHAS, kfold, linear_probe


def capture(folder: Path, n: int, hidden: int, layers: int, dtype: str, seed: int = 0
            ) -> tuple[list[str], np.ndarray]:
    """Write a capture of ``layers`` random layers; return the ids and a target with signal."""
    rng = np.random.default_rng(seed)
    ids = [f"q{i}" for i in range(n)]
    writer = ActivationWriter(folder, "main", CaptureInfo(tuple(ids), tuple(range(1, layers + 1)),
                                                          hidden, dtype, "bench"))
    weights = np.zeros(hidden)
    weights[:16] = 1.0                       # a few directions carry the target
    target = np.zeros(n)
    for start in range(0, n, 1024):          # batches, as the engine writes them
        rows = ids[start:start + 1024]
        states = {layer: rng.normal(size=(len(rows), hidden)) for layer in writer.layers}
        writer.write(rows, states)
        target[start:start + len(rows)] = states[layers // 2 + 1] @ weights
    return ids, target + rng.normal(size=n) * target.std()


def probe_all(folder: Path, ids: list[str], y: np.ndarray, shuffles: int) -> tuple[float, float]:
    acts = run_activations(folder)
    assert acts is not None
    folds = kfold(len(ids), 10, 0)
    rng = np.random.default_rng(0)
    ys = np.column_stack([y, *(rng.permutation(y) for _ in range(shuffles))])
    start, best = time.perf_counter(), 0.0
    for layer in acts.layers:
        best = max(best, float(np.nanmean(linear_probe(acts.layer(layer, ids), ys, folds,
                                                       "ridge", 0).r[:, 0])))
    return time.perf_counter() - start, best


def sklearn_layer(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    for train, _ in KFold(10, shuffle=True, random_state=0).split(x):
        GridSearchCV(make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": RIDGE_ALPHAS},
                     scoring="neg_mean_squared_error",
                     cv=KFold(5, shuffle=True, random_state=0)).fit(x[train], y[train])
    return time.perf_counter() - start


def probe_all_one(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    start = time.perf_counter()
    scores = linear_probe(x, y[:, None], kfold(len(y), 10, 0), "ridge", 0)
    return time.perf_counter() - start, float(np.nanmean(scores.r[:, 0]))



def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--shuffles", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ids, y = capture(Path(tmp) / "grid", 421, 4096, args.layers, "float32")
        seconds, best = probe_all(Path(tmp) / "grid", ids, y, args.shuffles)
        print(f"probe: 421 questions x 4,096 features x {args.layers} layers x 10 folds, nested "
              f"ridge over {len(RIDGE_ALPHAS)} penalties, {args.shuffles} shuffles: "
              f"{seconds:.1f} s ({seconds / args.layers:.2f} s a layer; best r {best:.2f})")
        acts = run_activations(Path(tmp) / "grid")
        x = acts.layer(args.layers // 2 + 1, ids)
        theirs = sklearn_layer(x, y)
        one, _ = probe_all_one(x, y)
        print(f"one layer, observed target only: alignuq {one:.2f} s, scikit-learn GridSearchCV "
              f"(StandardScaler + Ridge, same folds and penalties) {theirs:.2f} s: "
              f"{theirs / one:.1f}x")
        before = peak_rss_mb()
        big, _ = capture(Path(tmp) / "8b", 14042, 4096, 2, "float16")
        del big
        after_write = peak_rss_mb()
        read = run_activations(Path(tmp) / "8b").layer(1, [f"q{i}" for i in range(14042)])
        print(f"8B-sized capture (14,042 x 4,096, float16): writing 2 layers raised peak memory "
              f"{before:.0f} -> {after_write:.0f} MB; reading one layer as float64 "
              f"({read.nbytes / 2**20:.0f} MB) -> {peak_rss_mb():.0f} MB: one layer at a time, "
              "never the capture")


if __name__ == "__main__":
    main()
