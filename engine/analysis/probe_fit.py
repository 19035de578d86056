"""Linear probes, cross-validated: ridge with its penalty chosen by nested cross-validation, the
successor's plain least squares, and a logistic probe for correctness. Pure numpy/scipy on one
layer's ``[n, features]`` matrix; the table over layers and runs is ``engine.analysis.probe``.

Every fit sees only its training rows: the features are centred (ridge and logistic: also scaled
to unit variance) with the training rows' mean and standard deviation, and the penalty is chosen
on inner folds of the training rows alone. Many targets are fitted at once (the observed one and
its permutations) from one SVD per fold, so a permutation baseline costs little more than the
probe itself.

Folds are scikit-learn's ``KFold(k, shuffle=True, random_state=seed)`` exactly (the successor
used seed 42), so a probe can be checked against scikit-learn fold by fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import rankdata

RIDGE_ALPHAS = np.logspace(-2, 7, 19)     # penalties tried, on standardised features
LOGISTIC_CS = np.logspace(-4, 2, 7)        # inverse penalties tried (scikit-learn's C)
INNER_FOLDS = 5


def kfold(n: int, k: int, seed: int) -> list[np.ndarray]:
    """Test rows of each fold, as ``KFold(k, shuffle=True, random_state=seed).split``."""
    if k > n:
        raise ValueError(f"{k} folds need at least {k} rows (have {n})")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    return np.split(order, np.cumsum(sizes)[:-1])


def _standardise(train: np.ndarray, test: np.ndarray, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    sd = train.std(axis=0) if scale else np.ones(train.shape[1])
    sd[sd == 0] = 1.0
    return (train - mean) / sd, (test - mean) / sd


def _least_squares(z_train: np.ndarray, yc: np.ndarray, z_test: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares predictions (numpy lstsq's cut-off: singular values below
    s_max·max(n, p)·eps count as zero)."""
    u, s, vt = np.linalg.svd(z_train, full_matrices=False)
    keep = s > s.max(initial=0.0) * max(z_train.shape) * np.finfo(float).eps
    return (z_test @ vt[keep].T / s[keep]) @ (u[:, keep].T @ yc)


def _ridge(z_train: np.ndarray, yc: np.ndarray, z_test: np.ndarray,
           alphas: np.ndarray) -> np.ndarray:
    """Ridge predictions ``[alphas, n_test, targets]`` from one eigendecomposition of the
    smaller Gram matrix (n x n where features outnumber rows, as they do for probes)."""
    if len(z_train) <= z_train.shape[1]:     # Z'(ZZ' + aI)^-1 y
        w, u = np.linalg.eigh(z_train @ z_train.T)
        proj, coef = z_test @ (z_train.T @ u), u.T @ yc
    else:                                    # (Z'Z + aI)^-1 Z'y
        w, v = np.linalg.eigh(z_train.T @ z_train)
        proj, coef = z_test @ v, v.T @ (z_train.T @ yc)
    shrink = 1.0 / (np.clip(w, 0.0, None)[None, :] + alphas[:, None])
    return (proj[None] * shrink[:, None, :]) @ coef


def linear_predictions(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                       alphas: np.ndarray | None, scale: bool) -> np.ndarray:
    """``[len(alphas) or 1, n_test, targets]``: ridge (or least squares, ``alphas`` None) with an
    intercept, for each column of ``y_train`` ``[n_train, targets]``."""
    z_train, z_test = _standardise(x_train, x_test, scale)
    y_mean = y_train.mean(axis=0)
    yc = y_train - y_mean
    if alphas is None:
        return _least_squares(z_train, yc, z_test)[None] + y_mean
    return _ridge(z_train, yc, z_test, alphas) + y_mean


