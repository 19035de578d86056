# ruff: noqa: F811  (pytest fixtures imported from other test modules)
"""One importer contract (``engine.lab.imports``): every format parses to a ``Parsed``, and the
same file with the same settings gives the same dataset, bit for bit, through `alignuq import`
and through the console's import wizard (a real Textual app)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from common.errors import BadInput
from datasets_io.rules import Parsed, RawQuestion
from datasets_io.table import HEAD_ROWS, TableMapping
from engine.lab import imports as lab
from tests.test_import_bad_input import block, write
from tests.test_import_pew import sav  # noqa: F401
from tests.test_tui_support import ROPER_SAMPLE, make_test_app, sync, text_of, wait_for

ANATOMY = "mmlu/test/anatomy_test.csv"


def _source(fmt: str, data_dir: Path, sav: Path) -> lab.Source:
    return {"roper": lab.Source("roper", data_dir / ROPER_SAMPLE),
            "table": lab.Source("table", data_dir / "coane2021_trivia_mc.csv"),
            "pew": lab.Source("pew", sav, questions=("Q*_W88",)),
            "mmlu": lab.Source("mmlu", data_dir / ANATOMY)}[fmt]


@pytest.mark.parametrize("fmt", lab.FORMATS)
def test_every_format_parses_to_the_same_contract(fmt: str, data_dir: Path, sav: Path) -> None:
    source = _source(fmt, data_dir, sav)
    parsed = lab.parse(source)
    assert type(parsed) is Parsed
    assert parsed.format == fmt == parsed.details["format"]
    assert parsed.file == source.file
    assert parsed.raw and all(type(q) is RawQuestion for q in parsed.raw)
    assert isinstance(parsed.warnings, list) and parsed.pre_dropped == []
    assert lab.describe(parsed)  # what the importer found, in words
    rows = lab.question_rows(parsed, limit=3)
    assert list(rows["question_id"]) == [q.question_id for q in parsed.raw[:3]]
    if fmt == "table":
        assert isinstance(parsed.mapping, TableMapping) and parsed.mapping.layout == "wide"
        assert isinstance(parsed.head, pd.DataFrame) and len(parsed.head) == HEAD_ROWS
    else:
        assert parsed.mapping is None and parsed.head is None
    assert parsed.refusals == (lab.DEFAULT_REFUSALS if fmt == "pew" else None)


def test_mmlu_reports_its_repeated_header_rows_as_pre_dropped(data_dir: Path) -> None:
    parsed = lab.parse(lab.Source("mmlu", data_dir / "mmlu" / "test"))
    assert len(parsed.raw) == 14042
    assert [row["reason"] for row in parsed.pre_dropped] == ["header_row", "header_row"]


def test_a_preview_parses_a_pew_file_again_for_another_refusal_list(sav: Path, ws_dir: Path) -> None:
    """Pew relabels code 99 by the refusal list: keeping "Refused" as an option must give what
    `--keep-refusal Refused` gives, not the parse made with the default list."""
    source = lab.Source("pew", sav, questions=("Q1_W88",))
    parsed = lab.parse(source)
    kept = lab.settings("pew", keep_refusals=["Refused"])
    result = lab.preview(source, parsed, "p", kept)
    assert result.parsed is not parsed and result.parsed.refusals == kept.refusals
    question = result.dataset.questions.iloc[0]
    assert sorted(question["choices"]) == ["No", "Refused", "Yes"]
    assert question["meta"]["code_99_original_label"] == {"99": "Refused"}
    same = lab.preview(source, result.parsed, "p", kept)
    assert same.parsed is result.parsed  # the same list: no second parse


def test_writing_an_import_that_drops_everything_is_refused(tmp_path: Path, ws_dir: Path) -> None:
    f = write(tmp_path, block("A1", ["90% Yes", "10% Refused"]))
    parsed = lab.parse(lab.Source("roper", f))
    to = lab.target(ws_dir, "x")
    ds = lab.build(parsed, "x", lab.settings("roper"), allow_empty=True)  # a preview shows it
    assert len(ds.questions) == 0 and len(ds.dropped) == 1
    with pytest.raises(BadInput, match=r"no question left: all 1 were dropped "
                                       r"\(fewer_than_2_options: 1\)"):
        lab.write(to, ds)
    assert not any((ws_dir / "datasets").iterdir())


# ------------------------------------------------------------- the CLI and the wizard agree

CASES = {
    "roper": (ROPER_SAMPLE, [], {}),
    "roper-seed-sample-order": (ROPER_SAMPLE, ["--seed", "7", "--sample", "4", "--no-shuffle"],
                                {"seed": "7", "sample": "4", "shuffle": False}),
    "table": ("coane2021_trivia_mc.csv", [], {}),
    "pew-keep-refused": (None, ["--questions", "Q*_W88", "--keep-refusal", "Refused"],
                         {"pew_vars": "Q*_W88", "drop_refusal": "refused"}),
    "mmlu": (ANATOMY, [], {}),
}


def _cli_format(case: str) -> str:
    return case.split("-")[0]


async def _import_in_the_wizard(pilot, app, path: Path, name: str, *, pew_vars: str = "",
                                seed: str = "", sample: str = "", shuffle: bool | None = None,
                                drop_refusal: str = "") -> None:
    await pilot.press("i")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 10, "the wizard")
    wizard = app.screen
    wizard.query_one("#path").value = str(path)
    wizard.detect_format()
    await pilot.pause()  # the format's default option order is set
    wizard.query_one("#name").value = name
    wizard.query_one("#pew-vars").value = pew_vars
    if seed:
        wizard.query_one("#seed").value = seed
    wizard.query_one("#sample").value = sample
    if shuffle is not None:
        wizard.query_one("#shuffle").value = shuffle
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: wizard.step == 1 and wizard.parsed is not None, 60, "the parse")
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: wizard.preview is not None, 60, "the preview")
    if drop_refusal:
        area = wizard.query_one("#refusals")
        area.text = "\n".join(ln for ln in area.text.splitlines() if ln.strip() != drop_refusal)
        await wait_for(pilot, lambda: drop_refusal not in wizard.preview.report["settings"][
            "refusals"], 60, "the recount")
    await pilot.press("ctrl+n")
    await pilot.press("ctrl+w")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "DatasetsScreen", 60, "written")


def _same_dataset(a: Path, b: Path) -> None:
    for name in ("questions.parquet", "dropped.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    reports = [json.loads((d / "import_report.json").read_text()) for d in (a, b)]
    for report in reports:
        del report["created"]
    assert reports[0] == reports[1]


@pytest.mark.parametrize("case", CASES)
@sync
async def test_the_cli_and_the_wizard_write_the_same_dataset(case: str, cli, data_dir: Path,
                                                             sav: Path, tmp_path: Path) -> None:
    file, cli_args, wizard_args = CASES[case]
    path = sav if file is None else data_dir / file
    by_cli, by_wizard = tmp_path / "cli", tmp_path / "wizard"
    done = cli("import", _cli_format(case), path, "--name", "d", *cli_args, "-w", by_cli)
    assert done.code == 0, done.err
    app = make_test_app(by_wizard)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        await _import_in_the_wizard(pilot, app, path, "d", **wizard_args)
    _same_dataset(by_cli / "datasets" / "d", by_wizard / "datasets" / "d")


@sync
async def test_the_wizard_refuses_a_taken_name_before_parsing(cli, data_dir: Path,
                                                             ws_dir: Path) -> None:
    """As `alignuq import` without --force: checked on the first step (beside the name, with the
    console's way out, "replace", not the CLI's --force), nothing replaced."""
    path = data_dir / ROPER_SAMPLE
    assert cli("import", "roper", path, "--name", "polls", "-w", ws_dir).code == 0
    before = (ws_dir / "datasets" / "polls" / "import_report.json").read_bytes()
    app = make_test_app(ws_dir)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ImportWizard", 10, "wizard")
        wizard = app.screen
        wizard.query_one("#path").value = str(path)
        wizard.detect_format()
        wizard.query_one("#name").value = "polls"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: "already exists" in text_of(
            wizard.query_one("#name-status")), 30, "the refusal")
        await pilot.pause(0.3)
        assert wizard.step == 0 and wizard.parsed is None
        said = text_of(wizard.query_one("#name-status"))
        assert "dataset polls already exists" in said and "replace" in said
        assert "--force" not in said
    assert (ws_dir / "datasets" / "polls" / "import_report.json").read_bytes() == before
