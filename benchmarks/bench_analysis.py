"""Benchmark: `analyze all` (the paper's six tables and every other applicable one) for 10 runs x 16 measures on 14,044 questions, 1,000 permutations.

    python benchmarks/bench_analysis.py [--runs 10] [--questions 14044] [--permutations 1000]

SYNTHETIC data (said so in the output): an MMLU-sized dataset (4 options, 57 subjects, a correct
answer) that also has human shares, so that every analysis applies; 10 runs, each with 16 measures
drawn around the model's own label probabilities, written to a temporary workspace as results
stores (not timed). Then, in one run:

1. the new path: ``alignuq analyze all --out DIR`` in a fresh process (start-up, one load of the
   packed stores, six tables, six files), against the target;
2. where its time goes, in this process: the load, and each table from it;
3. the old path: one ``alignuq analyze NAME`` process per table, each loading the runs again, from
   stores with the JSON measures of the previous format (the tables are checked to be the same,
   bit for bit);
4. the JSD permutation test as a per-permutation loop (bincount + scipy's jensenshannon) on a
   subset, checked to give the same null sample as the vectorised one, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets_io.dataset import Dataset, questions_frame, write_dataset  # noqa: E402
from datasets_io.workspace import Workspace  # noqa: E402
from engine.analysis.frames import Analysis  # noqa: E402
from engine.analysis.jsd import jsd_shift_many, split_groups  # noqa: E402
from engine.lab import tables  # noqa: E402
from engine.store import ResultRow, ResultStore, write_manifest  # noqa: E402

PAPER = ("alignment", "agreement", "kendall", "calibration", "ece", "jsd")   # the old path's six

TARGET_S = 8.0
DATASET = "bench"
MEASURES = (["top1_prob", "total_entropy"] + [f"topk_entropy@{k}" for k in (5, 10, 25, 50, 100)]
            + [f"topp_entropy@{p:g}" for p in (0.95, 0.9, 0.75, 0.5)]
            + ["topp_size@0.9", "topp_size@0.5", "choice_entropy", "choice_top1", "choice_margin"])


def synthetic_dataset(n_questions: int, rng: np.random.Generator) -> Dataset:
    n = 4
    shares = rng.dirichlet(np.full(n, 0.7), size=n_questions)
    correct = rng.integers(0, n, n_questions)
    subjects = np.array([f"subject_{i:02d}" for i in range(57)])[rng.integers(0, 57, n_questions)]
    return Dataset(name=DATASET, questions=questions_frame([
        {"question_id": f"q{i:05d}", "source": "synthetic", "text": "", "choices": list("abcd"),
         "human_share": shares[i].tolist(), "correct": int(correct[i]), "subject": subjects[i],
         "n_choices": n, "meta": "{}"} for i in range(n_questions)]), report={"source": "synthetic"})


def synthetic_rows(ds: Dataset, rng: np.random.Generator) -> list[ResultRow]:
    """One run: label probabilities around the human shares, 16 measures around their entropy."""
    q = ds.questions
    shares = np.array(q["human_share"].tolist())
    n_questions, n = shares.shape
    logit = np.log(shares + 0.05) * rng.uniform(0.5, 2) + rng.normal(0, 1, (n_questions, n))
    logit[np.arange(n_questions), q["correct"].to_numpy(int)] += rng.uniform(0, 1.5)
    p = np.exp(logit)
    p /= p.sum(1, keepdims=True)
    ent = -(p * np.log(p)).sum(1)
    top = np.sort(p, axis=1)[:, ::-1]
    values = {m: ent * rng.uniform(0.5, 2) + rng.normal(0, 0.3, n_questions) for m in MEASURES}
    values["topp_size@0.9"] = np.round(1 + 2 * ent + rng.normal(0, 0.3, n_questions))
    values["topp_size@0.5"] = np.round(1 + ent + rng.normal(0, 0.3, n_questions))
    values["choice_entropy"], values["choice_top1"] = ent, top[:, 0]
    values["choice_margin"] = top[:, 0] - top[:, 1]
    return [ResultRow(qid, int(p[i].argmax()), (p[i] * 0.9).tolist(), 0.9,
                      {m: float(values[m][i]) for m in MEASURES}, prompt_tokens=80)
            for i, qid in enumerate(q["question_id"])]


def write_json_store(path: Path, run_id: str, rows: list[ResultRow]) -> None:
    """The store as the previous format wrote it: the measures as JSON text in every row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE results (run_id TEXT NOT NULL, question_id TEXT NOT NULL, "
                     "cloze INTEGER NOT NULL, label_probs TEXT NOT NULL, choice_mass REAL NOT "
                     "NULL, measures TEXT NOT NULL, top_ids BLOB, top_probs BLOB, prompt_tokens "
                     "INTEGER, created REAL NOT NULL, PRIMARY KEY (run_id, question_id))")
        conn.execute("CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.executemany("INSERT INTO results VALUES (?,?,?,?,?,?,NULL,NULL,?,0)", [
            (run_id, r.question_id, r.cloze, json.dumps(r.label_probs), r.choice_mass,
             json.dumps(r.measures), r.prompt_tokens) for r in rows])
    conn.close()


