"""Benchmark: the console's table widget with the MMLU test set (14,042 questions).

    python benchmarks/bench_console_table.py [--mmlu DIR]

Reads the 57 MMLU test CSVs (question, four choices, answer) into one frame shaped as the
Datasets screen shows it (id, subject, n, text), starts a real Textual app under ``run_test``
and times, in the FrameTable widget: loading the frame until the first paint, a sort by text,
a filter, and jumping to the last row. Prints each time against the 1 s target.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 1.0
DEFAULT_MMLU = Path("/work/shared/data/mmlu/test")


def mmlu_frame(folder: Path):
    import pandas as pd

    parts = []
    for path in sorted(folder.glob("*_test.csv")):
        part = pd.read_csv(path, header=None, names=["text", "A", "B", "C", "D", "answer"])
        part["subject"] = path.name.removesuffix("_test.csv")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "question_id", [f"mmlu-{i:05d}" for i in range(len(frame))])
    frame["n_choices"] = 4
    return frame[["question_id", "subject", "n_choices", "text"]]


async def measure(frame) -> dict[str, float]:
    from textual.app import App

    from tui.widgets.frame_table import FrameTable

    class Bench(App):
        def compose(self):
            yield FrameTable(export_name="questions", id="t")

    times: dict[str, float] = {}
    app = Bench()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(FrameTable)
        table.focus()
        start = time.perf_counter()
        table.show_frame(frame, key="question_id")
        await pilot.pause()
        times["load and paint"] = time.perf_counter() - start
        assert table.row_count == len(frame)
        start = time.perf_counter()
        table.sort_column("text", descending=True)
        await pilot.pause()
        times["sort by text"] = time.perf_counter() - start
        start = time.perf_counter()
        table.set_filter("algebra")
        await pilot.pause()
        times[f"filter ({table.row_count} rows left)"] = time.perf_counter() - start
        table.set_filter("")
        await pilot.pause()
        start = time.perf_counter()
        await pilot.press("G")
        times["G (last row)"] = time.perf_counter() - start
        assert table.cursor_row == len(frame) - 1
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmlu", type=Path, default=DEFAULT_MMLU)
    args = parser.parse_args()
    frame = mmlu_frame(args.mmlu)
    print(f"{len(frame):,} rows × {frame.shape[1]} columns (MMLU test, {args.mmlu})")
    for what, seconds in asyncio.run(measure(frame)).items():
        verdict = "ok" if seconds <= TARGET_S else "SLOW"
        print(f"  {what:<28} {seconds:6.3f} s   (target {TARGET_S:.0f} s: {verdict})")


if __name__ == "__main__":
    main()
