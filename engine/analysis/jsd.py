"""The Jensen–Shannon distance shift with its permutation test (SCIENCE.md §5).

Standardise the measure (population std); uncertain group U = ``z > 0``, certain group
C = ``z < 0``, questions with ``z == 0`` assigned to U or C at random (seeded, each with
probability 1/2). In each group count the model's answers (M) and the correct answers (A) over
the labels; ``d`` = Jensen–Shannon distance (square root of the divergence), base 2 in
``corrected``, natural log in ``paper``. ``shift = d(U_M, U_A) - d(C_M, C_A)``; positive =
calibrated (the paper's sign).

Permutation test: ``permutations`` random re-assignments of the questions to groups of the same
sizes. Permutation k is ``rng.permutation(N)`` (the k-th draw of one generator), U its first
``|U|`` questions. ``p = (1 + #{null >= shift}) / (1 + permutations)``; ``paper``:
``#{null >= |shift|} / permutations``.

Vectorised: the permutations are drawn as one matrix (``Generator.permuted``, the same stream as
the loop of ``rng.permutation`` calls), each question carries one joint code ``M * L + A``, and
the group counts of every permutation come from ``bincount`` over blocks of the permuted codes.
Because group sizes are prefixes of the same permutations, all measures of a run share one pass
over the matrix (sizes visited in increasing order).

Seeds: ``SeedSequence(seed).spawn(2)`` gives the tie stream (same draws for every measure) and
the permutation stream; so a measure's result does not depend on which others are analysed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from common.errors import BadInput
from engine.analysis.bootstrap import bootstrap_ci, with_intervals
from engine.analysis.figure import figure, pairs_or_note
from engine.analysis.frames import Analysis
from engine.analysis.normalise import check_scale
from engine.analysis.stats_util import standardise
from engine.analysis.tables import (
    TableResult,
    correctness,
    measure_values,
    pick_measures,
    runs,
    sign_notes,
    stack,
    table_frame,
    with_adjusted_p,
)
from engine.lab.analyses import default
from engine.measure_names import VARIANTS

DEFAULT_PERMUTATIONS = default("permutations")
_CHUNK = 4096


@dataclass
class JsdResult:
    shift: float
    p: float
    n_uncertain: int
    n_certain: int
    d_uncertain: float
    d_certain: float
    null: np.ndarray        # the permutation null sample (length ``permutations``)
    permutations: int
    seed: int


def js_distance(p: np.ndarray, q: np.ndarray, base: float | None = 2.0) -> np.ndarray:
    """Jensen–Shannon distance between count (or probability) vectors along the last axis.

    Same definition as ``scipy.spatial.distance.jensenshannon`` (vectors normalised to sum 1;
    ``base=None`` is the natural log)."""
    p = np.asarray(p, float)
    q = np.asarray(q, float)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    js = (left + right).sum(axis=-1) / 2
    if base is not None:
        js = js / np.log(base)
    return np.sqrt(np.maximum(js, 0.0))


def _streams(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    ties, perms = np.random.SeedSequence(seed).spawn(2)
    return ties, perms


@lru_cache(maxsize=2)
def permutation_matrix(n: int, seed: int, permutations: int) -> np.ndarray:
    """``permutations`` x ``n`` matrix whose row k is the k-th ``rng.permutation(n)`` of the
    permutation stream of ``seed`` (read-only, cached: every measure and run of size n shares it)."""
    rng = np.random.default_rng(_streams(seed)[1])
    dtype = np.int32 if n < 2**31 else np.int64
    out = rng.permuted(np.broadcast_to(np.arange(n, dtype=dtype), (permutations, n)), axis=1)
    out.setflags(write=False)
    return out


def split_groups(u: np.ndarray, seed: int) -> np.ndarray:
    """Boolean mask of the uncertain group: ``z > 0``, ``z == 0`` at random (tie stream of seed)."""
    z = standardise(u)
    upper = z > 0
    tie = np.flatnonzero(z == 0)
    if tie.size:
        rng = np.random.default_rng(_streams(seed)[0])
        upper[tie] = rng.random(tie.size) < 0.5
    return upper


def _p_value(shift: float, null: np.ndarray, variant: str) -> float:
    if variant == "paper":
        return float((null >= abs(shift)).sum() / null.size)
    return float((1 + (null >= shift).sum()) / (1 + null.size))


def _prefix_counts(codes: np.ndarray, perms: np.ndarray, sizes: list[int],
                   n_codes: int) -> dict[int, np.ndarray]:
    """For each size s: counts (permutations x n_codes) of ``codes[perms[:, :s]]``.

    One incremental pass over the permuted codes, sizes in increasing order; a size is reached
    from the end (total minus the counts of the last N - s columns) when that is shorter."""
    k, n = perms.shape
    offsets = (np.arange(k, dtype=np.int64) * n_codes)[:, None]
    total = np.bincount(codes, minlength=n_codes)

    def sweep(stops: list[int], reverse: bool) -> dict[int, np.ndarray]:
        acc = np.zeros(k * n_codes, np.int64)
        out: dict[int, np.ndarray] = {}
        done = 0
        for stop in stops:
            for a in range(done, stop, _CHUNK):
                b = min(stop, a + _CHUNK)
                cols = perms[:, n - b:n - a] if reverse else perms[:, a:b]
                acc += np.bincount((codes[cols] + offsets).ravel(), minlength=k * n_codes)
            done = max(done, stop)
            out[stop] = acc.reshape(k, n_codes).copy()
        return out

    wanted = sorted(set(sizes))
    # cheapest split: sizes up to the cut from the front, the others from the back
    costs = [(max(wanted[:i], default=0) + (n - min(wanted[i:], default=n)), i)
             for i in range(len(wanted) + 1)]
    cut = min(costs)[1]
    result = sweep(wanted[:cut], reverse=False)
    back = sweep(sorted(n - s for s in wanted[cut:]), reverse=True)
    result.update({n - t: total[None, :] - c for t, c in back.items()})
    return result


def _group_distance(joint: np.ndarray, n_labels: int, base: float | None) -> np.ndarray:
    """Distance d(M, A) from joint counts (... x L*L, code M*L + A)."""
    cube = joint.reshape(*joint.shape[:-1], n_labels, n_labels)
    return js_distance(cube.sum(axis=-1), cube.sum(axis=-2), base)


def jsd_shift_many(model_answers: np.ndarray, correct_answers: np.ndarray,
                   measures: Mapping[str, np.ndarray], *, n_labels: int | None = None,
                   permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0,
                   variant: str = "corrected") -> tuple[dict[str, JsdResult], dict[str, str]]:
    """JSD shift and permutation test for several measures over the same questions.

    Returns ``(results, errors)``: a measure that cannot be tested (constant, one group empty)
    is left out of ``results`` and explained in ``errors``. Non-finite measure values (and
    questions without a correct answer) are left out of that measure's test."""
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant {variant!r}", fix="use corrected or paper")
    if permutations < 1:
        raise BadInput(f"--permutations must be at least 1 (got {permutations})")
    m_ans = np.asarray(model_answers, np.int64)
    a_ans = np.asarray(correct_answers, float)
    labels = int(n_labels or (max(m_ans.max(initial=0), np.nanmax(a_ans, initial=0)) + 1))
    base = None if variant == "paper" else 2.0
    results: dict[str, JsdResult] = {}
    errors: dict[str, str] = {}
    by_mask: dict[bytes, list[tuple[str, np.ndarray]]] = {}
    for name, values in measures.items():
        u = np.asarray(values, float)
        mask = np.isfinite(u) & np.isfinite(a_ans)
        by_mask.setdefault(np.packbits(mask).tobytes(), []).append((name, mask))
    for members in by_mask.values():
        mask = members[0][1]
        codes = (m_ans[mask] * labels + a_ans[mask].astype(np.int64)).astype(np.int64)
        n = int(codes.size)
        uppers: dict[str, np.ndarray] = {}
        for name, _ in members:
            try:
                upper = split_groups(np.asarray(measures[name], float)[mask], seed)
            except BadInput as err:
                errors[name] = err.what
                continue
            n_u = int(upper.sum())
            if n_u == 0 or n_u == n:
                errors[name] = (f"one group is empty ({n_u} uncertain, {n - n_u} certain of {n} "
                                "questions); the shift is undefined")
                continue
            uppers[name] = upper
        if not uppers:
            continue
        perms = permutation_matrix(n, seed, permutations)
        total = np.bincount(codes, minlength=labels * labels)
        prefix = _prefix_counts(codes, perms, [int(x.sum()) for x in uppers.values()],
                                labels * labels)
        for name, upper in uppers.items():
            n_u = int(upper.sum())
            obs_u = np.bincount(codes[upper], minlength=labels * labels)
            d_u = float(_group_distance(obs_u, labels, base))
            d_c = float(_group_distance(total - obs_u, labels, base))
            null_u = prefix[n_u]
            null = _group_distance(null_u, labels, base) - _group_distance(total - null_u, labels, base)
            shift = d_u - d_c
            results[name] = JsdResult(shift, _p_value(shift, null, variant), n_u, n - n_u, d_u, d_c,
                                      null, permutations, seed)
    return results, errors


