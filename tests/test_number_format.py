"""How numbers are shown to a reader (engine.analysis.numbers), by what their column means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.analysis.numbers import format_number, is_count_column, is_p_column
from engine.analysis.render import render


@pytest.mark.parametrize(("column", "value", "human", "latex"), [
    # r, rho, shifts, ECE: fixed decimals, never scientific, no signed zero
    ("r", 1.55e-04, "0.000", "0.000"),
    ("partial_r", -9.39e-04, "-0.001", "-0.001"),
    ("spearman_rho", -1e-05, "0.000", "0.000"),
    ("shift", -0.0, "0.000", "0.000"),
    ("ece", 0.0, "0.000", "0.000"),
    ("z", 29.14412, "29.144", "29.144"),
    ("lo", -1.9264063385253931, "-1.926", "-1.926"),
    ("null", 123456.789, "123456.789", "123456.789"),
    # p-values: 3 decimals, then a floor
    ("p", 0.0646, "0.065", "0.065"),
    ("p", 0.001, "0.001", "0.001"),
    ("p", 1.0, "1.000", "1.000"),
    ("p_z", 0.00099999, "<0.001", r"$1.0\times10^{-3}$"),
    ("spearman_p", 1.6e-4, "<0.001", r"$1.6\times10^{-4}$"),
    ("p_exact", 5.8139241192630575e-154, "<0.001", r"$5.8\times10^{-154}$"),
    ("p_adj", 0.0, "<0.001", "$<0.001$"),
    # a Bonferroni threshold: 3 significant digits (the heatmap's 0.05 / 2040)
    ("threshold", 0.05 / 2040, "2.45e-05", r"$2.45\times10^{-5}$"),
    ("threshold", 0.05 / 18, "0.00278", "0.00278"),
    # counts stay integers, even in a float column
    ("n", 421.0, "421", "421"),
    ("n_uncertain", np.float64(221), "221", "221"),
    ("permutations", np.int64(1000), "1000", "1000"),
    ("n", 12.5, "12.500", "12.500"),  # not a count after all: shown as a number
    ("r", float("nan"), "", ""),
])
def test_format_number(column, value, human, latex) -> None:
    assert format_number(value, column) == human
    assert format_number(value, column, latex=True) == latex


def test_column_meanings() -> None:
    assert all(map(is_p_column, ["p", "p_z", "p_exact", "spearman_p", "p_adj", "perm_p"]))
    assert not any(map(is_p_column, ["partial_r", "spearman_rho", "shift", "top1_prob", "pz"]))
    assert all(map(is_count_column, ["n", "n_choices", "bins", "count", "seed", "tied_pairs"]))
    assert not any(map(is_count_column, ["null", "conf", "acc", "mean", "chance"]))


def test_every_reader_format_uses_it_and_machine_formats_keep_the_bits() -> None:
    frame = pd.DataFrame({"model": ["a_b"], "n": [41.0], "r": [-1.55e-04], "p": [8.3e-09],
                          "spearman_p": [0.4990000001], "flag": [True]})
    human = render(frame, "human").splitlines()
    assert human[2].split() == ["a_b", "41", "0.000", "<0.001", "0.499", "True"]
    assert render(frame, "markdown").splitlines()[2] == "| a_b | 41 | 0.000 | <0.001 | 0.499 | True |"
    assert render(frame, "latex").splitlines()[4] == \
        r"a\_b & 41 & 0.000 & $8.3\times10^{-9}$ & 0.499 & True \\"
    assert "e-0" not in render(frame, "human") + render(frame, "markdown")
    assert render(frame, "csv").splitlines()[1] == "a_b,41.0,-0.000155,8.3e-09,0.4990000001,True"
    assert '"r": -0.000155,' in render(frame, "json")
