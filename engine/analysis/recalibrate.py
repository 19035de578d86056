"""Post-hoc calibration of the label probabilities (``analyze recalibrate``).

Each run's questions with a correct answer are split at random (``np.random.default_rng(seed)
.permutation``): the first ``floor(split/100 N)`` (at least 1, at most N - 1) fit each map, the
others evaluate it. The label probabilities ``q`` are stored unnormalised (they sum to
``choice_mass``, SCIENCE.md §1); every map starts from ``r = q / sum q``, whose largest value is
``choice_top1``. None of the maps changes the answer (the argmax), only the confidence in it:

- ``temperature``: ``softmax(log r / T)`` over the options, T > 0 minimising the mean negative
  log-likelihood of the correct options on the fit part (bounded search over log T in
  [-5, 5]); the confidence is its largest value.
- ``platt``: ``sigmoid(a logit(c) + b)`` of the top-label confidence c, (a, b) the maximum
  likelihood logistic regression of correctness on logit(c) (no regularisation, no target
  smoothing; c clipped to [1e-12, 1 - 1e-12]).
- ``isotonic``: the non-decreasing step map of c to correctness by pool-adjacent-violators
  (tied confidences first pooled into their mean, weighted by count), applied by linear
  interpolation between the fitted points and clipped beyond them (scikit-learn's
  ``IsotonicRegression(out_of_bounds="clip")``).

On the evaluation part the table gives the conventional ECE (``ece.conventional_ece``,
``bins`` equal-width bins) and the top-label Brier ``mean (c - y)^2`` of the confidence before
(c = ``max r``) and after the map.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from common.errors import BadInput
from engine.analysis.ece import conventional_ece
from engine.analysis.frames import Analysis
from engine.analysis.scoring import scored_questions
from engine.analysis.tables import TableResult, runs, table_frame
from engine.lab.analyses import default

EPS = 1e-12
LOG_T_BOUNDS = (-5.0, 5.0)


def split_rows(n: int, split: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The row indices that fit and those that evaluate (``split`` percent fit)."""
    if n < 2:
        raise BadInput(f"{n} question(s): too few to fit on some and evaluate on the others")
    order = np.random.default_rng(seed).permutation(n)
    n_fit = min(n - 1, max(1, n * split // 100))
    return np.sort(order[:n_fit]), np.sort(order[n_fit:])


def log_probabilities(r: np.ndarray) -> np.ndarray:
    """``log r``, a zero probability (and the padding beyond a question's options, which
    :func:`temperature_probabilities` masks) as the log of a tiny one."""
    return np.log(np.clip(r, 1e-300, None))


def temperature_probabilities(log_r: np.ndarray, n_choices: np.ndarray,
                              temperature: float) -> np.ndarray:
    """``softmax(log r / T)`` over each question's options."""
    options = np.arange(log_r.shape[1])[None, :] < n_choices[:, None]
    scaled = np.where(options, log_r / temperature, -np.inf)
    return np.exp(scaled - special.logsumexp(scaled, axis=1, keepdims=True))


def fit_temperature(log_r: np.ndarray, n_choices: np.ndarray, correct: np.ndarray) -> float:
    """The T minimising the mean negative log-likelihood of the correct options."""
    rows = np.arange(len(correct))

    def nll(log_t: float) -> float:
        p = temperature_probabilities(log_r, n_choices, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(p[rows, correct], 1e-300, None))))

    res = optimize.minimize_scalar(nll, bounds=LOG_T_BOUNDS, method="bounded",
                                   options={"xatol": 1e-8})
    return float(np.exp(res.x))


def logit(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, EPS, 1 - EPS)
    return np.log(c) - np.log1p(-c)


