"""Shared pieces of the console's tests: a workspace with real data and seeded runs, the app
factory, and waiting for workers. (No tests here; the other test_tui_* modules import it.)"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

ROPER_SAMPLE = "samples/roper_topline_sample.txt"


def cli_main(*args: object) -> int:
    from tui.cli.main import main

    try:
        main([str(a) for a in args])
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def trivia_with_pc(data_dir: Path, out: Path) -> pd.DataFrame:
    """The Coane trivia table plus ``pc``, the share who chose the correct answer, written to
    ``out`` (a human variable to import)."""
    trivia = pd.read_csv(data_dir / "coane2021_trivia_mc.csv")
    trivia["pc"] = [row[f"share_{'ABCD'.index(row['correct']) + 1}"] for _, row in trivia.iterrows()]
    trivia.to_csv(out, index=False)
    return trivia


def build_workspace(root: Path, data_dir: Path, *, runs: bool = True) -> Path:
    """``roper`` (the Roper sample), ``coane`` (trivia: human shares, correct answers and one
    human variable, ``correct_share``: the share of people who chose the correct answer) and,
    with ``runs``, two imported runs of seeded TEST results on coane (tests/test_runs_import.py)."""
    assert cli_main("import", "roper", data_dir / ROPER_SAMPLE, "--name", "roper", "-w", root) == 0
    root.parent.mkdir(parents=True, exist_ok=True)
    trivia_with_pc(data_dir, root.parent / "coane-with-pc.csv")
    assert cli_main("import", "table", root.parent / "coane-with-pc.csv", "--name", "coane",
                    "--human-col", "correct_share=pc", "-w", root) == 0
    if runs:
        from tests.test_runs_import import make_results

        for i, (name, noise) in enumerate((("toy-a", 0.5), ("toy-b", 1.5))):
            path = root.parent / f"coane-{name}.csv"
            make_results(root, "coane", seed=10 + i, noise=noise).to_csv(path, index=False)
            assert cli_main("runs", "import", path, "--dataset", "coane", "--model-name", name,
                            "--run-id", f"c-{name}", "--vocab-size", "49152", "-w", root) == 0
    return root


@pytest.fixture(scope="session")
def tui_ws(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A read-mostly workspace shared by the console tests (tests that write copy it)."""
    return build_workspace(tmp_path_factory.mktemp("tui") / "ws", data_dir)


def make_test_app(root: Path, *, remember: bool = False, **changes: object):
    """The app on workspace ``root``; ``remember``: read and save its console-settings.json
    (off by default: tests share a workspace, and one test's settings must not leak)."""
    from tui.app import make_app
    from tui.settings import Settings

    settings = Settings.build(root, remember=remember)
    if changes:
        settings = settings.with_changes(**changes)
    return make_app(settings=settings)


async def wait_for(pilot, condition: Callable[[], object], timeout: float = 30.0,
                   what: str = "condition") -> None:
    """Let the app run until ``condition()`` is true (workers post their messages meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        try:
            if condition():
                await pilot.pause()
                return
        except Exception:  # a widget not mounted yet
            pass
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def text_of(widget) -> str:
    """What a widget shows, as plain text (Rich tables included)."""
    import io

    from rich.console import Console

    shown = widget.render()
    renderable = getattr(shown, "_renderable", None) or shown
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def sync(fn):
    """Run an async test body with asyncio.run (the suite has no async test plugin)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
