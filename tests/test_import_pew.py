"""Pew ATP .sav import: weighted shares against a hand computation (file built with pyreadstat)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets_io.dataset import load_dataset
from datasets_io.pew import parse_pew
from datasets_io.rules import ImportSettings, build_dataset
from datasets_io.workspace import Workspace

pyreadstat = pytest.importorskip("pyreadstat")

NAN = np.nan
# 8 respondents. Q1: 1 Yes, 2 No, 99 Refused; NaN = system-missing. Q2: a 4-point scale where
# nobody chose code 4; code 99 is labelled "Skipped/refused by respondent" (not in the refusal list:
# code 99 is a refusal anyway).
Q1 = [1, 1, 2, 99, 2, NAN, 1, 2]
Q2 = [1, 2, 2, 3, 99, 1, NAN, 3]
W = [0.5, 1.5, 1.0, 2.0, 0.8, 1.2, 3.0, 0.7]


@pytest.fixture
def sav(tmp_path: Path) -> Path:
    df = pd.DataFrame({"QKEY": range(1, 9), "Q1_W88": Q1, "Q2_W88": Q2, "AGE": [30] * 8,
                       "WEIGHT_W88": W})
    f = tmp_path / "ATP W88.sav"
    pyreadstat.write_sav(
        df, str(f),
        column_labels={"Q1_W88": "Do you own a bicycle?", "Q2_W88": "How often do you cycle?",
                       "WEIGHT_W88": "Wave 88 weight"},
        variable_value_labels={
            "Q1_W88": {1: "Yes", 2: "No", 99: "Refused"},
            "Q2_W88": {1: "Daily", 2: "Weekly", 3: "Rarely", 4: "Never",
                       99: "Skipped/refused by respondent"},
        })
    return f


def hand(values, weights, codes):
    """Weighted share per code among the non-missing answers (refusals included)."""
    tot = {c: 0.0 for c in codes}
    for v, w in zip(values, weights, strict=True):
        if not np.isnan(v):
            tot[v] += w
    mass = sum(tot.values())
    return [tot[c] / mass for c in codes]


def test_weighted_shares_equal_hand_computation(sav: Path) -> None:
    parsed = parse_pew(sav, ["Q*_W88"])
    assert parsed.details["weight"] == "WEIGHT_W88"
    raw = parsed.raw
    q1, q2 = raw
    assert (q1.question_id, q1.text) == ("Q1_W88", "Do you own a bicycle?")
    assert q1.choices == ["Yes", "No", "Refused"]
    # Q1: Yes = .5+1.5+3 = 5, No = 1+.8+.7 = 2.5, Refused = 2; the NaN (w 1.2) is skipped
    assert [s / 100 for s in q1.shares] == pytest.approx([5 / 9.5, 2.5 / 9.5, 2 / 9.5])
    assert [s / 100 for s in q1.shares] == pytest.approx(hand(Q1, W, [1, 2, 99]))
    assert q2.choices == ["Daily", "Weekly", "Rarely", "Never", "Refused"]  # 99 relabelled
    assert q2.meta["code_99_original_label"] == {"99": "Skipped/refused by respondent"}
    assert [s / 100 for s in q2.shares] == pytest.approx(hand(Q2, W, [1, 2, 3, 4, 99]))
    ds = build_dataset("p", "pew", raw, ImportSettings(shuffle=False))
    by_id = ds.questions.set_index("question_id")
    assert by_id.loc["Q1_W88", "choices"] == ["Yes", "No"]
    assert by_id.loc["Q1_W88", "human_share"] == pytest.approx([5 / 7.5, 2.5 / 7.5])
    # Q2 after removing the refusal (w .8): Daily .5+1.2, Weekly 1.5+1, Rarely 2+.7, Never 0
    assert by_id.loc["Q2_W88", "choices"] == ["Daily", "Weekly", "Rarely", "Never"]
    assert by_id.loc["Q2_W88", "human_share"] == pytest.approx(
        [1.7 / 6.9, 2.5 / 6.9, 2.7 / 6.9, 0.0])
    assert ds.report["counts"]["refusal_options_removed"] == 2


def test_selection_by_regex_and_names(sav: Path) -> None:
    raw = parse_pew(sav, ["re:Q\\d_W88"]).raw
    assert [q.question_id for q in raw] == ["Q1_W88", "Q2_W88"]
    raw = parse_pew(sav, ["Q2_W88,q1_w88"]).raw  # comma list; case-insensitive name
    assert [q.question_id for q in raw] == ["Q1_W88", "Q2_W88"]  # file order


def test_unweighted_only_with_a_loud_recorded_warning(cli, ws_dir: Path, sav: Path) -> None:
    r = cli("import", "pew", sav, "--name", "u", "--questions", "Q1_W88", "--unweighted",
            "--no-shuffle")
    assert r.code == 0, r.err
    assert "WARNING: UNWEIGHTED" in r.err
    ds = load_dataset(Workspace(ws_dir), "u")
    assert any(w.startswith("UNWEIGHTED") for w in ds.report["warnings"])
    assert ds.report["settings"]["unweighted"] is True
    # unweighted: Yes 3, No 3 of the 6 non-refusal answers
    assert ds.questions.iloc[0]["human_share"] == pytest.approx([0.5, 0.5])


def test_cli_weight_override_and_report(cli, ws_dir: Path, sav: Path) -> None:
    r = cli("import", "pew", sav, "--name", "w", "--questions", "Q1_W88", "--weight", "AGE",
            "--no-shuffle")
    assert r.code == 0, r.err
    assert "weight: AGE" in r.err
    ds = load_dataset(Workspace(ws_dir), "w")
    assert ds.report["settings"]["weight"] == "AGE"
    assert ds.questions.iloc[0]["human_share"] == pytest.approx([0.5, 0.5])  # constant weight
    r = cli("import", "pew", sav, "--name", "d", "--questions", "Q*")
    assert r.code == 0, r.err
    assert "weight: WEIGHT_W88" in r.err and "refusal options removed: 2" in r.err
    assert "without value labels skipped: QKEY" in r.err
