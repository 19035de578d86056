"""`alignuq analyze ...` end to end on real data: the Coane & Umanath trivia questions (human shares
and correct answers) and a sample of MMLU (subjects), each with two imported runs of seeded TEST
results (see tests/test_runs_import.py). Checks the documented columns in every format, the
provenance sidecars, the variants, the numbers against independent scipy computations, and the
clear refusals."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from tests.test_runs_import import make_results

PAPER = ["alignment", "agreement", "kendall", "calibration", "ece", "jsd"]   # one model each
SUCCESSOR = ["rms-ce", "ece-sweep", "agreement-successor"]   # tests/test_successor_calibration.py
BEYOND = ["accuracy", "brier", "auroc", "risk-coverage", "ece-adaptive", "recalibrate"]
# BEYOND: run diagnostics and calibration metrics beyond the papers (tests/test_paper_metrics.py)
ANALYSES = [*PAPER, "heatmap", *SUCCESSOR, *BEYOND]
# pairs: base against instruct models (tests/test_pairs.py); probe: activations (tests/test_probe.py)
FREE_RECALL = ["fr-heatmap", "fr-rms-ce", "fr-ece-sweep", "fr-agreement"]
# FREE_RECALL: runs of task generate (tests/test_free_recall_tables.py)
REGISTRY = [*PAPER, "pairs", "heatmap", *SUCCESSOR, *BEYOND, *FREE_RECALL, "probe"]
FORMATS = ["human", "csv", "json", "markdown", "latex"]
COLUMNS = {
    "alignment": "model, measure, scale, target, n, r, p, ci_low, ci_high, spearman_rho, spearman_p, partial_r",
    "agreement": "model, n, agreement, chance, z, p_z, p_exact",
    "kendall": "model, n, mean, std, tied_pairs",
    "calibration": "model, measure, subject, n, spearman_rho, p",
    "ece": "model, measure, method, bins, n, ece",
    "jsd": "model, measure, n_uncertain, n_certain, shift, p, permutations, seed",
    "heatmap": "model, measure, target, n, rho, p, threshold, cell",
    "rms-ce": "model, measure, bins, n, accuracy, rms_ce",
    "ece-sweep": "model, measure, bins, n, accuracy, ece_sweep",
    "agreement-successor": "model, n_fact_mc, fact_mc, fact_mc_mean, n_human, human, human_mean",
    "accuracy": "model, n, accuracy, ci_low, ci_high, top_letter, top_letter_share, chi2, df, "
                "p_letters, mass_mean, mass_median, mass_below_half",
    "brier": "model, n, brier, brier_top, bins, reliability, resolution, uncertainty, within_bins",
    "auroc": "model, measure, n, n_errors, error_rate, auroc, auprc",
    "risk-coverage": "model, measure, n, risk, aurc, acc_at_50, acc_at_80, acc_at_90",
    "ece-adaptive": "model, measure, bins, n, ece_adaptive, mce_adaptive, ece_width, mce_width",
    "recalibrate": "model, method, n_fit, n_eval, temperature, fitted, ece_before, ece_after, "
                   "brier_before, brier_after",
}
FAST = ["--permutations", "200"]


def _main(*args: object) -> int:
    from tui.cli.main import main
    try:
        main([str(a) for a in args])
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("analyze") / "ws"
    tmp = root.parent
    coane = data_dir / "coane2021_trivia_mc.csv"
    assert _main("import", "table", coane, "--name", "coane", "-w", root) == 0
    no_answers = tmp / "coane_no_answers.csv"
    pd.read_csv(coane).drop(columns=["correct"]).to_csv(no_answers, index=False)
    assert _main("import", "table", no_answers, "--name", "shares-only", "-w", root) == 0
    assert _main("import", "mmlu", data_dir / "mmlu" / "test", "--name", "mmlu", "--sample", "400",
                 "-w", root) == 0
    for ds, prefix in (("coane", "c"), ("mmlu", "m")):
        for i, (name, noise) in enumerate((("toy-a", 0.5), ("toy-b", 1.5))):
            path = tmp / f"{ds}-{name}.csv"
            make_results(root, ds, seed=10 + i, noise=noise).to_csv(path, index=False)
            assert _main("runs", "import", path, "--dataset", ds, "--model-name", name,
                         "--run-id", f"{prefix}-{name}", "--vocab-size", "49152", "-w", root) == 0
    return root


def _read(fmt: str, text: str) -> pd.DataFrame | None:
    if fmt == "csv":
        return pd.read_csv(io.StringIO(text))
    if fmt == "json":
        return pd.DataFrame(json.loads(text))
    return None


@pytest.mark.parametrize("analysis", ANALYSES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_analysis_in_every_format(cli, ws: Path, analysis: str, fmt: str) -> None:
    res = cli("analyze", analysis, "--dataset", "coane", "--format", fmt, "-w", ws, *FAST)
    assert res.code == 0, res.err
    cols = COLUMNS[analysis].split(", ")
    lines = res.out.strip().splitlines()
    frame = _read(fmt, res.out)
    if frame is not None:
        assert list(frame.columns) == cols
        assert set(frame["model"]) == {"toy-a", "toy-b"}
        n_rows = len(frame)
    elif fmt == "markdown":
        assert lines[0] == "| " + " | ".join(cols) + " |"
        assert set(lines[1]) <= set("|:-")
        assert all(line.startswith("| toy-") for line in lines[2:])
        n_rows = len(lines) - 2
    elif fmt == "latex":
        assert lines[0].startswith(r"\begin{tabular}{") and lines[1] == r"\toprule"
        assert lines[2] == " & ".join(c.replace("_", r"\_") for c in cols) + r" \\"
        assert lines[3] == r"\midrule" and lines[-2:] == [r"\bottomrule", r"\end{tabular}"]
        n_rows = len(lines) - 6
    else:
        assert lines[0].startswith(analysis) and lines[2].split() == cols
        n_rows = len(lines) - 4
    per_model = {"alignment": 8, "agreement": 1, "kendall": 1, "calibration": 8, "ece": 6, "jsd": 5,
                 "heatmap": 8,
                 "rms-ce": 7, "ece-sweep": 7, "agreement-successor": 1,   # no choice_margin
                 "accuracy": 1, "brier": 1, "auroc": 8, "risk-coverage": 8, "ece-adaptive": 1,
                 "recalibrate": 3}
    assert n_rows == 2 * per_model[analysis]


def test_alignment_numbers_match_an_independent_computation(cli, ws: Path) -> None:
    res = cli("analyze", "alignment", "-d", "coane", "--runs", "c-toy-a", "--measures",
              "choice_entropy,topk_entropy@5", "--format", "csv", "-w", ws)
    table = pd.read_csv(io.StringIO(res.out)).set_index("measure")
    questions = pd.read_parquet(ws / "datasets" / "coane" / "questions.parquet")
    human = questions.set_index("question_id")["human_share"].map(lambda h: stats.entropy(h))
    results = pd.read_csv(ws.parent / "coane-toy-a.csv").set_index("question_id")
    for m in ("choice_entropy", "topk_entropy@5"):
        x = results[m].loc[human.index]
        ref = stats.pearsonr(human, x)
        ci = ref.confidence_interval()
        row = table.loc[m]
        assert row["n"] == 421
        assert row["r"] == pytest.approx(ref.statistic, abs=1e-12)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-6)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
        assert row["spearman_rho"] == pytest.approx(stats.spearmanr(human, x).statistic, abs=1e-12)
        assert row["partial_r"] == pytest.approx(row["r"], abs=1e-9)   # every question has 4 options


def test_out_files_get_a_provenance_sidecar(cli, ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "jsd.tex"
    null = tmp_path / "null.csv"
    res = cli("analyze", "jsd", "-d", "coane", "--seed", "7", "--permutations", "300",
              "--variant", "paper", "--out", out, "--null-out", null, "-w", ws)
    assert res.code == 0, res.err
    assert out.read_text().startswith(r"\begin{tabular}")          # format from the suffix
    side = json.loads(Path(str(out) + ".provenance.json").read_text())
    report = ws / "datasets" / "coane" / "import_report.json"
    assert side["dataset"]["import_report_sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    assert [r["run_id"] for r in side["runs"]] == ["c-toy-a", "c-toy-b"]
    assert side["runs"][0]["manifest"]["source"] == "import"
    s = side["settings"]
    assert (s["variant"], s["seed"], s["permutations"], s["scale"]) == ("paper", 7, 300, "raw")
    assert side["format"] == "latex" and side["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert "analyze" in side["command"] and {"numpy", "scipy", "pandas"} <= set(side["versions"])
    nulls = pd.read_csv(null)
    assert list(nulls.columns) == ["model", "measure", "permutation", "null"]
    assert len(nulls) == 2 * 5 * 300
    assert Path(str(null) + ".provenance.json").is_file()


def test_ece_bins_out(cli, ws: Path, tmp_path: Path) -> None:
    bins = tmp_path / "bins.csv"
    res = cli("analyze", "ece", "-d", "coane", "--bins", "5", "--format", "csv", "--bins-out",
              bins, "-w", ws)
    assert res.code == 0, res.err
    table = pd.read_csv(io.StringIO(res.out))
    assert set(table["method"]) == {"standardized", "conventional"}
    assert (table["bins"] == 5).all()
    b = pd.read_csv(bins)
    assert list(b.columns) == ["model", "measure", "bin", "lo", "hi", "count", "conf", "acc",
                               "acc_low", "acc_high"]
    assert len(b) == len(table) * 5
    for (model, measure), g in b.groupby(["model", "measure"]):
        assert g["count"].sum() == 421
        filled = g[g["count"] > 0]
        ece = (filled["count"] / 421 * (filled["conf"] - filled["acc"]).abs()).sum()
        method = "conventional" if measure.startswith("conventional:") else "standardized"
        name = measure.split(":")[-1]
        row = table[(table.model == model) & (table.measure == name) & (table.method == method)]
        assert row["ece"].iloc[0] == pytest.approx(ece)


def test_strata_variants_and_adjustment(cli, ws: Path) -> None:
    res = cli("analyze", "alignment", "-d", "coane", "--strata", "-f", "csv", "-w", ws)
    strata = pd.read_csv(io.StringIO(res.out))
    assert list(strata.columns) == ["model", "measure", "scale", "target", "n_choices", "n", "r", "p",
                                    "ci_low", "ci_high"]
    assert set(strata["n_choices"]) == {4} and (strata["n"] == 421).all()
    corr = pd.read_csv(io.StringIO(cli("analyze", "agreement", "-d", "coane", "-f", "csv",
                                       "-w", ws).out))
    paper = pd.read_csv(io.StringIO(cli("analyze", "agreement", "-d", "coane", "-f", "csv",
                                        "--variant", "paper", "-w", ws).out))
    assert (paper["chance"] == 0.25).all()            # 1 / mean n
    assert (corr["chance"] > 0.25).all()              # tied top answers raise the chance
    # Kendall has no variant: identical output
    k1 = cli("analyze", "kendall", "-d", "coane", "-f", "csv", "-w", ws)
    k2 = cli("analyze", "kendall", "-d", "coane", "-f", "csv", "--variant", "paper", "-w", ws)
    assert k1.out == k2.out and "does not change" in k2.err
    adj = pd.read_csv(io.StringIO(cli("analyze", "calibration", "-d", "coane", "-f", "csv",
                                      "--adjust", "holm", "-w", ws).out))
    assert list(adj.columns)[-1] == "p_adj" and (adj["p_adj"] >= adj["p"]).all()


def test_calibration_per_subject_on_mmlu(cli, ws: Path) -> None:
    res = cli("analyze", "calibration", "-d", "mmlu", "--measures", "choice_entropy", "-f", "csv",
              "--min-subject-n", "1", "-w", ws)
    assert res.code == 0, res.err
    full = pd.read_csv(io.StringIO(res.out))
    for _, g in full.groupby("model"):
        assert g["subject"].iloc[0] == "ALL" and g["n"].iloc[0] == 400
        assert g["n"].iloc[1:].sum() == 400 and len(g) > 10
    assert "left out" not in res.err
    for args, least in (((), 20), (("--min-subject-n", "10"), 10)):
        res = cli("analyze", "calibration", "-d", "mmlu", "--measures", "choice_entropy", "-f",
                  "csv", *args, "-w", ws)
        t = pd.read_csv(io.StringIO(res.out))
        assert (t["subject"] == "ALL").sum() == full["subject"].eq("ALL").sum()
        kept = full[(full["subject"] == "ALL") | (full["n"] >= least)]
        assert len(t) == len(kept) < len(full)
        np.testing.assert_array_equal(t["spearman_rho"].to_numpy(), kept["spearman_rho"].to_numpy())
        toy_a = full[(full["model"] == "toy-a") & (full["subject"] != "ALL")]
        n_left = int((toy_a["n"] < least).sum())
        assert 0 < n_left < len(toy_a)
        assert (f"note: toy-a: {n_left} of {len(toy_a)} subjects have fewer than {least} questions "
                "and are left out (--min-subject-n sets the threshold)") in res.err


@pytest.mark.parametrize("args,needle", [
    (("alignment", "-d", "mmlu"), "has no human data (shares or human variables); alignment "
                                   "needs human shares or a human variable"),
    (("alignment", "-d", "coane", "--target", "rt"), "dataset 'coane' has no human variable "
                                                     "'rt'; pass --target with one of: "
                                                     "human_entropy"),
    (("kendall", "-d", "mmlu"), "has no human response shares"),
    (("calibration", "-d", "shares-only"), "has no correct answers; calibration needs"),
    (("jsd", "-d", "shares-only"), "has no correct answers"),
    (("alignment", "-d", "coane", "--runs", "m-toy-a"), "belongs to dataset 'mmlu', not 'coane'"),
    (("alignment", "-d", "coane", "--measures", "nope"), "measure(s) nope not in these runs"),
    (("agreement", "-d", "shares-only"), "no runs of dataset 'shares-only'"),
    (("ece", "-d", "coane", "--bins", "0"), "--bins must be at least 1 (got 0)"),
    (("jsd", "-d", "coane", "--permutations", "0"), "--permutations must be at least 1 (got 0)"),
    (("kendall", "-d", "coane", "--out", "table.xlsx"),
     "cannot tell the table format from the name 'table.xlsx'"),
    (("ece", "-d", "coane", "--bins-out", "bins.xlsx"),
     "cannot tell the table format from the name 'bins.xlsx'"),
    (("kendall", "-d", "coane", "--runs", "c-toy"), "run 'c-toy' is ambiguous"),
    (("kendall", "-d", "coane", "--runs", "zzz"), "no run 'zzz'"),
])
def test_clear_refusals(cli, ws: Path, args: tuple, needle: str) -> None:
    res = cli("analyze", *args, "-w", ws)
    assert res.code == 2
    assert needle in res.err and len(res.err.strip().splitlines()) == 1
    assert "Traceback" not in res.err


@pytest.mark.parametrize(("fmt", "name", "says"), [("csv", "kendall.json", "json"),
                                                    ("markdown", "kendall.tex", "latex"),
                                                    ("json", "kendall.csv", "csv")])
def test_a_format_the_out_name_contradicts_is_refused(cli, ws: Path, tmp_path: Path, fmt: str,
                                                     name: str, says: str) -> None:
    res = cli("analyze", "kendall", "-d", "coane", "--format", fmt, "--out", tmp_path / name,
              "-w", ws)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1
    assert f"--format {fmt} but the name {name!r} says {says}" in res.err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_option_the_table_does_not_use_is_ignored_with_a_note(cli, ws: Path,
                                                                  tmp_path: Path) -> None:
    res = cli("analyze", "kendall", "-d", "coane", "--bins", "0", "-f", "csv", "-w", ws)
    assert res.code == 0 and "note: --bins does not change the kendall table; ignored" in res.err
    out = tmp_path / "kendall"  # no suffix: the human table
    assert cli("analyze", "kendall", "-d", "coane", "--out", out, "-w", ws).code == 0
    assert out.read_text().splitlines()[0].split()[:2] == ["model", "n"]


def test_undefined_correlations_are_empty_cells_with_a_note(cli, tmp_path: Path,
                                                             data_dir: Path) -> None:
    root = tmp_path / "ws"
    two = tmp_path / "two.csv"  # three questions whose human shares are all the same
    same = pd.read_csv(data_dir / "coane2021_trivia_mc.csv").head(3)
    for col in ("share_1", "share_2", "share_3", "share_4"):
        same[col] = same[col].iloc[0]
    same.to_csv(two, index=False)
    assert _main("import", "table", two, "--name", "two", "-w", root) == 0
    results = tmp_path / "two-toy.csv"
    make_results(root, "two", seed=1, noise=0.5).to_csv(results, index=False)
    assert _main("runs", "import", results, "--dataset", "two", "--model-name", "toy",
                 "--vocab-size", "49152", "-w", root) == 0
    res = cli("analyze", "alignment", "-d", "two", "--measures", "total_entropy,choice_entropy",
              "-f", "csv", "-w", root)
    assert res.code == 0, res.err
    table = pd.read_csv(io.StringIO(res.out))
    assert (table["n"] == 3).all() and table["r"].isna().all() and table["p"].isna().all()
    assert "note: toy: r is undefined (its cells are empty) for 2 measure(s), e.g. " \
           "total_entropy: fewer than 2 questions, or values (or the targets, human_entropy) that do not " \
           "vary" in res.err


def test_runs_selects_the_runs(cli, ws: Path) -> None:
    one = cli("analyze", "kendall", "-d", "coane", "--runs", "c-toy-b", "-f", "csv", "-w", ws)
    assert one.code == 0 and list(pd.read_csv(io.StringIO(one.out))["model"]) == ["toy-b"]
    both = cli("analyze", "kendall", "-d", "coane", "--runs", "c-toy-b,c-toy-a", "-f", "csv", "-w", ws)
    assert list(pd.read_csv(io.StringIO(both.out))["model"]) == ["toy-b", "toy-a"]


def test_jsd_is_reproducible_with_the_seed(cli, ws: Path) -> None:
    a = cli("analyze", "jsd", "-d", "coane", "-f", "csv", "--seed", "3", *FAST, "-w", ws).out
    b = cli("analyze", "jsd", "-d", "coane", "-f", "csv", "--seed", "3", *FAST, "-w", ws).out
    c = cli("analyze", "jsd", "-d", "coane", "-f", "csv", "--seed", "4", *FAST, "-w", ws).out
    assert a == b and a != c
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(a))["shift"],
                                  pd.read_csv(io.StringIO(c))["shift"])   # no z == 0 ties here


@pytest.mark.parametrize("analysis", ["alignment", "kendall", "calibration", "ece"])
def test_the_paper_variant_changes_nothing_else(cli, ws: Path, analysis: str) -> None:
    a = cli("analyze", analysis, "-d", "coane", "-f", "csv", "-w", ws)
    b = cli("analyze", analysis, "-d", "coane", "-f", "csv", "--variant", "paper", "-w", ws)
    assert a.code == b.code == 0 and a.out == b.out


def test_scales_on_the_cli(cli, ws: Path) -> None:
    out = {}
    for scale in ("raw", "normalized", "paper"):
        res = cli("analyze", "alignment", "-d", "coane", "--scale", scale, "-f", "csv", "-w", ws)
        assert res.code == 0, res.err
        out[scale] = pd.read_csv(io.StringIO(res.out)).set_index(["model", "measure"])
        assert (out[scale]["scale"] == scale).all()
    # every question has 4 options: normalising by a constant keeps r ...
    for m in ("choice_entropy", "topk_entropy@5", "total_entropy"):
        assert out["normalized"].loc[("toy-a", m), "r"] == pytest.approx(out["raw"].loc[("toy-a", m), "r"])
    # ... but top-p entropy is divided by log of each question's own set size
    assert out["normalized"].loc[("toy-a", "topp_entropy@0.9"), "r"] != pytest.approx(
        out["raw"].loc[("toy-a", "topp_entropy@0.9"), "r"])
    assert out["paper"]["r"].to_numpy() == pytest.approx(out["normalized"]["r"].to_numpy())


def _tool_tables(ws: Path) -> dict[str, pd.DataFrame]:
    """The tables as the tool computes them in-process: what every file must hold, bit for bit."""
    from datasets_io.workspace import Workspace
    from engine.analysis.alignment import alignment_table
    from engine.analysis.ece import ece_table
    from engine.lab.tables import load

    analysis = load(Workspace(ws), "coane")
    ece = ece_table(analysis, None, "raw", 10, "empirical")
    return {"alignment": alignment_table(analysis, None, "raw", "none").table,
            "ece": ece.table, "bins": ece.extra["bins"]}


def _bits(value: object) -> bytes:
    """A float as its 8 bytes (a missing one, written as an empty cell or null, as NaN's)."""
    import struct

    number = float("nan") if value in ("", None) else float(value)
    return struct.pack("<d", float("nan") if number != number else number)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_machine_readable_output_keeps_every_bit(cli, ws: Path, tmp_path: Path, fmt: str) -> None:
    import csv

    expected = _tool_tables(ws)
    ece, bins = tmp_path / f"ece.{fmt}", tmp_path / f"bins.{fmt}"
    assert cli("analyze", "ece", "-d", "coane", "--out", ece, "--bins-out", bins, "-w", ws).code == 0
    res = cli("analyze", "alignment", "-d", "coane", "--format", fmt, "-w", ws)
    texts = {"alignment": res.out, "ece": ece.read_text(), "bins": bins.read_text()}
    n_long = 0
    for name, text in texts.items():
        rows = list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text)
        want = expected[name]
        assert len(rows) == len(want) > 0
        for col in want.columns:
            if not pd.api.types.is_float_dtype(want[col]):
                continue
            for row, value in zip(rows, want[col], strict=True):
                assert _bits(row[col]) == _bits(value), (name, col, row[col], value)
                n_long += value == value and float(f"{value:.15g}") != value
    assert n_long > 100  # many values need all 17 digits: a 15-digit writer would fail here


