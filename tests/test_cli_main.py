"""The CLI's contract for mistakes: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations


def test_a_bad_option_value_is_one_clear_line_and_exit_2(cli) -> None:
    res = cli("run", "--dataset", "x", "--model", "y", "--variant", "zzz")
    assert res.code == 2
    assert "zzz" in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1 and "alignuq run --help" in res.err


def test_an_unknown_command_is_exit_2(cli) -> None:
    res = cli("frobnicate")
    assert res.code == 2 and "Traceback" not in res.err


def test_a_missing_dataset_is_bad_input(cli, ws_dir) -> None:
    res = cli("datasets", "show", "nope")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "no dataset named 'nope'" in lines[0] and "datasets list" in lines[0]


def test_import_without_a_format_names_the_command_for_the_file(cli, ws_dir, data_dir) -> None:
    trivia = data_dir / "coane2021_trivia_mc.csv"
    res = cli("import", trivia, "--name", "t")
    assert res.code == 2 and "Traceback" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1
    assert f"looks like table: alignuq import table {trivia} --name t" in lines[0]
    roper = cli("import", data_dir / "samples" / "roper_topline_sample.txt")
    assert roper.code == 2 and "looks like roper: alignuq import roper" in roper.err
    unknown = cli("import", data_dir / "README.md")
    assert unknown.code == 2 and "cannot tell the format" in unknown.err
    missing = cli("import", data_dir / "no-such-file.csv")
    assert missing.code == 2 and "no-such-file.csv: no such file; the format comes first" in missing.err
    typo = cli("import", "tabel")
    assert typo.code == 2 and "Did you mean 'table'?" in typo.err
    assert not ws_dir.exists() or not any((ws_dir / "datasets").glob("*"))


def test_version_prints_the_installed_package_version(cli) -> None:
    import subprocess
    import sys
    from importlib.metadata import version
    from pathlib import Path

    res = cli("--version")
    assert res.code == 0 and res.err == ""
    assert res.out == f"alignuq {version('alignuq')}\n"
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "tui.cli.main", "--version"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == res.out
