"""Activation probes (SCIENCE-successor.md §7): per run and layer, how well a linear read-out of
the last prompt token's hidden state predicts a human variable (or the model's own correctness),
out of sample, against a permutation baseline.

Per run with captured activations (``run --capture-activations``), the questions with a target
value, and per layer: k-fold cross-validated ridge (penalty by nested CV, features standardised
inside the folds), or the successor's plain least squares (``--probe ols``), or for ``--target
correct`` an L2 logistic probe scored by AUROC (``engine.analysis.probe_fit``). Each fold gives
Pearson r of (target, prediction), R² and MSE; the table has their means over folds. The same
folds are refitted on ``--shuffles`` shuffles of the target: ``null_r`` is the mean of the
shuffles' mean r, ``null_r95`` its 95th percentile (chance), ``p_perm`` the share of shuffles
reaching the observed mean r (with the observed one counted, so never 0).

Extras: every fold's scores (``--folds-out``); per run the best layer beside the best output
measure on the same questions (``--best``); base against instruct models over layers
(``--pairs``: Wilcoxon signed-rank over layers paired by index, normal approximation, r = |z|/√L,
as the successor's probe figures).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from datasets_io.dataset import HUMAN_PREFIX
from engine.activations import RunActivations, run_activations
from engine.analysis.alignment import TARGET_ENTROPY, check_target
from engine.analysis.frames import Analysis
from engine.analysis.pairing import detect_pairs, given_pairs
from engine.analysis.probe_fit import FoldScores, auroc, kfold, linear_probe, logistic_probe
from engine.analysis.probe_reference import released_probe_rows
from engine.analysis.tables import TableResult, measure_values, stack, table_frame
from engine.lab.analyses import default

CORRECT = "correct"          # --target correct: the model's own correctness, a logistic probe


def probe_table(a: Analysis, target: str = default("target"), probe: str = default("probe"),
                folds: int = default("folds"), seed: int = default("seed"),
                shuffles: int = default("shuffles"), pair: list[str] | None = default("pair"),
                reference: str | None = default("reference")) -> TableResult:
    if target != CORRECT:
        check_target(a, target)
    method = "logistic" if target == CORRECT else probe
    rows, fold_rows, best_rows, notes = [], [], [], []
    captured = False
    for rid, run in a.frame.groupby("run_id", sort=False):
        model = str(run["model"].iloc[0])
        acts = run_activations(a.run_dirs[str(rid)]) if str(rid) in a.run_dirs else None
        if acts is None:
            notes.append(f"{model}: no activations captured (run it again with "
                         "--capture-activations)")
            continue
        captured = True
        ids, y = _probe_rows(run, acts, target, model, notes)
        if len(ids) < 2 * folds:
            notes.append(f"{model}: {len(ids)} questions with {target} and activations; a "
                         f"{folds}-fold probe needs at least {2 * folds}")
            continue
        layers = _probe_layers(model, acts, ids, y, method, folds, seed, shuffles, target)
        rows += layers["rows"]
        fold_rows += layers["folds"]
        best_rows.append(_best(model, layers["rows"], run, ids, target, a.measures, notes))
    if reference:
        rows += released_probe_rows(reference, target, notes)
    if not captured:
        notes.append("no run of these has captured activations: run one with "
                     "`alignuq run ... --capture-activations`")
    table = table_frame(rows, "probe")
    table["n"] = table["n"].astype("Int64")      # whole numbers, blank where not released
    notes += _notes(method, shuffles, folds, seed)
    return TableResult("probe", table,
                       {"folds": stack([table_frame(fold_rows, "probe", "folds")], "probe", "folds"),
                        "best": table_frame(best_rows, "probe", "best"),
                        "pairs": _pairs(table, pair, notes)}, notes)


def _probe_rows(run: pd.DataFrame, acts: RunActivations, target: str, model: str,
                notes: list[str]) -> tuple[list[str], np.ndarray]:
    """The questions with a target value and activations, and their target (a note counts
    those whose activations are missing: a capture not finished)."""
    y = _target_of(run, target)
    has = run["question_id"].astype(str).isin(acts.done_ids()).to_numpy()
    keep = np.isfinite(y) & has
    if missing := int((np.isfinite(y) & ~has).sum()):
        notes.append(f"{model}: {missing} question(s) with {target} have no activations (an "
                     "unfinished capture: run it again with --capture-activations); left out")
    return run["question_id"].astype(str).to_numpy()[keep].tolist(), y[keep]


def _target_of(rows: pd.DataFrame, target: str) -> np.ndarray:
    """Each row's target (NaN where it has none); correctness is 1.0 or 0.0."""
    if target == CORRECT:
        correct = rows["correct"].astype(float).to_numpy()
        return np.where(np.isnan(correct), np.nan, rows["cloze"].to_numpy(float) == correct)
    column = TARGET_ENTROPY if target == TARGET_ENTROPY else HUMAN_PREFIX + target
    return rows[column].to_numpy(float)


def _targets(y: np.ndarray, shuffles: int, seed: int) -> np.ndarray:
    """``[n, 1 + shuffles]``: the target, then its shuffles."""
    rng = np.random.default_rng(seed)
    return np.column_stack([y, *(rng.permutation(y) for _ in range(shuffles))])


