"""The measure scales of SCIENCE.md §4: ``raw``, ``normalized`` and ``paper``.

- ``raw``: as stored (nats); human entropy raw.
- ``normalized``: each measure in its normalised form (SCIENCE.md §2 table): ``total_entropy``
  / log(vocabulary size from the run's manifest), ``topk_entropy@k`` / log k, ``topp_entropy@p``
  / log m with m = the stored ``topp_size@p``, ``choice_entropy`` / log n; human entropy / log n.
  A top-p set of size 1 has normalised entropy 0; an empty one (``paper`` runs only, stored NaN)
  has normalised entropy 1, as the authors defined it.
- ``successor``: the successor study's stored form (SCIENCE-successor.md §4.2): each normalised
  form clipped with ``min(1, .)``; ``top1_prob`` as its log; ``choice_top1`` as the log of the
  largest label probability *not* renormalised over the choices (the successor's
  ``mc_choice-prob``: ``log max_j q_j``, from the stored label probabilities); human entropy /
  log n.
- ``paper``: every model measure in its normalised form multiplied by log n, against raw human
  entropy (the published Figure 2, SCIENCE.md §7 fault 1); measures without a normalised form are
  multiplied by log n too, as the authors' code did.

Measures without a normalised form (``top1_prob``, ``topp_size@p``, ``choice_top1``,
``choice_margin``) are used as they are in ``raw`` and ``normalized`` (and, but for the two
log-probabilities, ``successor``).

Free-recall measures (``fr_``, ``bfr_``, ``tok1_``: ``engine.free_recall_names``) are stored in the
successor's own form (normalised, not clipped; ``tok1_top1_prob`` a log-probability), the only
form the released data has: every scale gives them as stored.

The sign rule (:func:`as_uncertainty`): every table reads a measure as an uncertainty; a
certainty enters negated, named ``-NAME``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.free_recall_names import is_free_recall
from engine.lab.analyses import SETTINGS
from engine.measure_names import is_uncertainty_like, parse_measure, topp_size

SCALES = SETTINGS["scale"].choices
NORMALISED_KINDS = ("total_entropy", "topk_entropy", "choice_entropy", "topp_entropy")


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise BadInput(f"unknown scale {scale!r}", fix=f"use one of {', '.join(SCALES)}")
    return scale


def normalised_form(frame: pd.DataFrame, measure: str, vocab_size: float | None = None) -> pd.Series:
    """The normalised form of ``measure`` for each row (needs ``n_choices``; ``topp_size@p`` for
    top-p entropies; the vocabulary size for ``total_entropy``). Unchanged where none exists."""
    kind, arg = parse_measure(measure)
    x = frame[measure].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "total_entropy":
            if not vocab_size or vocab_size < 2:
                raise BadInput("total_entropy cannot be normalised: the run's manifest has no "
                               "model.vocab_size", fix="use --scale raw, or re-import the run "
                               "with --vocab-size N")
            return x / np.log(float(vocab_size))
        if kind == "topk_entropy":
            return x / np.log(arg)
        if kind == "choice_entropy":
            return x / np.log(frame["n_choices"].astype(float))
        if kind == "topp_entropy":
            size_col = topp_size(arg)
            if size_col not in frame:
                raise BadInput(f"{measure} cannot be normalised without {size_col}",
                               fix="use --scale raw, or import the set sizes too")
            m = frame[size_col].astype(float)
            out = x / np.log(m)
            out = out.where(m != 1, 0.0)          # one token: no uncertainty
            out = out.where(m != 0, 1.0)          # paper variant's empty set: maximal
            return out.where(m.notna(), np.nan)
    return x


def scaled_measure(frame: pd.DataFrame, measure: str, scale: str,
                   vocab_size: float | None = None) -> pd.Series:
    """``measure`` on ``scale`` for the rows of one run."""
    check_scale(scale)
    if scale == "raw" or is_free_recall(measure):
        return frame[measure].astype(float)
    if scale == "successor":
        return successor_form(frame, measure, vocab_size)
    norm = normalised_form(frame, measure, vocab_size)
    if scale == "normalized":
        return norm
    return norm * np.log(frame["n_choices"].astype(float))


def successor_form(frame: pd.DataFrame, measure: str, vocab_size: float | None = None) -> pd.Series:
    """``measure`` as the successor stored it: normalised and clipped at 1, or a log-probability."""
    if is_free_recall(measure):
        return frame[measure].astype(float)
    kind, _ = parse_measure(measure)
    with np.errstate(divide="ignore"):
        if kind == "top1_prob":
            return np.log(frame[measure].astype(float))
        if kind == "choice_top1":   # the largest label probability itself (ties stay ties)
            return np.log(frame["label_probs"].map(_largest).astype(float))
    if kind in NORMALISED_KINDS:
        return normalised_form(frame, measure, vocab_size).clip(upper=1.0)
    return frame[measure].astype(float)


def _largest(label_probs: object) -> float:
    return float(np.max(label_probs)) if label_probs is not None and len(label_probs) else np.nan


def scaled_human(frame: pd.DataFrame, scale: str) -> pd.Series:
    """Human entropy on ``scale``: divided by log n for ``normalized`` and ``successor``, raw
    otherwise."""
    check_scale(scale)
    h = frame["human_entropy"].astype(float)
    if scale in ("normalized", "successor"):
        return h / np.log(frame["n_choices"].astype(float))
    return h


def as_uncertainty(measure: str, values: pd.Series) -> tuple[str, pd.Series]:
    """The one sign rule of the tables: a measure is read as an uncertainty (larger = less sure).

    A certainty (``top1_prob``, ``choice_top1``, ``choice_margin``: larger = more sure) enters
    negated and is named ``-NAME``. So for every row alike the standardised ECE's
    ``conf = 1 - F(z)`` is a confidence, the JSD's uncertain group is ``z > 0``, calibration's
    rho < 0 means calibrated and alignment's r > 0 means more uncertain where humans disagree.
    Returns the row's name and the values (scaled first: negation commutes with every scale)."""
    if is_uncertainty_like(measure):
        return measure, values
    return f"-{measure}", -values
