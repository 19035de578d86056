"""Benchmark: import a generated 30,000-question Roper topline file (parse + rules + write).

    python benchmarks/bench_import.py [--questions N] [--keep DIR]

Generates the file in a temporary folder (real layout: titles with dates and date ranges, wrapped
labels, '*' cells, refusals, a few multi-select blocks that the rules drop), then times the same
code path as `alignuq import roper FILE --name bench` (parse, SCIENCE.md §6 rules with the seeded
shuffle, atomic write of questions.parquet / import_report.json / dropped.csv) and prints the wall
time against the 5 s target.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 5.0
DASHES = "-" * 60
SCALES = [
    ["Strongly agree", "Somewhat agree", "Somewhat disagree", "Strongly disagree"],
    ["Yes", "No"],
    ["Very likely", "Somewhat likely", "Not too likely", "Not at all likely"],
    ["A great deal", "A fair amount", "Not too much", "Not at all"],
    ["Better", "Worse", "About the same"],
    ["Approve", "Disapprove"],
]
REFUSALS = ["Don't know/Refused", "Refused", "Skipped on web", "No answer", "Don't know"]


def generate(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    out = ["Roper Center for Public Opinion Research - iPoll topline export (generated benchmark)",
           ""]
    for i in range(n):
        month, day, year = rng.randint(1, 12), rng.randint(1, 28), rng.randint(1990, 2024)
        date = f"{month:02d}/{day:02d}/{year}"
        if i % 3 == 0:
            date += f" - {month:02d}/{min(day + 6, 28):02d}/{year}"
        org = rng.choice(["Example Research Poll", "Sample Survey Org", "Generated Polling Co"])
        out += [f"{org} [{date}]", "",
                f"Generated question number {i}: how do you feel about topic {rng.randint(1, 999)}"
                " in your area these days?"]
        labels = list(rng.choice(SCALES)) + [rng.choice(REFUSALS)]
        weights = [rng.random() + 0.05 for _ in labels]
        total = sum(weights)
        pct = [round(100 * w / total) for w in weights]
        pct[0] += 100 - sum(pct)
        if i % 50 == 7:  # multi-select: sums far above 100, dropped by the rules
            pct = [p + 30 for p in pct]
        for j, (p, label) in enumerate(zip(pct, labels, strict=True)):
            if j == 1 and i % 7 == 0:
                out += [f"{p}% {label}, with a label long enough that the export wraps it onto",
                        "a second line"]
            elif p == 0:
                out.append(f"*  {label}")
            else:
                out.append(f"{p}% {label}")
        out += ["", f"Citation: {org}. Generated for the alignuq import benchmark.",
                f"Question: [GEN.{i:06d}.R{i % 97:02d}]", f"Study: [Roper #{31000000 + i // 40}]",
                "Sample: National adult", f"Sample Size: {rng.randint(500, 3000)}", DASHES]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=30_000)
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated file here")
    args = ap.parse_args()

    from datasets_io.dataset import write_dataset
    from datasets_io.hashing import file_sha256
    from datasets_io.roper import parse_roper
    from datasets_io.rules import ImportSettings, build_dataset
    from datasets_io.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="alignuq-bench-") as tmp:
        src = (args.keep or Path(tmp)) / "topline.txt"
        src.parent.mkdir(parents=True, exist_ok=True)
        generate(src, args.questions)
        ws = Workspace(Path(tmp) / "ws").ensure()
        size_mb = src.stat().st_size / 1e6
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        parsed = parse_roper(src)
        t1 = time.perf_counter()
        ds = build_dataset("bench", "roper", parsed.raw, ImportSettings(), file=src,
                           file_sha256=file_sha256(src), details=parsed.details,
                           warnings=parsed.warnings)
        t2 = time.perf_counter()
        write_dataset(ws, ds)
        t3 = time.perf_counter()
        cpu = time.process_time() - cpu0
        counts = ds.report["counts"]
        total = t3 - t0
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"file: {args.questions:,} questions, {size_mb:.1f} MB "
              f"(kept {counts['n_kept']:,}, dropped {counts['n_dropped']:,})")
        print(f"parse {t1 - t0:.2f} s + rules {t2 - t1:.2f} s + write {t3 - t2:.2f} s "
              f"(CPU {cpu:.2f} s; {os.cpu_count()} CPUs, load average {load:.1f})")
        verdict = "PASS" if total < TARGET_S else "FAIL"
        print(f"import wall time: {total:.2f} s (target < {TARGET_S:.0f} s): {verdict}")
        return 0 if total < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
