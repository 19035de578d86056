"""DESIGN.md's import rules, checked in fresh interpreters (sys.modules is the evidence)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

PROBE = r"""
import importlib, json, pkgutil, sys
roots, exclude = sys.argv[1].split(","), sys.argv[2].split(",") if sys.argv[2] else []
names = []
for root in roots:
    pkg = importlib.import_module(root)
    names.append(root)
    if hasattr(pkg, "__path__"):
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, root + ".")]
names = [n for n in names if not any(n == e or n.startswith(e + ".") for e in exclude)]
for n in names:
    importlib.import_module(n)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""

TORCH_FREE = ("tui,datasets_io,engine.protocol,engine.client,engine.store,engine.measure_names,"
              "engine.analysis,engine.events,engine.plan,engine.runs,engine.slurm,engine.slurm_task,"
              "engine.lab,engine.free_recall,engine.free_recall_names,engine.three_choice")
PLANNING = "engine.plan,engine.runs,engine.slurm"  # the login node's side of runs


def _probe(roots: str, exclude: str = "") -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, roots, exclude], capture_output=True,
                          text=True, check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _existing(roots: str) -> str:
    import importlib.util
    return ",".join(r for r in roots.split(",") if importlib.util.find_spec(r) is not None)


def test_front_end_and_importers_never_import_torch() -> None:
    result = _probe(_existing(TORCH_FREE))
    assert "tui.cli.main" in result["imported"]
    heavy = [m for m in result["modules"] if m.split(".")[0] in {"torch", "transformers", "accelerate"}]
    assert heavy == [], f"torch-free modules pulled in: {heavy[:5]}"


def test_planning_and_following_runs_never_import_the_runner() -> None:
    """Slurm submission, run states and listing plan runs with engine.plan, never the runner
    (whose batches, measures and model loading are the torch side)."""
    result = _probe(PLANNING)
    assert "engine.slurm" in result["imported"]
    heavy = [m for m in result["modules"] if m.split(".")[0] in {"torch", "transformers"}
             or m in ("engine.runner", "engine.measures", "engine.models.load")]
    assert heavy == [], f"run planning pulled in: {heavy[:5]}"


def test_engine_and_importers_never_import_textual() -> None:
    result = _probe("datasets_io,engine")
    assert "engine.store" in result["imported"]
    ui = [m for m in result["modules"] if m.split(".")[0] in {"textual", "textual_plotext", "plotext"}]
    assert ui == [], f"engine/datasets_io pulled in: {ui[:5]}"


def test_start_up_never_imports_matplotlib() -> None:
    """The CLI, the console and the lab (figure kinds included) start without matplotlib: it is
    imported when a figure is drawn (engine.figures)."""
    result = _probe("tui.cli.main,tui.app,engine.lab")
    assert "engine.lab.figures" in result["imported"]
    drawing = [m for m in result["modules"] if m.split(".")[0] == "matplotlib"
               or m.startswith("engine.figures")]
    assert drawing == [], f"start-up pulled in: {drawing[:5]}"


# What the front ends (tui/: the console and the CLI) may import from the packages below them:
# the lab, the engine's client and protocol, the run spec, the run events and the error type.
FRONT_END_MAY_IMPORT = ("engine.lab", "engine.client", "engine.protocol", "engine.run_spec",
                        "engine.events", "common.errors")
LOWER_PACKAGES = ("engine", "datasets_io", "common")


def _imported_names(path) -> set[str]:
    """Every module a file names in an import statement, at its top or inside a function."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            package_only = node.module in LOWER_PACKAGES  # `from engine import runs`
            names.update(f"{node.module}.{a.name}" for a in node.names) if package_only \
                else names.add(node.module)
    return names


def test_the_front_ends_reach_the_engine_only_through_the_lab() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    wrong = sorted(f"{path.relative_to(root)} imports {name}"
                   for path in (root / "tui").rglob("*.py") for name in _imported_names(path)
                   if name.split(".")[0] in LOWER_PACKAGES
                   and not any(name == ok or name.startswith(ok + ".") for ok in FRONT_END_MAY_IMPORT))
    assert wrong == []


def test_no_engine_module_names_a_front_end_module() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    named = sorted(str(path.relative_to(root)) for package in ("engine", "datasets_io", "common")
                   for path in (root / package).rglob("*.py")
                   if re.search(r"\btui\b", path.read_text(encoding="utf-8")))
    assert named == []
