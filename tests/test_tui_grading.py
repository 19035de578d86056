"""The Grading section under a real Textual app: the released Coane answers of one model (20
questions, a derived dataset) graded by two annotators with one key each, with disagreements,
then settled by a third; the stored grades, the final grades and Cohen's kappa are checked
against the keys typed and sklearn."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from engine import grading as g
from engine.store import read_generations
from tests.test_tui_support import cli_main, make_test_app, sync, text_of, wait_for

MODEL = "Gemma2_9B_Ins"
RUN = f"moore2026-{MODEL}-fr"
FIRST = [g_ for g_ in "YYNYYNYYYNYYYYNYYYNY"]
SECOND = [g_ for g_ in "YNNYY?YNYNYNYYNYYYYY"]


@pytest.fixture
def twenty(data_dir: Path, tmp_path: Path) -> Path:
    coane = data_dir / "moore2026/Results/coane"
    if not (coane / "coane_data.parquet").exists():
        pytest.skip(f"the successor's released Coane results are not at {coane}")
    ws = tmp_path / "ws"
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(str(i) for i in range(20)) + "\n")
    assert cli_main("import", "table", coane / "coane_data.parquet", "--name", "c", "--id-col",
                    "@index", "-w", ws) == 0
    assert cli_main("datasets", "derive", "c", "--name", "c20", "--include-file", ids,
                    "-w", ws) == 0
    assert cli_main("runs", "import", coane / f"coane_{MODEL}.parquet", "--layout", "moore2026",
                    "--dataset", "c20", "-w", ws) == 0
    return ws


async def start_grading(pilot, screen, name: str, run: str = RUN) -> None:
    """Pick ``run`` and type annotator ``name`` on the Grading screen, as a user does."""
    from textual.widgets import Input, Select

    screen.query_one("#grading-run", Select).value = run
    box = screen.query_one("#grading-annotator", Input)
    box.focus()
    box.value = ""
    await pilot.press(*name, "enter")
    await wait_for(pilot, lambda: screen.annotator == name and screen.run is not None,
                   what=f"{name} to start")


def key_of(grade: str) -> str:
    return {"Y": "y", "N": "n", "?": "question_mark"}[grade]


@sync
async def test_two_graders_and_a_settler(twenty: Path) -> None:
    app = make_test_app(twenty)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w")
        await wait_for(pilot, lambda: app.section("grading") is not None, what="the screen")
        screen = app.section("grading")
        await start_grading(pilot, screen, "ann")
        assert screen.progress() == (0, 20)
        card = text_of(screen.query_one("#grading-card"))
        assert "Which band was Paul McCartney a member of?" in card
        assert "Gold answer: The Beatles" in card and "The Beatles}." in card
        # one key grades and moves on; a slip is undone and graded again
        await pilot.press("n")
        assert screen.pos == 1
        await pilot.press("u")
        assert screen.pos == 0 and screen.progress() == (0, 20)
        await pilot.press(*[key_of(x) for x in FIRST])
        assert screen.progress() == (20, 20)
        assert "kappa" not in text_of(screen.query_one("#grading-progress"))

        await start_grading(pilot, screen, "bob")
        assert screen.progress() == (0, 20)                  # ann's marks are not bob's
        assert "Your grade: -" in text_of(screen.query_one("#grading-card"))
        await pilot.press(*[key_of(x) for x in SECOND[:10]])
        await pilot.press("k", "k", "y")                     # move back: a grade again there
        assert screen.progress() == (10, 20)
        await pilot.press(*[key_of(x) for x in SECOND[10:]])
        progress = text_of(screen.query_one("#grading-progress"))
        kappa = cohen_kappa_score(FIRST, SECOND)
        assert f"Cohen's kappa {kappa:.3f}" in progress

        # a grader cannot settle; a third annotator can
        await pilot.press("t")
        assert not screen.settling
        await start_grading(pilot, screen, "cy")
        await pilot.press("t")
        assert screen.settling
        disputed = [str(i) for i in range(20) if FIRST[i] != SECOND[i] or "?" in (FIRST[i],
                                                                                     SECOND[i])]
        assert screen.order == disputed and len(disputed) == 5
        listed = text_of(screen.query_one("#grading-list"))
        assert all(f"{q:>6}  {FIRST[int(q)]} / {SECOND[int(q)]}" in listed for q in disputed)
        rulings = ["N", "Y", "N", "Y", "Y"]
        await pilot.press(*[key_of(x) for x in rulings])

    run_dir = twenty / "runs" / RUN
    grades = g.read_grades(run_dir)
    by = {name: grades[grades["annotator"] == name].set_index("question_id")
          for name in ("ann", "bob", "cy")}
    answers = read_generations(run_dir).set_index("question_id")["answer"]
    for i in range(20):
        assert by["ann"].loc[str(i), "grade"] == FIRST[i]
        assert by["bob"].loc[str(i), "grade"] == SECOND[i]
        assert by["ann"].loc[str(i), "answer"] == answers[str(i)]
    assert set(by["cy"]["role"]) == {"settler"} and sorted(by["cy"].index, key=int) == disputed
    final = g.final_grades(run_dir)
    ruled = dict(zip(disputed, rulings, strict=True))
    expected = [ruled.get(str(i), FIRST[i]) for i in range(20)]
    assert [{1.0: "Y", 0.0: "N"}[v] for v in final.loc[[str(i) for i in range(20)], "fr_correct"]] \
        == expected
    summary = g.summarise(g.grade_table(grades, answers), ["ann", "bob"])
    assert summary.kappa == pytest.approx(cohen_kappa_score(FIRST, SECOND), abs=1e-12)
    assert summary.pending == 0 and summary.settled == 5
