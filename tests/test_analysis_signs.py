"""The sign rule (engine/analysis/normalise.py ``as_uncertainty``): every table reads a measure as
an uncertainty, so a certainty (top1_prob, choice_top1, choice_margin) enters negated, named
``-NAME``. Hand-worked on eight two-option questions, then checked on real data against
independent computations (tests/test_analyze_cli.py's workspace is not needed: these are small).

The eight questions: four the model is sure of (choice_top1 0.90-0.97) and answers as the key
does (A, B, A, B); four it is unsure of (0.52-0.60), answering A each time while the key says
A, B, B, B. Humans are split where the model is unsure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from common.errors import BadInput
from datasets_io.dataset import Dataset, questions_frame
from engine.analysis.alignment import alignment_table
from engine.analysis.calibration import calibration_table
from engine.analysis.ece import ece_table
from engine.analysis.frames import combine
from engine.analysis.jsd import jsd_table

TOP1 = np.array([0.95, 0.90, 0.92, 0.97, 0.55, 0.60, 0.52, 0.58])
CLOZE = np.array([0, 1, 0, 1, 0, 0, 0, 0])
CORRECT = np.array([0, 1, 0, 1, 0, 1, 1, 1])
HUMAN_TOP = np.array([0.90, 0.85, 0.95, 0.80, 0.50, 0.55, 0.60, 0.45])


def _entropy2(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def hand_analysis():
    n = TOP1.size
    ds = Dataset("hand", questions_frame([
        {"question_id": f"q{i}", "source": "test", "text": f"question {i}", "choices": ["x", "y"],
         "human_share": [HUMAN_TOP[i], 1 - HUMAN_TOP[i]], "correct": int(CORRECT[i]),
         "subject": None, "n_choices": 2, "meta": "{}"} for i in range(n)]), report={})
    q = [[TOP1[i], 1 - TOP1[i]] if CLOZE[i] == 0 else [1 - TOP1[i], TOP1[i]] for i in range(n)]
    results = pd.DataFrame({"question_id": [f"q{i}" for i in range(n)], "cloze": CLOZE,
                            "label_probs": q, "choice_mass": 1.0, "prompt_tokens": 20,
                            "choice_entropy": _entropy2(TOP1), "choice_top1": TOP1,
                            "choice_margin": 2 * TOP1 - 1})
    return combine(ds, {"r": {"dataset": "hand", "model": {"name": "m"}}}, {"r": results})


def test_jsd_shift_of_a_certainty_has_the_sign_of_the_uncertainty() -> None:
    # by hand: the unsure group U is the last four (z of -choice_top1 > 0): model answers (4, 0),
    # key (1, 3); the sure group C agrees exactly (distance 0). d(U) = sqrt(JS([1, 0], [1/4, 3/4]))
    # in bits, JS = (log2 1.6 + (1/4 log2 0.4 + 3/4)) / 2 = 0.548795..., d = 0.740807...
    by_hand = np.sqrt((np.log2(1.6) + 0.25 * np.log2(0.4) + 0.75) / 2)
    assert by_hand == pytest.approx(jensenshannon([4, 0], [1, 3], base=2), abs=1e-12)
    t = jsd_table(hand_analysis(), ["choice_entropy", "choice_top1", "choice_margin"],
                         permutations=50).table.set_index("measure")
    assert list(t.index) == ["choice_entropy", "-choice_top1", "-choice_margin"]
    for name in t.index:   # before the rule: choice_top1 and choice_margin gave -0.7408
        assert t.loc[name, "shift"] == pytest.approx(by_hand, abs=1e-12)
        assert (t.loc[name, "n_uncertain"], t.loc[name, "n_certain"]) == (4, 4)


def test_standardised_ece_of_a_certainty_by_hand() -> None:
    """Two bins on [-beta, beta]: z of -choice_top1 puts the four sure questions (all right) in
    bin 0 and the four unsure ones (one right) in bin 1. Bin 0's mean z is -0.988, with 2 of the 8
    z at or below it: conf = 1 - 2/8 = 0.75 against accuracy 1. Bin 1's mean z is 0.988, with 6 of
    8 at or below it: conf 0.25 against accuracy 0.25. ECE = 4/8 * 0.25 + 4/8 * 0 = 0.125. Read
    as an uncertainty (before the rule) the bins swapped: 4/8 * 0.5 + 4/8 * 0.75 = 0.625."""
    u = -TOP1
    z = (u - u.mean()) / u.std()
    assert (z[:4] < 0).all() and (z[4:] > 0).all()
    f = lambda t: (z <= t).mean()  # noqa: E731  (the empirical CDF of z)
    assert (z[:4].mean(), z[4:].mean()) == pytest.approx((-0.988, 0.988), abs=1e-3)
    assert (1 - f(z[:4].mean()), 1 - f(z[4:].mean())) == (0.75, 0.25)
    t = ece_table(hand_analysis(), ["choice_top1", "choice_entropy"], bins=2)
    got = t.table.set_index(["measure", "method"])["ece"]
    assert got[("-choice_top1", "standardized")] == pytest.approx(0.125, abs=1e-12)
    # choice_entropy of two options falls as choice_top1 rises: the same bins, the same ECE
    assert got[("choice_entropy", "standardized")] == pytest.approx(0.125, abs=1e-12)
    # the conventional ECE reads choice_top1 as the confidence it is: with two bins on [0, 1]
    # every question is in [0.5, 1]: mean confidence 0.74875 against accuracy 5/8
    assert got[("choice_top1", "conventional")] == pytest.approx(0.74875 - 0.625, abs=1e-12)
    assert any("entered negated (-choice_top1)" in note for note in t.notes)


def test_calibration_and_alignment_of_a_certainty_read_as_the_uncertainty() -> None:
    a = hand_analysis()
    y = (CLOZE == CORRECT).astype(float)
    calib = calibration_table(a, ["choice_entropy", "choice_top1"]).table.set_index("measure")
    assert calib.loc["-choice_top1", "spearman_rho"] == pytest.approx(
        stats.spearmanr(y, -TOP1).statistic, abs=1e-12)
    assert calib.loc["-choice_top1", "spearman_rho"] < 0          # calibrated, as choice_entropy
    assert calib.loc["choice_entropy", "spearman_rho"] < 0
    human = stats.entropy(np.column_stack([HUMAN_TOP, 1 - HUMAN_TOP]), axis=1)
    align = alignment_table(a, ["choice_entropy", "choice_top1"]).table.set_index("measure")
    assert align.loc["-choice_top1", "r"] == pytest.approx(stats.pearsonr(human, -TOP1).statistic,
                                                           abs=1e-12)
    assert align.loc["-choice_top1", "r"] > 0 and align.loc["choice_entropy", "r"] > 0


def test_a_row_name_asks_for_its_measure() -> None:
    t = calibration_table(hand_analysis(), ["-choice_top1"]).table
    assert list(t["measure"]) == ["-choice_top1"]
    with pytest.raises(BadInput, match="measure.s. -choice_entropy not in these runs"):
        calibration_table(hand_analysis(), ["-choice_entropy"])   # no negated uncertainty