def _probe_layers(model: str, acts: RunActivations, ids: list[str], y: np.ndarray, method: str,
                  folds: int, seed: int, shuffles: int, target: str) -> dict[str, list]:
    splits = kfold(len(ids), folds, seed)
    ys = _targets(y, shuffles, seed)
    rows, fold_rows = [], []
    for layer in acts.layers:
        x = acts.layer(layer, ids)
        scores = (logistic_probe(x, ys, splits, seed) if method == "logistic"
                  else linear_probe(x, ys, splits, method, seed))
        rows.append(_layer_row(model, layer, target, method, x.shape, scores))
        fold_rows += [{"model": model, "layer": layer, "fold": f + 1, "n_test": len(splits[f]),
                       "r": scores.r[f, 0], "r2": scores.r2[f, 0], "mse": scores.mse[f, 0],
                       "auroc": np.nan if scores.auroc is None else scores.auroc[f, 0],
                       "penalty": scores.penalty[f]} for f in range(len(splits))]
    return {"rows": rows, "folds": fold_rows}


def _layer_row(model: str, layer: int, target: str, method: str, shape: tuple[int, int],
               scores: FoldScores) -> dict:
    mean_r = np.nanmean(scores.r, axis=0)            # [1 + shuffles]
    key = scores.auroc if scores.auroc is not None else scores.r
    observed = np.nanmean(key, axis=0)
    null = observed[1:]
    return {"model": model, "layer": layer, "target": target, "method": method, "n": shape[0],
            "features": shape[1], "r": mean_r[0], "r_sd": float(np.nanstd(scores.r[:, 0], ddof=1)),
            "r2": float(np.nanmean(scores.r2[:, 0])), "mse": float(np.nanmean(scores.mse[:, 0])),
            "auroc": np.nan if scores.auroc is None else observed[0],
            "penalty": float(np.median(scores.penalty)) if np.isfinite(scores.penalty).any()
            else np.nan,
            "null_mean": float(np.nanmean(null)) if null.size else np.nan,
            "null_95": float(np.nanpercentile(null, 95)) if null.size else np.nan,
            "p_perm": float((1 + np.sum(null >= observed[0])) / (1 + null.size))
            if null.size else np.nan}


def _best(model: str, layer_rows: list[dict], run: pd.DataFrame, ids: list[str], target: str,
          measures: list[str], notes: list[str]) -> dict:
    """The run's best layer (highest mean r, or AUROC for correctness) beside the best output
    measure on the same questions: its Pearson r with the target (as an uncertainty), or for
    correctness the AUROC of its certainty."""
    key = "auroc" if target == CORRECT else "r"
    top = max(layer_rows, key=lambda row: -np.inf if np.isnan(row[key]) else row[key])
    rows = run.set_index(run["question_id"].astype(str)).loc[ids]
    y = _target_of(rows, target)
    values = measure_values(rows, [m for m in measures if rows[m].notna().all()], "raw", notes,
                            model)
    score = {name: (auroc(y, -v) if target == CORRECT else stats.pearsonr(v, y)[0])
             for name, v in values.items() if np.ptp(v) > 0}
    best_measure = max(score, key=lambda m: score[m]) if score else None
    return {"model": model, "target": target, "n": len(ids), "layers": len(layer_rows),
            "best_layer": top["layer"], "depth": top["layer"] / max(r["layer"] for r in layer_rows),
            f"probe_{key}": top[key], "best_measure": best_measure,
            f"measure_{key}": score.get(best_measure, np.nan) if best_measure else np.nan}


def _pairs(table: pd.DataFrame, pair: list[str] | None, notes: list[str]) -> pd.DataFrame:
    """Base against instruct over layers: Wilcoxon signed-rank of the per-layer mean r (or
    AUROC) differences, base - instruct, paired by layer number; normal approximation,
    r = |z|/√L (the successor's)."""
    models = list(dict.fromkeys(table["model"]))
    pairs = given_pairs(pair, models) if pair else detect_pairs(models)
    rows = []
    for base, instruct in pairs:
        b = table[table["model"] == base].set_index("layer")
        i = table[table["model"] == instruct].set_index("layer")
        key = "auroc" if b["method"].eq("logistic").all() else "r"
        common = b.index.intersection(i.index)
        if len(common) != len(b) or len(common) != len(i):
            notes.append(f"{base} / {instruct}: different layer counts ({len(b)}, {len(i)}); "
                         "not paired")
            continue
        d = (b.loc[common, key] - i.loc[common, key]).to_numpy(float)
        if not np.isfinite(d).all() or not d.any():
            notes.append(f"{base} / {instruct}: {key} is missing or equal at every layer; "
                         "not tested")
            continue
        test = stats.wilcoxon(d, zero_method="wilcox", method="approx")
        z = abs(float(test.zstatistic))
        rows.append({"base": base, "instruct": instruct, "layers": len(common),
                     "base_peak": int(b[key].idxmax()), "instruct_peak": int(i[key].idxmax()),
                     "mean_difference": float(d.mean()), "wilcoxon_p": float(test.pvalue),
                     "r": z / np.sqrt(len(common))})
    return table_frame(rows, "probe", "pairs")


def _notes(method: str, shuffles: int, folds: int, seed: int) -> list[str]:
    what = {"ridge": "ridge, penalty by 5-fold nested CV, features standardised in each fold",
            "ols": "least squares, minimum norm (the successor's; R² is often negative when "
                   "features outnumber rows)",
            "logistic": "L2 logistic, C by 5-fold nested CV; the shuffles use each fold's C"}
    return [f"probe: {what[method]}; {folds}-fold CV (KFold shuffle, seed {seed}); "
            f"{shuffles} shuffled targets per layer for null_mean, null_95 and p_perm"]