def _cells_of(text: str, fmt: str) -> list[list[str]]:
    lines = text.strip().splitlines()
    if fmt == "markdown":
        return [ln.strip("| ").split(" | ") for ln in lines[2:]]
    if fmt == "latex":
        return [ln.removesuffix(r" \\").split(" & ") for ln in lines[4:-2]]
    return [ln.split() for ln in lines[4:]]  # human: title, blank, header, rule


def _reader_text(column: str, value: float, fmt: str) -> str:
    """The documented reader format, written out independently of engine.analysis.numbers."""
    if column in ("n", "n_choices", "bins"):
        return str(int(value))
    if column in ("p", "spearman_p", "p_z", "p_exact") and value < 0.001:
        if fmt != "latex":
            return "<0.001"
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"${mantissa}\\times10^{{{int(exponent)}}}$"
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


@pytest.mark.parametrize("fmt", ["human", "markdown", "latex"])
@pytest.mark.parametrize("analysis", ["alignment", "agreement", "ece"])
def test_reader_formats_show_fixed_decimals_and_small_p_values(cli, ws: Path, fmt: str,
                                                               analysis: str) -> None:
    full = pd.read_csv(io.StringIO(cli("analyze", analysis, "-d", "coane", "--format", "csv",
                                       "-w", ws).out))
    res = cli("analyze", analysis, "-d", "coane", "--format", fmt, "-w", ws)
    assert res.code == 0, res.err
    cells = _cells_of(res.out, fmt)
    assert len(cells) == len(full)
    small_p = 0
    for shown, (_, row) in zip(cells, full.iterrows(), strict=True):
        for text, column in zip(shown, full.columns, strict=True):
            if pd.api.types.is_numeric_dtype(full[column]):
                assert text == _reader_text(column, row[column], fmt), (column, row[column])
                small_p += text.startswith(("<", "$"))
    assert small_p > 0 if analysis != "ece" else small_p == 0
    assert not any(f"e-{d}" in res.out for d in range(10))  # no scientific notation