def fit_platt(conf: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of the maximum likelihood ``P(y = 1) = sigmoid(a logit(c) + b)``."""
    x = logit(conf)

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * x + ab[1]
        # -log-likelihood = sum log(1 + e^z) - y z; its gradient (sigmoid(z) - y) [x, 1]
        residual = special.expit(z) - y
        return (float(np.sum(np.logaddexp(0.0, z) - y * z)),
                np.array([np.sum(residual * x), np.sum(residual)]))

    res = optimize.minimize(loss, np.array([1.0, 0.0]), jac=True, method="BFGS",
                            options={"gtol": 1e-10})
    return float(res.x[0]), float(res.x[1])


def pool_adjacent_violators(y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of ``y`` (in its order)."""
    values, weights, sizes = [], [], []
    for value, w in zip(y.astype(float), weight.astype(float), strict=True):
        values.append(value)
        weights.append(w)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            w_sum = weights[-2] + weights[-1]
            values[-2] = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w_sum
            weights[-2] = w_sum
            sizes[-2] += sizes[-1]
            del values[-1], weights[-1], sizes[-1]
    return np.repeat(values, sizes)


def fit_isotonic(conf: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct confidences and their fitted correctness (see the module docstring)."""
    xs, index, counts = np.unique(conf, return_inverse=True, return_counts=True)
    means = np.bincount(index, y, xs.size) / counts
    return xs, pool_adjacent_violators(means, counts)


def _cells(conf: np.ndarray, y: np.ndarray, bins: int) -> tuple[float, float]:
    return conventional_ece(conf, y, bins).ece, float(np.mean((conf - y) ** 2))


def recalibrate_run(r: np.ndarray, n_choices: np.ndarray, correct: np.ndarray, y: np.ndarray,
                    bins: int, seed: int, split: int) -> list[dict]:
    """The rows (before/after, fitted map) of the three maps for one run."""
    fit, ev = split_rows(len(y), split, seed)
    log_r = log_probabilities(r)
    conf = r.max(axis=1)
    before = _cells(conf[ev], y[ev], bins)
    t = fit_temperature(log_r[fit], n_choices[fit], correct[fit])
    a, b = fit_platt(conf[fit], y[fit])
    xs, ys = fit_isotonic(conf[fit], y[fit])
    after = {
        "temperature": (temperature_probabilities(log_r[ev], n_choices[ev], t).max(axis=1),
                        f"T = {t:.4g}"),
        "platt": (special.expit(a * logit(conf[ev]) + b), f"a = {a:.4g}, b = {b:.4g}"),
        "isotonic": (np.interp(conf[ev], xs, ys), f"{np.unique(ys).size} steps"),
    }
    return [{"method": method, "n_fit": int(fit.size), "n_eval": int(ev.size),
             "temperature": t if method == "temperature" else np.nan, "fitted": fitted,
             "ece_before": before[0], "brier_before": before[1],
             **dict(zip(("ece_after", "brier_after"), _cells(c, y[ev], bins), strict=True))}
            for method, (c, fitted) in after.items()]


def recalibrate_table(a: Analysis, bins: int = default("bins"), seed: int = default("seed"),
                      split: int = default("split")) -> TableResult:
    """Temperature, Platt and isotonic recalibration per run, fitted on ``split`` percent."""
    rows, notes = [], []
    for model, run in runs(a):
        run, r, y = scored_questions(model, run, notes)
        try:
            cells = recalibrate_run(r, run["n_choices"].to_numpy(int),
                                    run["correct"].to_numpy(int), y, bins, seed, split)
        except BadInput as err:
            notes.append(f"{model}: skipped ({err.what})")
            continue
        rows += [{"model": model, **cell} for cell in cells]
        if np.isclose(np.log(cells[0]["temperature"]), LOG_T_BOUNDS, atol=1e-3).any():
            notes.append(f"{model}: the temperature stopped at its bound (T = "
                         f"{cells[0]['temperature']:.4g}): the fit part is best served by "
                         "near-uniform (or near-one-hot) probabilities")
    return TableResult("recalibrate", table_frame(rows, "recalibrate"), notes=notes)
