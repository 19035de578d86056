"""Where the console can jump by name: every section, table, dataset and run.

``:`` (the command line) and ctrl+p (the command palette) both read :func:`targets` and go with
:func:`jump`; :func:`best` is the ``:`` matching (exact, then prefix, then a word's prefix, then
the letters in order), so ``:coane`` opens that dataset and ``:reli`` the ECE tab's reliability
plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tui.widgets.section_bar import SECTIONS as SECTION_BAR

if TYPE_CHECKING:
    from tui.app import AlignUQApp

SECTIONS = tuple(mode for mode, _, _ in SECTION_BAR)

# What a Results tab shows beside its table, so a plot is found by its own name.
TAB_EXTRAS = {
    "alignment": ("choice-count strata",),
    "ece": ("reliability plot", "reliability diagram"),
    "jsd": ("null histogram", "permutation null"),
    "probe": ("layer plot",),
}


@dataclass(frozen=True)
class Target:
    kind: str                 # section, table, dataset, run
    name: str                 # what it is called (the key for tables)
    title: str                # what the palette shows
    aliases: tuple[str, ...] = field(default=())

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, self.title, *self.aliases)


def targets(root: Path) -> list[Target]:
    """Every place to jump to in the workspace at ``root``, sections and tables first."""
    from engine.lab.analyses import ANALYSES

    out = [Target("section", s, f"Go to {s.title()}") for s in SECTIONS]
    for key, spec in ANALYSES.items():
        extras = TAB_EXTRAS.get(key, ())
        beside = f" (with the {extras[0]})" if extras else ""
        out.append(Target("table", key, f"Results: {spec.title} table{beside}",
                          (spec.title, *extras)))
    out += [Target("dataset", name, f"Dataset {name}") for name in _datasets(root)]
    out += [Target("run", run_id, f"Run {run_id}") for run_id in _runs(root)]
    return out


def _datasets(root: Path) -> list[str]:
    from engine.lab.datasets import names
    from tui.workers import workspace

    return names(workspace(root))


def _runs(root: Path) -> list[str]:
    runs = root / "runs"
    if not runs.is_dir():
        return []
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def score(query: str, target: Target) -> int:
    """How well ``query`` names ``target`` (0: not at all); higher is better."""
    q = query.strip().casefold()
    if not q:
        return 0
    best = 0
    for word in target.words:
        w = word.casefold()
        if w == q:
            best = max(best, 100)
        elif w.startswith(q):
            best = max(best, 80 - min(len(w) - len(q), 30) // 3)
        elif any(part.startswith(q) for part in _parts(w)):
            best = max(best, 50)
        elif _in_order(q, w):
            best = max(best, 20)
    return best


def _parts(text: str) -> list[str]:
    for sep in "-_.:()":
        text = text.replace(sep, " ")
    return text.split()


def _in_order(query: str, text: str) -> bool:
    letters = iter(text)
    return all(ch in letters for ch in query)


def best(query: str, among: list[Target]) -> Target | None:
    """The target ``query`` names best (ties: the earlier in ``among``), or None."""
    scored = [(score(query, t), -i, t) for i, t in enumerate(among)]
    top = max(scored, default=(0, 0, None), key=lambda s: (s[0], s[1]))
    return top[2] if top[0] > 0 else None


def describe(target: Target | None) -> str:
    return f"enter: {target.title}" if target else "no section, table, dataset or run by that name"


def jump(app: AlignUQApp, target: Target) -> None:
    """Show ``target``: its section, then the dataset, run or table in it (a dataset named on
    the Results screen: its tables there, when it has runs)."""
    if target.kind == "section":
        app.action_section(target.name)
    elif target.kind == "table":
        app.action_section("results")
        app.call_after_refresh(lambda: app.section("results").action_tab(target.name))
    elif target.kind == "dataset":
        results = app.section("results")
        if app.current_mode == "results" and results is not None and results.show_dataset(
                target.name):
            return   # on Results, a dataset with runs: its tables
        app.action_section("datasets")
        app.call_after_refresh(lambda: app.section("datasets").reload(select=target.name))
    elif target.kind == "run":
        app.action_section("runs")
        app.call_after_refresh(lambda: _show_run(app, target.name))


def _show_run(app: AlignUQApp, run_id: str) -> None:
    """Put the cursor on the run's row in the Runs section (a job or a listed run)."""
    from tui.widgets.frame_table import FrameTable

    screen = app.section("runs")
    for table in screen.query(FrameTable):
        if table.find_row(run_id) or any(job.run_id == run_id and table.find_row(job.id)
                                         for job in getattr(screen, "jobs", {}).values()):
            table.focus()
            return
    app.notify(f"Run {run_id} is not in the Runs list: press a to attach to it.",
               title="Run", timeout=6)