BOOTSTRAP = ("--seed", "--bootstrap", "--ci-method")   # tests/test_paper_metrics.py
USED_OPTIONS = {
    "alignment": {"--measures", "--scale", "--adjust", "--target", "--strata", "--pair", "--wide",
                  *BOOTSTRAP},
    "agreement": {"--variant"},
    "kendall": set(),
    "calibration": {"--measures", "--scale", "--adjust", "--min-subject-n", "--pair", "--wide",
                    *BOOTSTRAP},
    "ece": {"--measures", "--scale", "--bins", "--cdf", "--bins-out", "--pair", "--wide",
            *BOOTSTRAP},
    "jsd": {"--measures", "--scale", "--variant", "--seed", "--permutations", "--adjust",
            "--null-out", "--pair", "--wide", *BOOTSTRAP},
    "pairs": {"--measures", "--scale", "--target", "--pair", "--differences-out"},
    "heatmap": {"--measures", "--scale", "--target", "--pair", "--tests", "--wide"},
    "rms-ce": {"--measures", "--pair", "--wide"},
    "ece-sweep": {"--measures", "--pair", "--wide"},
    "agreement-successor": set(),
    "accuracy": {"--subjects", "--letters"},
    "brier": {"--bins"},
    "auroc": {"--measures", "--scale"},
    "risk-coverage": {"--measures", "--scale", "--curve-out"},
    "ece-adaptive": {"--bins", "--adaptive-bins-out"},
    "recalibrate": {"--bins", "--seed", "--split"},
    "probe": {"--target", "--probe", "--folds", "--seed", "--shuffles", "--pair", "--reference",
              "--folds-out", "--best", "--pairs"},
    "fr-heatmap": {"--measures", "--target", "--pair", "--tests", "--wide"},
    "fr-rms-ce": {"--measures", "--correctness", "--pair", "--wide"},
    "fr-ece-sweep": {"--measures", "--correctness", "--pair", "--wide"},
    "fr-agreement": set(),
}