def make_workspaces(root: Path, n_questions: int, n_runs: int) -> tuple[Path, Path]:
    """Two workspaces with the same dataset and runs: packed stores, and JSON stores."""
    rng = np.random.default_rng(0)
    ds = synthetic_dataset(n_questions, rng)
    packed, old = root / "packed", root / "json"
    for ws in (packed, old):
        write_dataset(Workspace(ws).ensure(), ds)
    shutil.copyfile(packed / "datasets" / DATASET / "import_report.json",
                    old / "datasets" / DATASET / "import_report.json")
    for r in range(n_runs):
        rid, rows = f"run{r:02d}", synthetic_rows(ds, rng)
        manifest = {"run_id": rid, "dataset": DATASET, "source": "import", "n_total": n_questions,
                    "dataset_report_sha256": ds.report_hash(), "measures": MEASURES,
                    "model": {"name": f"model-{r:02d}", "vocab_size": 49152}}
        for ws in (packed, old):
            write_manifest(ws / "runs" / rid, manifest)
        with ResultStore(packed / "runs" / rid / "results" / "main.sqlite", rid) as store:
            store.add(rows)
        (packed / "runs" / rid / "results" / "main.sqlite.lock").unlink()
        write_json_store(old / "runs" / rid / "results" / "main.sqlite", rid, rows)
    return packed, old


