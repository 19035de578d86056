"""The typed shapes engine.lab hands the front ends (the console's worker messages carry them):
each declared shape is what the real function returns on a real workspace, key for key, so a
field added on one side cannot go unseen on the other."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

from datasets_io.workspace import Workspace
from engine.lab import datasets, models, tables
from engine.lab.runs import RunListing, listing
from engine.runs import RunInfo
from tests.test_tui_support import tui_ws  # noqa: F401


def test_run_listing_is_run_info_with_manifest_and_label(tui_ws: Path) -> None:  # noqa: F811
    declared = set(get_type_hints(RunListing))
    assert declared == {f.name for f in fields(RunInfo)} | {"manifest", "label"}
    runs = listing(Workspace(tui_ws))
    assert {r["run_id"] for r in runs} == {"c-toy-a", "c-toy-b"}
    for run in runs:
        assert set(run) == declared
        assert run["label"] == run["model"]          # the default variant is not named
        assert run["manifest"]["run_id"] == run["run_id"]


def test_runs_to_pick_add_their_coverage(tui_ws: Path) -> None:  # noqa: F811
    picked = tables.runs_to_pick(Workspace(tui_ws))
    assert set(get_type_hints(tables.RunToPick)) == set(get_type_hints(RunListing)) | {"coverage"}
    for run in picked:
        assert set(run) == set(get_type_hints(tables.RunToPick))
        assert run["coverage"].run_id == run["run_id"]
        assert (run["coverage"].n_done, run["coverage"].stale) == (421, False)


def test_dataset_facts_name_every_key_describe_gives(tui_ws: Path) -> None:  # noqa: F811
    ws = Workspace(tui_ws)
    declared = set(get_type_hints(datasets.DatasetFacts))
    facts = datasets.summaries(ws)
    assert {f["name"] for f in facts} == {"roper", "coane"}
    for fact in facts:
        assert set(fact) == declared - {"error"}     # only a folder that cannot be read has one
    frame, browsed = datasets.questions_for_browsing(ws, "coane")
    assert browsed["n_questions"] == len(frame) == 421


def test_models_found_in_a_child_are_the_models_found_here(smollm_dir: Path,
                                                           tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    here = models.discover(ws, [smollm_dir.parent])
    assert any(m.path == str(smollm_dir) for m in here)
    child = asyncio.run(models.discover_in_child(ws.root, (str(smollm_dir.parent),)))
    assert child == here
    assert all(models.ModelRef.from_dict({**m.to_dict(), "from_a_newer_engine": 1}) == m
               for m in here)