def jsd_shift(model_answers: np.ndarray, correct_answers: np.ndarray, u: np.ndarray, *,
              n_labels: int | None = None, permutations: int = DEFAULT_PERMUTATIONS,
              seed: int = 0, variant: str = "corrected") -> JsdResult:
    """JSD shift of one measure ``u``; a constant measure or an empty group raises BadInput."""
    results, errors = jsd_shift_many(model_answers, correct_answers, {"u": u}, n_labels=n_labels,
                                     permutations=permutations, seed=seed, variant=variant)
    if "u" in errors:
        raise BadInput(f"JSD shift: {errors['u']}")
    return results["u"]


def observed_shift(model_answers: np.ndarray, correct_answers: np.ndarray, u: np.ndarray,
                   n_labels: int, seed: int, variant: str) -> float:
    """The shift alone (no test); NaN where it is undefined (constant u, an empty group)."""
    try:
        upper = split_groups(u, seed)
    except BadInput:
        return np.nan
    if upper.all() or not upper.any():
        return np.nan
    codes = model_answers * n_labels + correct_answers
    base = None if variant == "paper" else 2.0
    size = n_labels * n_labels
    inside = np.bincount(codes[upper], minlength=size)
    outside = np.bincount(codes[~upper], minlength=size)
    return float(_group_distance(inside, n_labels, base) - _group_distance(outside, n_labels, base))