def cli(*args: object) -> float:
    """Wall time of one `alignuq` process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui.cli.main", *map(str, args)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def load_avg() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs, load average {load:.1f}"


def new_path(packed: Path, out: Path, permutations: int) -> float:
    total = cli("analyze", "all", "-d", DATASET, "-w", packed, "--permutations", permutations,
                "--out", out)
    verdict = "PASS" if total < TARGET_S else "FAIL"
    print(f"new path: `alignuq analyze all --out DIR` (every applicable table: the paper's six, "
          f"the successor's and the metrics beyond), one process: {total:.2f} s wall "
          f"(target < {TARGET_S:.0f} s): {verdict}  [{load_avg()}]")
    return total


def breakdown(packed: Path, permutations: int) -> tuple[Analysis, tables.Table, float]:
    """The load and each table in this process; returns the load, the JSD table and its time."""
    start = time.perf_counter()
    loaded = tables.load(Workspace(packed), DATASET)
    print(f"  in this process: load {time.perf_counter() - start:.2f} s", end="")
    names, _ = tables.applicable(loaded)    # what `analyze all` computes (pairs: no pairs here)
    for name in [n for n in names if n != "pairs"]:
        start = time.perf_counter()
        table = tables.compute(loaded, name, {"permutations": permutations})
        took = time.perf_counter() - start
        print(f", {name} {took:.2f} s ({len(table.frame())} rows)", end="")
        if name == "jsd":
            jsd, jsd_s = table, took
    print()
    return loaded, jsd, jsd_s


def old_path(old: Path, out: Path, new_out: Path, permutations: int, new_total: float) -> None:
    times = {}
    out.mkdir()
    for name in PAPER:
        path = out / f"{name}.csv"
        times[name] = cli("analyze", name, "-d", DATASET, "-w", old, "--permutations",
                          permutations, "--out", path)
        assert path.read_bytes() == (new_out / f"{name}.csv").read_bytes(), name
    total = sum(times.values())
    print(f"old path: one `alignuq analyze NAME` process per table, JSON stores: {total:.2f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in times.items())}); the same tables, bit for "
          f"bit; the new path is {total / new_total:.1f}x faster")


def loop_null(model, correct, u, seed, permutations, labels=4):
    """The straightforward reference: one permutation at a time."""
    from scipy.spatial.distance import jensenshannon
    upper = split_groups(u, seed)
    n, n_u = u.size, int(upper.sum())
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    null = np.empty(permutations)
    for k in range(permutations):
        sel = np.zeros(n, bool)
        sel[rng.permutation(n)[:n_u]] = True
        d_u = jensenshannon(np.bincount(model[sel], minlength=labels),
                            np.bincount(correct[sel], minlength=labels), base=2)
        d_c = jensenshannon(np.bincount(model[~sel], minlength=labels),
                            np.bincount(correct[~sel], minlength=labels), base=2)
        null[k] = d_u - d_c
    return null


def jsd_loop(loaded: Analysis, jsd: tables.Table, jsd_s: float, permutations: int,
             loop_permutations: int) -> None:
    run = loaded.frame[loaded.frame["run_id"] == "run00"]
    model = run["cloze"].to_numpy(int)
    correct = run["correct"].to_numpy(int)
    u = run["choice_entropy"].to_numpy(float)
    k = loop_permutations
    t = time.perf_counter()
    ref = loop_null(model, correct, u, 0, k)
    loop_per_perm = (time.perf_counter() - t) / k
    t = time.perf_counter()
    res, _ = jsd_shift_many(model, correct, {"u": u}, n_labels=4, permutations=permutations,
                            seed=0)
    vec_one = time.perf_counter() - t
    assert np.allclose(res["u"].null[:k], ref, atol=1e-12), "vectorised null != loop null"
    print(f"JSD permutation test, per-permutation loop on a subset (1 test x {k} permutations): "
          f"{loop_per_perm * 1e3:.2f} ms/permutation; same null sample as the vectorised one")
    print(f"  one test of {permutations} permutations: loop {loop_per_perm * permutations:.2f} s"
          f" (extrapolated), vectorised {vec_one:.2f} s (incl. drawing the permutations): "
          f"{loop_per_perm * permutations / vec_one:.0f}x")
    n_tests = len(jsd.frame())
    loop_total = loop_per_perm * permutations * n_tests
    print(f"  all {n_tests} tests: loop {loop_total:.0f} s (extrapolated), vectorised {jsd_s:.2f} s: "
          f"{loop_total / jsd_s:.0f}x faster")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--questions", type=int, default=14044)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--loop-permutations", type=int, default=100)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="alignuq-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        packed, old = make_workspaces(root, args.questions, args.runs)
        print(f"SYNTHETIC data: {args.questions:,} questions x {args.runs} runs x {len(MEASURES)} "
              f"measures, as results stores (written in {time.perf_counter() - t0:.1f} s, not "
              "timed below)")
        new_total = new_path(packed, root / "new", args.permutations)
        loaded, jsd, jsd_s = breakdown(packed, args.permutations)
        old_path(old, root / "old", root / "new", args.permutations, new_total)
        jsd_loop(loaded, jsd, jsd_s, args.permutations, args.loop_permutations)


if __name__ == "__main__":
    main()
