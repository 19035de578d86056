"""`alignuq figure KIND`: every kind draws its file from the table the CLI prints (checked in the
SVG's structure: cells, points, bars, annotations), with a provenance sidecar that names the
figure, its table's settings, the runs and the command; bad input is one line and exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from engine.lab.figures import FIGURES
from tests.test_front_ends_agree import toy_activations
from tests.test_tui_support import cli_main, tui_ws  # noqa: F401

SVG = "{http://www.w3.org/2000/svg}"
MODELS = ("toy-a", "toy-b")


@pytest.fixture(scope="module")
def ws(tui_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The console tests' workspace with seeded activations (3 layers) for the probe."""
    root = tmp_path_factory.mktemp("figures") / "ws"
    shutil.copytree(tui_ws, root)
    for run in ("c-toy-a", "c-toy-b"):
        toy_activations(root, run)
    return root


@pytest.fixture(scope="module")
def drawn(ws: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind drawn once as SVG with its defaults."""
    out = tmp_path_factory.mktemp("drawn")
    files = {}
    for kind in FIGURES:
        files[kind] = out / f"{kind}.svg"
        assert cli_main("figure", kind, "-d", "coane", "--out", files[kind], "-w", ws) == 0
    return files


def table(ws: Path, name: str, **settings: Any) -> Any:
    from datasets_io.workspace import Workspace
    from engine.lab import tables

    return tables.compute(tables.load(Workspace(ws), "coane"), name, settings)


def groups(path: Path, prefix: str) -> dict[str, ET.Element]:
    """The SVG's groups whose id (an artist's gid) starts with ``prefix``."""
    return {g.get("id"): g for g in ET.parse(path).getroot().iter(f"{SVG}g")
            if g.get("id", "").startswith(prefix)}


def texts(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def sidecar(path: Path) -> dict[str, Any]:
    return json.loads(Path(str(path) + ".provenance.json").read_text())


@pytest.mark.parametrize("kind", list(FIGURES))
def test_every_kind_writes_its_figure_and_the_provenance_of_its_table(
        kind: str, ws: Path, drawn: dict[str, Path]) -> None:
    path = drawn[kind]
    ET.parse(path)                                            # a well-formed SVG
    meta = sidecar(path)
    source = table(ws, FIGURES[kind].analysis)
    expected = source.provenance(argv=[])
    assert meta["figure"]["kind"] == kind
    assert meta["figure"]["drawn_from"] == source.label(FIGURES[kind].extra)
    assert meta["figure"]["width"] == "single"
    assert meta["settings"] == expected["settings"]
    assert [r["run_id"] for r in meta["runs"]] == ["c-toy-a", "c-toy-b"]
    assert meta["command"][:5] == ["alignuq", "figure", kind, "--dataset", "coane"]
    assert meta["format"] == "svg" and meta["file"] == path.name
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]   # no temporary left


def heatmap_values(path: Path) -> tuple[set[str], list[str]]:
    cells = set(groups(path, "cell-"))
    values = [texts(g)[0] for _, g in sorted(groups(path, "value-").items(),
                                             key=lambda item: _index(item[0]))]
    return cells, values


def _index(gid: str) -> tuple[int, int]:
    _, i, j = gid.split("-")
    return int(i), int(j)


@pytest.mark.parametrize(("kind", "analysis", "columns", "value"), [
    ("alignment-heatmap", "alignment", "measure", "r"),
    ("ece-heatmap", "ece", "measure", "ece"),
])
def test_a_heatmap_has_a_cell_per_model_and_measure_annotated_with_the_table(
        kind: str, analysis: str, columns: str, value: str, ws: Path,
        drawn: dict[str, Path]) -> None:
    frame = table(ws, analysis).frame()
    measures = list(dict.fromkeys(frame[columns]))
    cells, values = heatmap_values(drawn[kind])
    assert len(cells) == len(MODELS) * len(measures)
    assert values == [f"{frame[(frame.model == m) & (frame[columns] == c)][value].iloc[0]:.2f}"
                      for m in MODELS for c in measures]


def test_the_calibration_heatmap_is_models_by_subjects_of_one_measure(
        ws: Path, drawn: dict[str, Path]) -> None:
    frame = table(ws, "calibration").frame()
    used = frame[frame.measure == "choice_entropy"]
    cells, values = heatmap_values(drawn["calibration-heatmap"])
    assert len(cells) == len(MODELS) * used.subject.nunique()
    assert values == [f"{rho:.2f}" for rho in used.spearman_rho]
    assert sidecar(drawn["calibration-heatmap"])["figure"]["measure"] == "choice_entropy"


def test_the_reliability_diagram_has_a_point_and_a_bar_per_non_empty_bin(
        ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "rel.svg"
    assert cli_main("figure", "reliability", "-d", "coane", "--out", out, "--model", "toy-b",
                    "--measure", "choice_entropy", "--bins", "7", "-w", ws) == 0
    bins = table(ws, "ece", bins=7).frame("bins")
    filled = bins[(bins.model == "toy-b") & (bins.measure == "choice_entropy") & (bins["count"] > 0)]
    points = groups(out, "reliability-points")["reliability-points"]
    assert len(list(points.iter(f"{SVG}use"))) == len(filled)
    assert len(groups(out, "bin-count-")) == len(filled)
    meta = sidecar(out)
    assert meta["settings"]["bins"] == 7
    assert (meta["figure"]["model"], meta["figure"]["measure"]) == ("toy-b", "choice_entropy")


def test_the_reliability_diagram_defaults_to_the_conventional_choice_top1(
        drawn: dict[str, Path]) -> None:
    figure = sidecar(drawn["reliability"])["figure"]
    assert (figure["model"], figure["measure"]) == ("toy-a", "conventional:choice_top1")


def test_the_permutation_histogram_marks_the_observed_shift(ws: Path,
                                                            drawn: dict[str, Path]) -> None:
    row = table(ws, "jsd").frame().query("model == 'toy-a' and measure == 'choice_entropy'")
    path = drawn["permutation"]
    assert "observed-shift" in groups(path, "observed-shift")
    legend = [t for g in ET.parse(path).getroot().iter(f"{SVG}g") for t in texts(g)]
    assert any(f"observed {row['shift'].iloc[0]:.3f}" in t for t in legend)


def test_the_probe_figure_has_a_line_and_a_chance_line_per_model(
        ws: Path, drawn: dict[str, Path]) -> None:
    frame = table(ws, "probe").frame()
    path = drawn["probe-layers"]
    for model in MODELS:
        line = groups(path, f"probe-{model}")[f"probe-{model}"]
        assert len(list(line.iter(f"{SVG}use"))) == (frame.model == model).sum() == 3
        assert f"chance-{model}" in groups(path, f"chance-{model}")


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".png", b"\x89PNG")])
def test_pdf_and_png_and_the_umask(suffix: str, magic: bytes, ws: Path, tmp_path: Path) -> None:
    out = tmp_path / f"heat{suffix}"
    old = os.umask(0o027)
    try:
        assert cli_main("figure", "ece-heatmap", "-d", "coane", "--out", out, "--width",
                        "double", "-w", ws) == 0
    finally:
        os.umask(old)
    assert out.read_bytes().startswith(magic)
    for path in (out, Path(str(out) + ".provenance.json")):
        assert path.stat().st_mode & 0o777 == 0o640
    assert sidecar(out)["figure"]["width"] == "double"


@pytest.mark.parametrize(("args", "says"), [
    (["figure", "nope"], "No such command"),
    (["figure", "reliability", "--out", "x.jpg"], "end the file name with .pdf"),
    (["figure", "reliability", "--model", "nobody"], "use --model with one of toy-a, toy-b"),
    (["figure", "permutation", "--measure", "nothing"], "use --measure with one of"),
    (["figure", "reliability", "--bins", "0"], "--bins must be at least 1"),
    (["figure", "alignment-heatmap", "-d", "roper"], "no runs of dataset 'roper'"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str, ws: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    given = args + ([] if "-d" in args else ["-d", "coane"]) \
        + ([] if "--out" in args else ["--out", tmp_path / "f.svg"])
    assert cli_main(*given, "-w", ws) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_a_probe_figure_without_activations_says_how_to_get_them(
        tui_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert cli_main("figure", "probe-layers", "-d", "coane", "--out", tmp_path / "p.svg",
                    "-w", tui_ws) == 2
    err = capsys.readouterr().err.strip()
    assert "no rows" in err and "--capture-activations" in err and len(err.splitlines()) == 1


def test_pgf_is_written_where_latex_is_installed_and_refused_in_one_line_otherwise(
        ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "heat.pgf"
    code = cli_main("figure", "ece-heatmap", "-d", "coane", "--out", out, "-w", ws)
    if shutil.which("xelatex"):
        assert code == 0 and "pgfpicture" in out.read_text()
    else:
        assert code == 2 and "needs xelatex" in capsys.readouterr().err
        assert not out.exists()


def test_f_in_the_results_screen_writes_the_tabs_figure_into_exports(
        tui_ws: Path, tmp_path: Path) -> None:  # noqa: F811
    from engine.lab.analyses import ANALYSES
    from tests.test_tui_support import make_test_app, sync, wait_for

    root = tmp_path / "ws"
    shutil.copytree(tui_ws, root)
    app = make_test_app(root)

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            await wait_for(pilot, lambda: app.section("results") is not None
                           and len(app.section("results").results) == len(ANALYSES), 120,
                           "every table")
            await pilot.press("5")          # the ECE tab: its reliability diagram and heatmap
            await pilot.pause(0.3)
            await pilot.press("f")
            await wait_for(pilot, lambda: app.last_export, 60, "the figure")

    sync(drive)()
    written = list(map(Path, app.last_export))
    assert len(written) == 4                     # two figures, each with its sidecar
    kinds = []
    for path, side in zip(written[::2], written[1::2], strict=True):
        assert path.parent == root / "exports" and path.suffix == ".pdf"
        assert path.read_bytes().startswith(b"%PDF")
        meta = json.loads(side.read_text())
        assert meta["command"] == ["alignuq", "tui"] and meta["settings"]["analysis"] == "ece"
        kinds.append(meta["figure"]["kind"])
    assert kinds == ["reliability", "ece-heatmap"]