def jsd_table(a: Analysis, measures: Sequence[str] | None = default("measures"),
              scale: str = default("scale"), variant: str = default("variant"),
              seed: int = default("seed"), permutations: int = DEFAULT_PERMUTATIONS,
              adjust: str = default("adjust"),
              pair: Sequence[str] | None = default("pair"),
              bootstrap: int = default("bootstrap"),
              ci_method: str = default("ci_method")) -> TableResult:
    """JSD shift and permutation p per model x measure (default: the uncertainty measures);
    ``extra['null']`` holds every null sample, ``extra['wide']`` the figure of the shifts.
    ``bootstrap`` resamples: the shift's interval as ``boot_low``, ``boot_high`` (each resample
    standardised and split anew, ties by the seed's tie stream)."""
    check_scale(scale)
    n_labels = int(a.frame["n_choices"].max())
    picked = pick_measures(a, measures, uncertainty_only=True)
    rows, nulls, notes, intervals = [], [], sign_notes(picked), []
    for model, run in runs(a):
        run, _ = correctness(run)
        values = measure_values(run, picked, scale, notes, model)
        results, errors = jsd_shift_many(run["cloze"].to_numpy(int), run["correct"].to_numpy(float),
                                         values, n_labels=n_labels, permutations=permutations,
                                         seed=seed, variant=variant)
        notes += [f"{model}: {m} skipped ({msg})" for m, msg in errors.items()]
        for measure in values:
            if measure not in results:
                continue
            r = results[measure]
            rows.append({"model": model, "measure": measure, "n_uncertain": r.n_uncertain,
                         "n_certain": r.n_certain, "shift": r.shift, "p": r.p,
                         "permutations": r.permutations, "seed": r.seed})
            keep = np.isfinite(values[measure])
            m_ans, a_ans = run["cloze"].to_numpy(int)[keep], run["correct"].to_numpy(int)[keep]
            u = values[measure][keep]
            intervals.append(bootstrap_ci(
                lambda i, m_ans=m_ans, a_ans=a_ans, u=u: observed_shift(
                    m_ans[i], a_ans[i], u[i], n_labels, seed, variant),
                u.size, bootstrap, seed, ci_method))
            nulls.append(pd.DataFrame({"model": model, "measure": measure,
                                       "permutation": np.arange(r.null.size), "null": r.null}))
    table = with_intervals(with_adjusted_p(table_frame(rows, "jsd"), adjust), intervals,
                           bootstrap)
    pairs = pairs_or_note(pair, list(dict.fromkeys(table["model"])), notes)
    return TableResult("jsd", table, {"null": stack(nulls, "jsd", "null"),
                                      "wide": figure(table, "shift", "shift", pairs)}, notes)