@pytest.mark.parametrize("analysis", REGISTRY)
def test_help_lists_the_options_the_table_uses(cli, analysis: str) -> None:
    res = cli("analyze", analysis, "--help")
    assert res.code == 0
    flags = set(re.findall(r"--[a-z][a-z-]*", res.out))
    assert flags & set().union(*USED_OPTIONS.values()) == USED_OPTIONS[analysis]
    assert {"--dataset", "--runs", "--allow-partial", "--format", "--out", "--workspace"} <= flags


def test_the_cli_options_are_the_tables_settings() -> None:
    """Each registry entry's table function takes exactly the entry's settings, with the
    registry's defaults, and the CLI offers them (and the entry's extra outputs)."""
    from engine.lab import analyses as registry
    from tui.cli import analyze_cmd

    assert list(registry.ANALYSES) == REGISTRY
    for name, spec in registry.ANALYSES.items():
        used = {f"--{key.replace('_', '-')}" for key in analyze_cmd.uses(name)}
        assert used == USED_OPTIONS[name]
        signature = inspect.signature(spec.table_function()).parameters
        assert list(signature)[1:] == list(spec.settings)
        assert all(signature[k].default == registry.SETTINGS[k].default
                   for k in spec.settings)


def test_title_and_provenance_name_only_the_settings_the_table_uses(cli, ws: Path,
                                                                   tmp_path: Path) -> None:
    heads = {name: cli("analyze", name, "-d", d, *FAST, "-w", ws).out.splitlines()[0]
             for name, d in (("alignment", "coane"), ("agreement", "coane"), ("kendall", "coane"),
                             ("calibration", "mmlu"), ("ece", "mmlu"), ("jsd", "mmlu"))}
    assert heads == {"alignment": "alignment | dataset coane | scale raw | target human_entropy",
                     "agreement": "agreement | dataset coane | variant corrected",
                     "kendall": "kendall | dataset coane",
                     "calibration": "calibration | dataset mmlu | scale raw",
                     "ece": "ece | dataset mmlu | scale raw",
                     "jsd": "jsd | dataset mmlu | variant corrected | scale raw"}
    out = tmp_path / "kendall.csv"
    res = cli("analyze", "kendall", "-d", "coane", "--variant", "paper", "--scale", "normalized",
              "--out", out, "-w", ws)
    assert res.code == 0 and "note: --scale does not change the kendall table; ignored" in res.err
    s = json.loads(Path(str(out) + ".provenance.json").read_text())["settings"]
    assert s == {"analysis": "kendall", "dataset": "coane", "runs": ["c-toy-a", "c-toy-b"],
                 "allow_partial": False, "ignored": {"variant": "paper", "scale": "normalized"}}
    out = tmp_path / "agreement.csv"
    assert cli("analyze", "agreement", "-d", "coane", "--out", out, "-w", ws).code == 0
    s = json.loads(Path(str(out) + ".provenance.json").read_text())["settings"]
    assert s == {"analysis": "agreement", "dataset": "coane", "runs": ["c-toy-a", "c-toy-b"],
                 "allow_partial": False, "variant": "corrected"}


