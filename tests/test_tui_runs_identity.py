# ruff: noqa: F811  (pytest fixtures imported from tests.test_tui_support)
"""Run identity: every run gets a short label unique among its dataset's runs (engine.lab.run_labels),
and the console's lists, the question detail and the result tables' model column show it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.lab.run_labels import run_labels
from tests.test_tui_support import make_test_app, sync, text_of, tui_ws, wait_for  # noqa: F401


def _manifest(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "dataset": "roper", "model": {"name": "SmolLM2-135M"}, "variant": "corrected",
        "few_shot": 0, "protocol": None, "chat_template": False, "dtype": "float32",
        "n_total": 6, "n_questions": 6, "template": "Q: {question}", "spelling_patterns": ["A"]}
    return {**base, **changes}


def test_two_variants_of_one_model_get_two_labels() -> None:
    labels = run_labels({"r-1": _manifest(), "r-2": _manifest(variant="paper")})
    assert labels == {"r-1": "SmolLM2-135M · corrected", "r-2": "SmolLM2-135M · paper"}


def test_a_model_with_one_run_is_its_name_and_a_non_default_variant_is_named() -> None:
    labels = run_labels({"a": _manifest(), "b": _manifest(model={"name": "other"}, variant="paper")})
    assert labels == {"a": "SmolLM2-135M", "b": "other · paper"}


def test_what_differs_is_named_and_what_follows_from_it_is_not() -> None:
    labels = run_labels({"a": _manifest(), "b": _manifest(few_shot=5, template="other"),
                         "c": _manifest(dtype="bfloat16"), "d": _manifest(n_total=3)})
    assert labels == {"a": "SmolLM2-135M · 0-shot · float32 · all",
                      "b": "SmolLM2-135M · 5-shot · float32 · all",
                      "c": "SmolLM2-135M · 0-shot · bfloat16 · all",
                      "d": "SmolLM2-135M · 0-shot · float32 · first 3"}


def test_template_and_spellings_are_named_only_when_nothing_else_differs() -> None:
    labels = run_labels({"a": _manifest(), "b": _manifest(spelling_patterns=["A", " A"])})
    assert labels == {"a": "SmolLM2-135M · spellings A", "b": "SmolLM2-135M · spellings A/ A"}


def test_runs_alike_get_their_hash_and_datasets_do_not_mix() -> None:
    labels = run_labels({"roper-m-1111aaaa": _manifest(), "roper-m-2222bbbb": _manifest(),
                         "coane-m-3333cccc": _manifest(dataset="coane")})
    assert labels == {"roper-m-1111aaaa": "SmolLM2-135M #1111aaaa",
                      "roper-m-2222bbbb": "SmolLM2-135M #2222bbbb",
                      "coane-m-3333cccc": "SmolLM2-135M"}
    assert len(set(labels.values())) == 3


def test_labels_are_unique_per_dataset_for_many_combinations() -> None:
    manifests = {f"r-{i:04d}": _manifest(variant=v, few_shot=k, dtype=d)
                 for i, (v, k, d) in enumerate((v, k, d) for v in ("corrected", "paper")
                                               for k in (0, 1, 5) for d in ("float32", "bfloat16"))}
    labels = run_labels(manifests)
    assert len(set(labels.values())) == len(manifests) == 12


def copy_with_second_variant(tui_ws: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """The console tests' workspace with c-toy-a copied as a second run of the same model
    that differs only in its variant (paper): two runs of one model on coane."""
    root = tmp_path / "ws"
    shutil.copytree(tui_ws, root)
    src = root / "runs" / "c-toy-a"
    dst = root / "runs" / "c-toy-a2"
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.update(run_id="c-toy-a2", variant="paper")
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return root, "c-toy-a", "c-toy-a2"


def test_share_bars_draw_humans_and_models_on_one_scale() -> None:
    from tui.widgets.share_bars import ShareBars, bar_width

    bars = ShareBars()
    bars.show(["yes", "no"], [0.5, 0.5], None, {"m": [0.25, 0.25]}, width=12)
    lines = [ln for ln in text_of(bars).splitlines() if "%" in ln]
    for line in lines:   # 50% of humans and 50% of the model (renormalised): one bar length
        human, model = (part for part in line.split("%")[:2])
        assert human.count("█") == model.count("█") == 6
    assert bar_width(80, 3) == 6 and bar_width(200, 1) == 20   # (80-44)//3-8 = 4 -> 6; capped


def test_result_tables_tell_two_runs_of_one_model_apart(tui_ws: Path, tmp_path: Path) -> None:
    from datasets_io.workspace import Workspace
    from engine.lab import tables

    root, first, second = copy_with_second_variant(tui_ws, tmp_path)
    loaded = tables.load(Workspace(root), "coane")
    models = loaded.frame.groupby("run_id")["model"].first().to_dict()
    assert models == {first: "toy-a · corrected", second: "toy-a · paper", "c-toy-b": "toy-b"}
    table = tables.compute(loaded, "alignment", {}).frame()
    assert {"toy-a · corrected", "toy-a · paper", "toy-b"} <= set(table["model"])


@sync
async def test_attach_list_and_run_list_tell_two_runs_of_one_model_apart(
        tui_ws: Path, tmp_path: Path) -> None:
    root, first, second = copy_with_second_variant(tui_ws, tmp_path)
    app = make_test_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        screen = app.section("runs")
        await wait_for(pilot, lambda: screen.query_one("#ws-runs").row_count == 3, 30,
                       "the workspace's runs listed")
        table = screen.query_one("#ws-runs")
        shown = {str(table.get_row(rid)[0]): rid for rid in (first, second, "c-toy-b")}
        assert shown == {"toy-a · corrected": first, "toy-a · paper": second, "toy-b": "c-toy-b"}
        assert str(table.get_row(second)[-1]) == second          # the full id, uncut
        await pilot.press("a")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AttachDialog", 30, "dialog")
        options = app.screen.query_one("#runs-list")
        lines = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        by_id = {line.split()[-1]: line for line in lines}
        assert by_id[first].startswith("toy-a · corrected ")
        assert by_id[second].startswith("toy-a · paper ")
        assert len({line.split("  ")[0] for line in lines}) == 3    # three different labels


@sync
async def test_run_list_is_live_status_progress_and_rate(tui_ws: Path, tmp_path: Path) -> None:
    """A run started elsewhere appears without a key pressed, with its status, n/N and q/s."""
    from engine.store import ResultRow, ResultStore, write_manifest

    root = tmp_path / "ws"
    shutil.copytree(tui_ws, root)
    app = make_test_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        screen = app.section("runs")
        table = screen.query_one("#ws-runs")
        await wait_for(pilot, lambda: table.row_count == 2, 30, "the two runs")
        run_dir = root / "runs" / "far-1"
        write_manifest(run_dir, {"run_id": "far-1", "dataset": "coane", "variant": "paper",
                                 "model": {"name": "far-model"}, "n_total": 100, "n_done": 0,
                                 "status": "running"})
        store = ResultStore(run_dir / "results" / "main.sqlite", "far-1")   # a live writer
        try:
            store.add([ResultRow(f"q{i}", 0, [1.0, 0.0], 1.0, {}) for i in range(10)])
            await wait_for(pilot, lambda: "far-1" in screen.workspace_runs, 30, "the new run")
            polls = screen.polls
            store.add([ResultRow(f"q{i}", 0, [1.0, 0.0], 1.0, {}) for i in range(10, 40)])
            await wait_for(pilot, lambda: screen.polls > polls
                           and screen.workspace_runs["far-1"]["n_done"] == 40, 30, "progress")
            row = [str(c) for c in table.get_row("far-1")]
            assert row[0] == "far-model · paper" and row[2] == "running"
            assert row[3].endswith("40/100") and float(row[4]) > 0
        finally:
            store.close()
        await wait_for(pilot, lambda: str(table.get_row("far-1")[2]) != "running", 30,
                       "the writer gone")
        assert str(table.get_row("far-1")[4]) == ""          # no rate once it stopped


@sync
async def test_question_detail_names_each_run_and_shows_entropies(tui_ws: Path,
                                                                  tmp_path: Path) -> None:
    import numpy as np

    from engine.store import read_results

    root, first, second = copy_with_second_variant(tui_ws, tmp_path)
    app = make_test_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.section("datasets")
        await wait_for(pilot, lambda: "coane" in screen.summaries, 30, "datasets")
        screen.open_dataset("coane")
        await wait_for(pilot, lambda: screen.frame is not None and screen.current == "coane", 30,
                       "coane")
        qid = str(screen.frame["question_id"].iloc[0])
        screen.open_question(qid)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuestionDialog", 10, "dialog")
        dialog = app.screen
        await wait_for(pilot, lambda: len(dialog.answers) == 3, 30, "the runs' answers")
        note = text_of(dialog.query_one("#runs-note"))
        row = screen.frame.set_index("question_id").loc[qid]
        shares = np.asarray(row["human_share"], dtype=float)
        p = shares[shares > 0] / shares.sum()
        assert f"human entropy {-(p * np.log(p)).sum():.3f} nats" in text_of(
            dialog.query_one("#human-entropy"))
        for label, run_id in (("toy-a · corrected", first), ("toy-a · paper", second)):
            line = next(ln for ln in note.splitlines() if label in ln)
            res = read_results(root / "runs" / run_id)
            hit = res[res["question_id"] == qid].iloc[0]
            q = np.asarray(hit["label_probs"], dtype=float)
            q = q[q > 0] / q.sum()
            assert f"entropy {-(q * np.log(q)).sum():.3f} nats" in line
            assert f"cloze answer {'ABCD'[int(hit['cloze'])]}" in line and run_id in line
        bars = text_of(dialog.query_one("#bars"))
        assert "run 1" in bars and "run 3" in bars
