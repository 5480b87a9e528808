"""Binary logistic regression by Newton's method: the one fit behind the FAQ confidence and the intent classifier's
out-of-scope combiner.

Both fit a handful of features on at most tens of thousands of rows, so a Newton step (one small linear solve)
converges in a few iterations, to the optimum rather than to a solver's tolerance, with numpy alone: nothing at
train or serve time needs a training library for it. It lives at the package's top level, next to `types` and
`errors`, because both `smallbot.knowledge` and `smallbot.intents` call it and neither may import the other.

>>> fit = fit_logistic(x, y, l2=1.0, sample_weight=balanced_weights(y))
>>> p = sigmoid(x @ fit.weights + fit.bias)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogisticFit:
    """Weights [d] and intercept of P(y=1 | x) = sigmoid(x @ weights + bias)."""

    weights: np.ndarray
    bias: float


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-row weights n / (2 n_class(row)), scikit-learn's `class_weight="balanced"`: each class counts half,
    however rare it is."""
    y = np.asarray(y, dtype=np.float64)
    positives = float(y.sum())
    return np.where(y > 0, len(y) / (2 * max(positives, 1.0)), len(y) / (2 * max(len(y) - positives, 1.0)))


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
    centre: tuple[np.ndarray, float] | None = None,
    penalise_bias: bool = False,
    iterations: int = 50,
) -> LogisticFit:
    """Minimise sum_i s_i * logloss_i + l2 / 2 * ||w - w0||^2 (maximum a posteriori with a Gaussian prior).

    `centre` = (w0, b0) pulls the fit towards known weights instead of zero (shrinkage towards a prior: with
    few rows the fit stays near it, with many it follows the data); it is also where Newton starts.
    `penalise_bias` puts the intercept under the same penalty (towards b0); otherwise it is free.
    `sample_weight` s_i defaults to 1 (`balanced_weights` evens out rare classes). `l2` = 1 / C in
    scikit-learn's convention.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    z = np.column_stack([x, np.ones(len(x))])
    if centre is None:
        start = np.zeros(z.shape[1])
    else:
        start = np.array([*np.asarray(centre[0], dtype=np.float64), float(centre[1])])
    w = start.copy()
    penalty = np.full(z.shape[1], float(l2))
    if not penalise_bias:
        penalty[-1] = 0.0

    def loss(w: np.ndarray) -> float:
        margin = z @ w
        return float(np.sum(s * (np.logaddexp(0.0, margin) - y * margin)) + 0.5 * penalty @ (w - start) ** 2)

    for _ in range(iterations):
        p = sigmoid(z @ w)
        grad = z.T @ (s * (p - y)) + penalty * (w - start)
        hess = (z * (s * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        # halve an overshooting step: from a confident start the Hessian is nearly flat and a full step can jump
        # past the optimum
        before, size = loss(w), 1.0
        while loss(w - size * step) > before and size > 1e-6:
            size /= 2
        w -= size * step
        if np.abs(size * step).max() < 1e-8:
            break
    return LogisticFit(w[:-1].copy(), float(w[-1]))