def _toy_a(ws: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dataset's questions and run c-toy-a's results (the CSV it was imported from), aligned."""
    questions = pd.read_parquet(ws / "datasets" / "coane" / "questions.parquet")
    questions = questions.set_index("question_id")
    results = pd.read_csv(ws.parent / "coane-toy-a.csv").set_index("question_id")
    return questions, results.loc[questions.index]


def paper_ece(u: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """SCIENCE.md §5's standardised ECE, written out as a loop over the bins."""
    z = (u - u.mean()) / u.std()
    beta = max(abs(z.min()), abs(z.max()))
    edges = np.linspace(-beta, beta, bins + 1)
    total = 0.0
    for b in range(bins):
        inside = (z >= edges[b]) & ((z < edges[b + 1]) | (b == bins - 1))
        if inside.any():
            conf = 1 - np.mean(z <= z[inside].mean())
            total += inside.mean() * abs(conf - y[inside].mean())
    return total


def test_certainties_enter_every_table_negated(cli, ws: Path) -> None:
    """A trial gave choice_top1 a JSD shift of the other sign than choice_entropy on one run:
    choice_top1 was read as an uncertainty. Each number here is checked independently."""
    questions, results = _toy_a(ws)
    c = results["choice_top1"].to_numpy(float)
    y = (results["cloze"].map("ABCD".index).to_numpy() == questions["correct"].to_numpy(int))

    def table(name: str, *args: str) -> pd.DataFrame:
        res = cli("analyze", name, "-d", "coane", "--runs", "c-toy-a", "--measures",
                  "choice_entropy,choice_top1", "-f", "csv", *args, "-w", ws)
        assert res.code == 0, res.err
        assert ("note: choice_top1: larger means more sure, so entered negated (-choice_top1) to "
                "read, like every row, as an uncertainty (larger = less sure)") in res.err
        return pd.read_csv(io.StringIO(res.out))

    jsd = table("jsd", *FAST).set_index("measure")
    assert list(jsd.index) == ["choice_entropy", "-choice_top1"]
    cloze = results["cloze"].map("ABCD".index).to_numpy()
    correct = questions["correct"].to_numpy(int)
    uncertain = -c > (-c).mean()                      # z > 0 (no ties here)

    def d(group: np.ndarray) -> float:
        return jensenshannon(np.bincount(cloze[group], minlength=4),
                             np.bincount(correct[group], minlength=4), base=2)

    shift = d(uncertain) - d(~uncertain)
    assert jsd.loc["-choice_top1", "shift"] == pytest.approx(shift, abs=1e-12)
    assert np.sign(shift) == np.sign(jsd.loc["choice_entropy", "shift"]) == 1
    ece = table("ece").set_index(["measure", "method"])["ece"]
    assert ece[("-choice_top1", "standardized")] == pytest.approx(paper_ece(-c, y), abs=1e-12)
    assert ece[("-choice_top1", "standardized")] == pytest.approx(
        ece[("choice_entropy", "standardized")], abs=0.02)   # was 0.488 against 0.221
    conventional = sum(np.mean(b) * abs(c[b].mean() - y[b].mean())
                       for b in [(c >= k / 10) & ((c < (k + 1) / 10) | (k == 9)) for k in range(10)]
                       if b.any())
    assert ece[("choice_top1", "conventional")] == pytest.approx(conventional, abs=1e-12)
    calib = table("calibration").set_index("measure")
    assert calib.loc["-choice_top1", "spearman_rho"] == pytest.approx(
        stats.spearmanr(y, -c).statistic, abs=1e-12)
    assert calib.loc["-choice_top1", "spearman_rho"] < 0 and calib.loc["choice_entropy", "spearman_rho"] < 0
    human = questions["human_share"].map(lambda h: stats.entropy(h)).to_numpy()
    align = table("alignment").set_index("measure")
    assert align.loc["-choice_top1", "r"] == pytest.approx(stats.pearsonr(human, -c).statistic,
                                                           abs=1e-12)
    assert align.loc["-choice_top1", "r"] > 0 and align.loc["choice_entropy", "r"] > 0


def test_all_prints_every_table_the_dataset_can_give(cli, ws: Path) -> None:
    """MMLU has answers, not human shares: calibration, ece, jsd and the successor's tables (its
    agreement without the human part), each under its title, the same as each table alone; the
    others are named as left out, and why."""
    res = cli("analyze", "all", "-d", "mmlu", *FAST, "-w", ws)
    assert res.code == 0, res.err
    for name in ("agreement", "kendall"):
        assert (f"note: {name} left out: dataset 'mmlu' has no human response shares; {name} "
                "needs a survey dataset") in res.err
    assert ("note: alignment left out: dataset 'mmlu' has no human data (shares or human "
            "variables); alignment needs human shares or a human variable") in res.err
    answers = ("calibration", "ece", "jsd", "rms-ce", "ece-sweep", "agreement-successor",
               *BEYOND)
    alone = [cli("analyze", name, "-d", "mmlu", *FAST, "-w", ws).out for name in answers]
    assert res.out == "\n".join(alone) + "\n"
    assert [line for line in res.out.splitlines() if " | dataset mmlu" in line] == [
        "calibration | dataset mmlu | scale raw", "ece | dataset mmlu | scale raw",
        "jsd | dataset mmlu | variant corrected | scale raw", "rms-ce | dataset mmlu",
        "ece-sweep | dataset mmlu", "agreement-successor | dataset mmlu",
        "accuracy | dataset mmlu", "brier | dataset mmlu", "auroc | dataset mmlu | scale raw",
        "risk-coverage | dataset mmlu | scale raw", "ece-adaptive | dataset mmlu",
        "recalibrate | dataset mmlu"]


def test_all_writes_a_file_per_table_into_a_folder(cli, ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    res = cli("analyze", "all", "-d", "coane", *FAST, "--format", "markdown", "--out", out,
              "-w", ws)
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        name + suffix for name in ANALYSES for suffix in (".md", ".md.provenance.json"))
    side = json.loads((out / "jsd.md.provenance.json").read_text())
    assert side["command"][:3] == ["alignuq", "analyze", "all"] and side["format"] == "markdown"
    assert side["settings"]["analysis"] == "jsd" and side["settings"]["permutations"] == 200
    assert "min_subject_n" not in side["settings"]        # only the settings jsd takes


@pytest.mark.parametrize("args,needle", [
    (("--extras",), "--extras writes files"),
    (("--bins", "0"), "--bins must be at least 1 (got 0)"),
    (("--min-subject-n", "0"), "--min-subject-n must be at least 1 (got 0)"),
    (("--out", "FILE"), "--out names a file; analyze all writes one file per table into a folder"),
])
def test_all_refuses_in_one_line(cli, ws: Path, tmp_path: Path, args: tuple, needle: str) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    res = cli("analyze", "all", "-d", "coane", *[file if a == "FILE" else a for a in args],
              "-w", ws)
    assert res.code == 2 and needle in res.err and len(res.err.strip().splitlines()) == 1