def choose_alpha(x: np.ndarray, y: np.ndarray, alphas: np.ndarray, seed: int,
                 inner: int = INNER_FOLDS) -> np.ndarray:
    """Per column of ``y``, the index of the penalty with the least mean squared error over
    ``inner`` folds of these rows (the first of equals, as scikit-learn's grid search)."""
    mse = np.zeros((len(alphas), y.shape[1]))
    for test in kfold(len(x), inner, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        pred = linear_predictions(x[train], y[train], x[test], alphas, scale=True)
        mse += ((pred - y[test][None]) ** 2).mean(axis=1) / inner
    return mse.argmin(axis=0)


@dataclass
class FoldScores:
    """Per fold (rows) and target (columns: the observed one first, then its permutations)."""

    r: np.ndarray
    r2: np.ndarray
    mse: np.ndarray
    penalty: np.ndarray        # the chosen alpha or C, per fold (observed target); NaN for OLS
    auroc: np.ndarray | None = None


def pearson_columns(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pearson r of each column pair (NaN where either is constant)."""
    yc, pc = y - y.mean(axis=0), pred - pred.mean(axis=0)
    den = np.sqrt((yc ** 2).sum(axis=0) * (pc ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (yc * pc).sum(axis=0) / den
    return np.where(den > 1e-12 * max(1.0, float(np.abs(y).max())), r, np.nan)


def _regression_scores(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    resid = ((y - pred) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(total > 0, 1 - resid / total, np.nan)
    return pearson_columns(y, pred), r2, resid / len(y)


def linear_probe(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray], method: str,
                 seed: int) -> FoldScores:
    """Cross-validated ridge (penalty by nested CV) or least squares (``method`` ``ols``, on
    centred, unscaled features, as the successor) of each column of ``y`` on ``x``."""
    shape = (len(folds), y.shape[1])
    r, r2, mse = np.empty(shape), np.empty(shape), np.empty(shape)
    penalty = np.full(len(folds), np.nan)
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(x)), test)
        if method == "ols":
            pred = linear_predictions(x[train], y[train], x[test], None, scale=False)[0]
        else:
            best = choose_alpha(x[train], y[train], RIDGE_ALPHAS, seed)
            every = linear_predictions(x[train], y[train], x[test], RIDGE_ALPHAS, scale=True)
            pred = every[best, :, np.arange(y.shape[1])].T
            penalty[f] = RIDGE_ALPHAS[best[0]]
        r[f], r2[f], mse[f] = _regression_scores(y[test], pred)
    return FoldScores(r, r2, mse, penalty)


# ---------------------------------------------------------------------- logistic


def _logistic_fit(z: np.ndarray, y: np.ndarray, c: float, start: np.ndarray | None) -> np.ndarray:
    """Weights (intercept last) minimising 0.5·|w|² + C·Σ log-loss (scikit-learn's L2 objective;
    the intercept unpenalised)."""
    zx = np.hstack([z, np.ones((len(z), 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        t = zx @ w
        nll = np.logaddexp(0, t).sum() - y @ t
        grad = c * (zx.T @ (expit(t) - y))
        grad[:-1] += w[:-1]
        return 0.5 * w[:-1] @ w[:-1] + c * nll, grad

    w0 = np.zeros(zx.shape[1]) if start is None else start
    return minimize(loss, w0, jac=True, method="L-BFGS-B",
                    options={"maxiter": 2000, "gtol": 1e-8}).x


def _log_loss(y: np.ndarray, t: np.ndarray) -> float:
    return float((np.logaddexp(0, t) - y * t).mean())


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``y`` = 1 (ties count half; NaN with one class)."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def choose_c(x: np.ndarray, y: np.ndarray, seed: int, inner: int = INNER_FOLDS) -> float:
    """The C of least mean inner-fold log-loss."""
    losses = np.zeros(len(LOGISTIC_CS))
    for test in kfold(len(x), inner, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        z_train, z_test = _standardise(x[train], x[test], scale=True)
        w = None
        for i, c in enumerate(LOGISTIC_CS):   # increasing C, each warm-started from the last
            w = _logistic_fit(z_train, y[train], c, w)
            losses[i] += _log_loss(y[test], z_test @ w[:-1] + w[-1]) / inner
    return float(LOGISTIC_CS[losses.argmin()])


def logistic_probe(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray], seed: int) -> FoldScores:
    """Cross-validated L2 logistic regression of each 0/1 column of ``y``: C by nested CV on the
    observed column; its permutations are refitted with that fold's C (a nested choice per
    permutation would cost the grid again for each). Scores: AUROC, and r, R², MSE of the
    predicted probability."""
    shape = (len(folds), y.shape[1])
    r, r2, mse, area = (np.empty(shape) for _ in range(4))
    penalty = np.empty(len(folds))
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(x)), test)
        penalty[f] = c = choose_c(x[train], y[train, 0], seed)
        z_train, z_test = _standardise(x[train], x[test], scale=True)
        prob = np.empty((len(test), y.shape[1]))
        for j in range(y.shape[1]):
            w = _logistic_fit(z_train, y[train, j], c, None)
            prob[:, j] = expit(z_test @ w[:-1] + w[-1])
            area[f, j] = auroc(y[test, j], prob[:, j])
        r[f], r2[f], mse[f] = _regression_scores(y[test], prob)
    return FoldScores(r, r2, mse, penalty, area)
