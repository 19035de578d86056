"""DESIGN.md's import rules, checked in fresh interpreters (sys.modules is the evidence)."""

from __future__ import annotations

import json
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

TORCH_FREE = "tui,datasets_io,engine.protocol,engine.client,engine.store,engine.measure_names,engine.analysis"


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


def test_engine_and_importers_never_import_textual() -> None:
    result = _probe("datasets_io,engine")
    assert "engine.store" in result["imported"]
    ui = [m for m in result["modules"] if m.split(".")[0] in {"textual", "textual_plotext", "plotext"}]
    assert ui == [], f"engine/datasets_io pulled in: {ui[:5]}"
