"""A free-recall study of Coane end to end with the demo model (issue 20's whole path): SmolLM2
answers 20 questions (`run --task generate`), two annotators grade them in the console and a
third settles, then the free-recall tables and the run's export are checked against the grades
typed, sklearn's kappa and the width rule written out over the exported measures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from engine.store import read_generations
from tests.test_successor_calibration import width_loop
from tests.test_tui_grading import key_of, start_grading
from tests.test_tui_support import make_test_app, sync, wait_for

FIRST = list("NNYNNNYNNNNNNNYNNNNN")
SECOND = list("NNYNNYYNNN?NNNYNNNNY")
RULINGS = {5: "N", 10: "N", 19: "Y"}


@pytest.fixture
def study(smollm_dir: Path, data_dir: Path, tmp_path: Path, cli) -> tuple[Path, str]:
    coane = data_dir / "moore2026/Results/coane/coane_data.parquet"
    if not coane.exists():
        pytest.skip(f"the successor's Coane file is not at {coane}")
    ws, ids = tmp_path / "ws", tmp_path / "ids.txt"
    ids.write_text("\n".join(str(i) for i in range(20)) + "\n")
    assert cli("import", "table", coane, "--name", "c", "--id-col", "@index", "--human-col",
               "FR_Human_*", "-w", ws).code == 0
    assert cli("datasets", "derive", "c", "--name", "c20", "--include-file", ids,
               "-w", ws).code == 0
    res = cli("run", "-d", "c20", "-m", smollm_dir, "--protocol", "successor", "--task",
              "generate", "--chat-template", "--max-new-tokens", "20", "--device", "cpu",
              "-w", ws)
    assert res.code == 0, res.err
    (run,) = [p.name for p in (ws / "runs").iterdir()]
    return ws, run


async def _grade_as(pilot, screen, run: str, name: str, grades: list[str]) -> None:
    await start_grading(pilot, screen, name, run)
    if grades:
        await pilot.press(*[key_of(g) for g in grades])


@sync
async def test_generate_grade_in_the_console_analyse_export(study, cli, tmp_path) -> None:
    ws, run = study
    order = [str(q) for q in sorted(read_generations(ws / "runs" / run)["question_id"], key=int)]
    app = make_test_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w")
        await wait_for(pilot, lambda: app.section("grading") is not None, what="the screen")
        screen = app.section("grading")
        await _grade_as(pilot, screen, run, "ann", FIRST)
        await _grade_as(pilot, screen, run, "bob", SECOND)
        await _grade_as(pilot, screen, run, "cy", [])
        await pilot.press("t")
        assert screen.settling and screen.order == [order[i] for i in sorted(RULINGS)]
        await pilot.press(*[key_of(RULINGS[i]) for i in sorted(RULINGS)])
    final = [RULINGS.get(i, FIRST[i]) for i in range(20)]

    res = cli("analyze", "fr-agreement", "-d", "c20", "-f", "csv", "-w", ws)
    assert res.code == 0, res.err
    row = pd.read_csv(io.StringIO(res.out)).iloc[0]
    share = np.mean([g == "Y" for g in final])
    assert (row["n"], row["n_graded"], row["pending"], row["fact_fr"]) == (20, 20, 0,
                                                                         int(100 * share))
    assert row["kappa"] == pytest.approx(cohen_kappa_score(FIRST, SECOND), abs=1e-12)

    out = tmp_path / "export.csv"
    assert cli("export", "run", run, "--format", "csv", "--out", out, "-w", ws).code == 0
    exported = pd.read_csv(out, dtype={"question_id": str}).set_index("question_id").loc[order]
    answers = read_generations(ws / "runs" / run).set_index("question_id").loc[order]
    assert exported["answer"].tolist() == answers["answer"].tolist()
    assert exported["final_grade"].tolist() == final

    res = cli("analyze", "fr-rms-ce", "-d", "c20", "--measures", "fr", "-f", "csv", "-w", ws)
    assert res.code == 0, res.err
    table = pd.read_csv(io.StringIO(res.out)).set_index("measure")
    y = np.array([g == "Y" for g in final], float)
    entropy = exported["fr_total_entropy"].to_numpy(float)
    assert table.loc["fr_total_entropy", "rms_ce"] == pytest.approx(width_loop(1 - entropy, y),
                                                                    abs=1e-12)
    ppl = exported["fr_perplexity"].to_numpy(float)
    assert table.loc["fr_perplexity", "rms_ce"] == pytest.approx(width_loop(np.exp(-ppl), y),
                                                                 abs=1e-12)
    assert (table["n"] == 20).all() and np.allclose(table["accuracy"], share)
