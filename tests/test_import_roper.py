"""Roper iPoll topline import: the shared sample, messy-but-valid variants, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets_io.dataset import load_dataset
from datasets_io.roper import parse_roper
from datasets_io.rules import ImportSettings, build_dataset
from datasets_io.workspace import Workspace

DASHES = "-" * 60


@pytest.fixture
def sample(data_dir: Path) -> Path:
    return data_dir / "samples" / "roper_topline_sample.txt"


def block(title: str, question: str, answers: list[str], qid: str, *, close: bool = True) -> str:
    lines = [title, "", question, *answers, "", "Citation: Org Name. Details.",
             f"Question: [{qid}]", "Study: [Roper #123]", "Sample: National adult",
             "Sample Size: 1,000"]
    if close:
        lines.append(DASHES)
    return "\n".join(lines) + "\n"


def topline(*blocks: str) -> str:
    return "Header line\n\n" + "".join(blocks)


def test_sample_keeps_6_drops_2_with_reasons(sample: Path) -> None:
    parsed = parse_roper(sample)
    raw = parsed.raw
    assert len(raw) == 8 and parsed.warnings == []
    ds = build_dataset("s", "roper", raw, ImportSettings())
    assert len(ds.questions) == 6
    reasons = dict(zip(ds.dropped["question_id"], ds.dropped["reason"], strict=True))
    assert reasons == {"USSMPL.112018.R03A": "shares_sum_outside_interval",  # multi-select, 185%
                       "USEXMP.070723.R09": "fewer_than_2_options"}  # "No answer" + "Yes"
    assert ds.report["counts"]["dropped_by_reason"] == {"fewer_than_2_options": 1,
                                                       "shares_sum_outside_interval": 1}


def test_sample_wrapped_label_star_percent_and_refusals(sample: Path) -> None:
    raw = {q.question_id: q for q in parse_roper(sample).raw}
    bus = raw["USEXMP.093022.R02"]
    assert bus.choices[0] == ("Easier than before, especially for people who commute to work "
                              "early in the morning")
    assert bus.choices[1:] == ["Harder than before", "About the same", "Not sure/Skipped"]
    assert raw["USSMPL.010521.R11"].shares == [49, 44, 0, 7]  # '*' = 0
    assert raw["USSMPL.041817.R05"].shares == [96, 0, 4]  # bare '%' = 0
    ds = build_dataset("s", "roper", list(raw.values()), ImportSettings(shuffle=False))
    by_id = ds.questions.set_index("question_id")
    assert "Don't know" in by_id.loc["USSMPL.021120.R14", "choices"]  # kept
    assert by_id.loc["USEXMP.031419.R01", "choices"] == ["Yes, should extend", "No, should not"]
    assert by_id.loc["USEXMP.031419.R01", "human_share"] == pytest.approx([58 / 95, 37 / 95])
    assert by_id.loc["USSMPL.041817.R05", "choices"] == ["Yes", "No"]
    assert by_id.loc["USSMPL.041817.R05", "human_share"] == pytest.approx([1.0, 0.0])


def test_sample_meta_keeps_dates_org_ids_universe_size(sample: Path) -> None:
    raw = {q.question_id: q for q in parse_roper(sample).raw}
    m = raw["USEXMP.060920.R07"].meta
    assert m["date_start"] == "2020-06-02" and m["date_end"] == "2020-06-09"
    assert m["organisation"] == "Example Research Poll"
    assert m["roper_question_id"] == "USEXMP.060920.R07" and m["roper_study"] == "31100002"
    assert m["universe"] == "National adult" and m["sample_size"] == 2311
    m1 = raw["USEXMP.031419.R01"].meta
    assert m1["date_start"] == m1["date_end"] == "2019-03-14"


def test_bom_crlf_and_missing_last_dashes_are_read(tmp_path: Path) -> None:
    text = topline(block("Org [01/02/2020]", "Q one?", ["60% Yes", "40% No"], "A1"),
                   block("Org [01/03/2020]", "Q two?", ["30% Yes", "70% No"], "A2", close=False))
    f = tmp_path / "messy.txt"
    f.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    parsed = parse_roper(f)
    raw, details, warnings = parsed.raw, parsed.details, parsed.warnings
    assert [q.question_id for q in raw] == ["A1", "A2"]
    assert raw[0].meta["title"] == "Org"  # no BOM left in the text
    assert raw[1].shares == [30, 70] and raw[1].meta["sample_size"] == 1000
    assert details["last_block_closed"] is False
    assert any("closing line of dashes" in w for w in warnings)


def test_cp1252_is_read_with_a_warning(tmp_path: Path) -> None:
    text = topline(block("Org [01/02/2020]", "Caf\u00e9 question?",
                         ["50% Yes", "45% No", "5% Don\u2019t know/Refused"], "C1"))
    f = tmp_path / "win.txt"
    f.write_bytes(text.encode("cp1252"))
    parsed = parse_roper(f)
    raw, details, warnings = parsed.raw, parsed.details, parsed.warnings
    assert raw[0].text == "Caf\u00e9 question?"
    assert details["encoding"] == "cp1252"
    assert any("cp1252" in w for w in warnings)
    ds = build_dataset("w", "roper", raw, ImportSettings(shuffle=False))
    assert ds.questions.iloc[0]["choices"] == ["Yes", "No"]  # curly apostrophe matched


def test_multi_line_question_text_decimal_comma_and_blank_lines(tmp_path: Path) -> None:
    text = topline(block("Org [12/31/2021]", "First part of the question\nsecond part?",
                         ["50,5% Yes", "", "49.5% No"], "M1"))
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    q = parse_roper(f).raw[0]
    assert q.text == "First part of the question second part?"
    assert q.choices == ["Yes", "No"] and q.shares == [50.5, 49.5]


def test_cli_import_roper_sample(cli, ws_dir: Path, sample: Path) -> None:
    r = cli("import", "roper", sample, "--name", "s")
    assert r.code == 0, r.err
    assert "kept 6, dropped 2" in r.err
    assert "shares_sum_outside_interval 1" in r.err and "fewer_than_2_options 1" in r.err
    assert str(ws_dir / "datasets" / "s") in r.err
    ds = load_dataset(Workspace(ws_dir), "s")
    assert len(ds.questions) == 6 and len(ds.dropped) == 2
    assert ds.report["file_sha256"] and ds.report["source"] == "roper"
    meta = json.loads(ds.questions.iloc[0]["meta"]) if isinstance(ds.questions.iloc[0]["meta"], str) \
        else ds.questions.iloc[0]["meta"]
    assert meta["organisation"] == "Example Research Poll"
    r2 = cli("import", "roper", sample, "--name", "s2", "--no-shuffle", "--keep-refusal",
             "No answer")
    assert r2.code == 0, r2.err
    ds2 = load_dataset(Workspace(ws_dir), "s2")
    assert "USEXMP.070723.R09" in set(ds2.questions["question_id"])  # "No answer" kept now
    assert ds2.report["settings"]["shuffle"] is False


VARIANTS = [
    ["Org A [01/02/2020]", "", "Plain?", "58% Yes", "42% No"],
    ["Org B [01/02/2020 - 01/09/2020]  ", "", "  Spaces around?  ", "  58% Yes  ", "42% No   "],
    ["Org C [1/2/2020]", "", "Wrapped?", "58% Yes, and a label", "that wraps twice", "onto",
     "42% No"],
    ["Org D [01/02/2020]", "", "Star and bare percent?", "*  Yes", "%  Maybe", "100% No"],
    ["Org E [01/02/2020]", "", "Space before percent?", "58 % Yes", "42 % No"],
    ["Org F [01/02/2020]", "", "Decimals?", "58.5% Yes", "41,5% No"],
    ["Org G [01/02/2020]", "", "Continuation with a percent inside?", "58% Yes, for the",
     "top 5% of people", "42% No"],
    ["Org H [01/02/2020]", "", "Question text that", "wraps over lines?", "58% Yes", "42% No"],
    ["Org I [01/02/2020]", "", "*Starred text?", "58% Yes", "*note continues", "42% No"],
]


def _variant_file(tmp_path: Path) -> Path:
    lines = ["Header", ""]
    for k, v in enumerate(VARIANTS):
        lines += [*v, "", f"Citation: Org {k}. More.", f"Question: [V{k}]", "Study: [Roper #9]",
                  "Sample: Adults", "Sample Size: 1,200", ""  if k % 2 else "", DASHES]
    f = tmp_path / "variants.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


def _bench_file(tmp_path: Path) -> Path:
    import importlib.util

    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_import.py"
    spec = importlib.util.spec_from_file_location("bench_import", bench)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    f = tmp_path / "gen.txt"
    module.generate(f, 400)
    return f


@pytest.mark.parametrize("make", [_variant_file, _bench_file])
def test_fast_path_reads_exactly_what_the_line_parser_reads(tmp_path, monkeypatch, make,
                                                            data_dir) -> None:
    import re

    import datasets_io.roper as roper

    for f in (make(tmp_path), data_dir / "samples" / "roper_topline_sample.txt"):
        fast = parse_roper(f).raw
        monkeypatch.setattr(roper, "_FAST_RE", re.compile(r"(?!x)x"))  # never matches
        slow = parse_roper(f).raw
        monkeypatch.undo()
        assert [(q.question_id, q.text, q.choices, q.shares, q.meta, q.location) for q in fast] \
            == [(q.question_id, q.text, q.choices, q.shares, q.meta, q.location) for q in slow]
    variants = {q.question_id: q for q in parse_roper(_variant_file(tmp_path)).raw}
    assert variants["V2"].choices == ["Yes, and a label that wraps twice onto", "No"]
    assert variants["V3"].shares == [0, 0, 100]
    assert variants["V4"].choices == ["Yes", "No"] and variants["V4"].shares == [58, 42]
    assert variants["V5"].shares == [58.5, 41.5]
    assert variants["V6"].choices == ["Yes, for the top 5% of people", "No"]
    assert variants["V7"].text == "Question text that wraps over lines?"
    assert variants["V8"].choices == ["Yes *note continues", "No"]
