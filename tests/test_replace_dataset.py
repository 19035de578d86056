"""Replacing a dataset that has runs (`import --force`, `datasets derive --force`): refused
unless `--with-runs`, which deletes them once the new dataset is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets_io.dataset import load_dataset
from datasets_io.workspace import Workspace
from tests.engine_helpers import finished_run


@pytest.fixture
def coane_with_run(cli, ws_dir: Path, data_dir: Path, tiny_llama_dir: Path) -> Path:
    res = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane",
              "--sample", "8")
    assert res.code == 0, res.err
    return finished_run(ws_dir, "coane", tiny_llama_dir, limit=2)


def _report_hash(ws_dir: Path, name: str) -> str:
    return load_dataset(Workspace(ws_dir), name).report_hash()


def test_import_force_is_refused_while_the_dataset_has_runs(cli, ws_dir, data_dir,
                                                            coane_with_run) -> None:
    before = _report_hash(ws_dir, "coane")
    argv = ["import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane",
            "--sample", "8", "--seed", "7", "--force"]
    res = cli(*argv)
    assert res.code == 2, res.err
    line, = [x for x in res.err.splitlines() if x.startswith("alignuq: error")]
    assert f"dataset 'coane' has 1 run(s) ({coane_with_run.name})" in line
    assert "pass --with-runs" in line and "Traceback" not in res.err
    assert coane_with_run.is_dir() and _report_hash(ws_dir, "coane") == before  # nothing changed

    res = cli(*argv, "--with-runs")
    assert res.code == 0, res.err
    assert f"deleted its 1 earlier run(s): {coane_with_run.name}" in res.err
    assert not coane_with_run.exists() and _report_hash(ws_dir, "coane") != before


def test_derive_force_over_a_dataset_with_runs(cli, ws_dir, tiny_llama_dir,
                                               coane_with_run) -> None:
    ids = list(load_dataset(Workspace(ws_dir), "coane").questions["question_id"])
    assert cli("datasets", "derive", "coane", "--name", "part", "-x", ids[0]).code == 0
    run = finished_run(ws_dir, "part", tiny_llama_dir, limit=1)
    res = cli("datasets", "derive", "coane", "--name", "part", "-x", ids[1], "--force")
    assert res.code == 2 and "dataset 'part' has 1 run(s)" in res.err and run.is_dir()
    res = cli("datasets", "derive", "coane", "--name", "part", "-x", ids[1], "--force",
              "--with-runs")
    assert res.code == 0, res.err
    assert not run.exists() and coane_with_run.is_dir()  # the source's run is kept
