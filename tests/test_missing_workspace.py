"""A mistyped --workspace: the commands that read refuse it in one line (exit 2) and leave
nothing behind; the commands that write (import, run) and the console create it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

READING = [
    ("datasets", "list"),
    ("datasets", "show", "coane"),
    ("datasets", "questions", "coane"),
    ("datasets", "dropped", "coane"),
    ("datasets", "derive", "coane", "--name", "c2", "--exclude", "q1"),
    ("datasets", "delete", "coane", "--yes"),
    ("runs", "list"),
    ("runs", "show", "r1"),
    ("runs", "watch", "r1"),
    ("runs", "cancel", "r1"),
    ("runs", "delete", "r1", "--yes"),
    ("analyze", "alignment", "--dataset", "coane"),
    ("analyze", "ece", "--dataset", "coane"),
    ("export", "run", "r1", "--out", "OUT"),
]


@pytest.mark.parametrize("args", READING, ids=[" ".join(a[:2]) for a in READING])
def test_a_command_that_reads_refuses_a_missing_workspace(cli, tmp_path: Path, args) -> None:
    typo = tmp_path / "lab" / "wrokspace"
    argv = [str(tmp_path / "out.csv") if a == "OUT" else a for a in args]
    res = cli(*argv, "--workspace", typo)
    assert res.code == 2, (res.out, res.err)
    (line,) = res.err.strip().splitlines()
    assert line == (f"alignuq: error: no workspace at {typo}; check the path (--workspace or "
                    "ALIGNUQ_WORKSPACE), or create one by importing a dataset "
                    "(`alignuq import ...`)")
    assert not (tmp_path / "lab").exists()


def test_the_workspace_from_the_environment_is_refused_the_same_way(cli, tmp_path: Path,
                                                                   monkeypatch) -> None:
    typo = tmp_path / "wrokspace"
    monkeypatch.setenv("ALIGNUQ_WORKSPACE", str(typo))
    res = cli("runs", "list")
    assert res.code == 2 and f"no workspace at {typo}" in res.err
    assert not typo.exists()


def test_an_empty_folder_is_an_empty_workspace(cli, ws_dir: Path) -> None:
    res = cli("datasets", "list")
    assert res.code == 0, res.err
    assert list(ws_dir.iterdir()) == []  # reading creates nothing


def test_models_list_does_not_create_it_and_says_what_it_did_not_search(cli, tmp_path) -> None:
    typo = tmp_path / "wrokspace"
    res = cli("models", "list", "--format", "json", "--workspace", typo)
    assert res.code == 0, res.err
    assert f"no workspace at {typo}: its cache/models folder is not searched" in res.err
    assert isinstance(json.loads(res.out), list)
    assert not typo.exists()


def test_an_import_creates_the_workspace(cli, tmp_path: Path, data_dir: Path) -> None:
    fresh = tmp_path / "new" / "ws"
    res = cli("import", "table", data_dir / "coane2021_trivia_mc.csv", "--name", "coane",
              "--workspace", fresh)
    assert res.code == 0, res.err
    assert (fresh / "datasets" / "coane").is_dir()
    assert cli("datasets", "list", "--workspace", fresh).code == 0


def test_a_run_creates_the_workspace(cli, tmp_path: Path) -> None:
    """`run` writes: it creates the workspace (and then says the dataset is not in it)."""
    fresh = tmp_path / "ws"
    res = cli("run", "--dataset", "coane", "--model", "some/model", "--workspace", fresh)
    assert res.code == 2 and "no dataset named 'coane'" in res.err, res.err
    assert (fresh / "datasets").is_dir()


def test_the_console_creates_the_workspace(tmp_path: Path) -> None:
    """`alignuq tui` is where a user starts: its settings create the workspace."""
    from tui.settings import Settings

    fresh = tmp_path / "ws"
    settings = Settings.build(fresh)
    assert settings.workspace == fresh and (fresh / "datasets").is_dir()
