"""The one logistic-regression fit: scikit-learn's optimum where the objectives agree, shrinkage towards a prior,
class balancing, and a step that never overshoots."""

from __future__ import annotations

import numpy as np
import pytest

from smallbot.logistic import balanced_weights, fit_logistic, sigmoid


def _data(n: int, d: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, d)
    y = (x @ rng.normal(size=d) + rng.normal(size=n) > shift).astype(float)
    return x, y


def _gradient(x, y, fit, l2, s, centre, penalise_bias):
    z = np.column_stack([x, np.ones(len(x))])
    w = np.r_[fit.weights, fit.bias]
    penalty = np.full(len(w), l2)
    if not penalise_bias:
        penalty[-1] = 0.0
    return z.T @ (s * (sigmoid(z @ w) - y)) + penalty * (w - centre)


@pytest.mark.parametrize("balanced", [False, True])
def test_fit_reaches_scikit_learns_optimum_for_the_same_objective(balanced):
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, y = _data(600, 5, seed=1, shift=1.0)  # about a quarter positive
    reference = linear_model.LogisticRegression(
        C=0.5, class_weight="balanced" if balanced else None, tol=1e-10, max_iter=10_000
    ).fit(x, y)
    fit = fit_logistic(x, y, l2=1 / 0.5, sample_weight=balanced_weights(y) if balanced else None)
    np.testing.assert_allclose(fit.weights, reference.coef_[0], rtol=1e-5, atol=1e-6)
    assert fit.bias == pytest.approx(reference.intercept_[0], rel=1e-5, abs=1e-6)


def test_balanced_weights_put_the_boundary_between_a_rare_and_a_common_class():
    """With 1 positive per 30 negatives, class balancing still puts the boundary between the two groups."""
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(1.0, 0.3, 30), rng.normal(-1.0, 0.3, 900)][:, None]
    y = np.r_[np.ones(30), np.zeros(900)]
    assert balanced_weights(y)[:30].sum() == pytest.approx(balanced_weights(y)[30:].sum())
    fit = fit_logistic(x, y, sample_weight=balanced_weights(y))
    boundary = -fit.bias / fit.weights[0]
    assert fit.weights[0] > 0 and abs(boundary) < 0.3


def test_shrinkage_keeps_few_rows_near_the_prior_and_lets_many_rows_move_it():
    prior = (np.array([2.0, -1.0, 0.5]), -0.5)
    x, y = _data(4000, 3, seed=2)
    free = fit_logistic(x, y, l2=1e-6)

    def prior_fit(centre):
        return type(free)(centre[0], centre[1])

    def distance(fit, to):
        return float(np.abs(np.r_[fit.weights, fit.bias] - np.r_[to[0], to[1]]).max())

    few = fit_logistic(x[:5], y[:5], l2=10.0, centre=prior, penalise_bias=True)
    many = fit_logistic(x, y, l2=10.0, centre=prior, penalise_bias=True)
    assert distance(few, prior) < 0.3  # five rows barely move it
    unpenalised = (free.weights, free.bias)
    assert distance(many, unpenalised) < 0.2 * distance(prior_fit(prior), unpenalised)  # four thousand outweigh it
    assert distance(fit_logistic(x, y, l2=1e9, centre=prior, penalise_bias=True), prior) < 1e-4


@pytest.mark.parametrize("penalise_bias", [False, True])
def test_fit_from_a_confident_start_converges_to_the_optimum(penalise_bias):
    """A start far on the wrong side makes the Hessian nearly flat; a full Newton step would overshoot, the
    halved ones still end where the gradient is zero."""
    x, y = _data(300, 4, seed=3)
    centre = (np.array([-20.0, 20.0, -20.0, 20.0]), 15.0)
    fit = fit_logistic(x, y, l2=0.1, centre=centre, penalise_bias=penalise_bias)
    gradient = _gradient(x, y, fit, 0.1, np.ones(len(y)), np.r_[centre[0], centre[1]], penalise_bias)
    assert np.abs(gradient).max() < 1e-6


def test_sample_weights_count_a_row_as_that_many_copies():
    x, y = _data(200, 3, seed=4)
    counts = np.random.default_rng(5).integers(1, 4, len(y))
    weighted = fit_logistic(x, y, l2=1.0, sample_weight=counts.astype(float))
    copied = fit_logistic(np.repeat(x, counts, axis=0), np.repeat(y, counts), l2=1.0)
    np.testing.assert_allclose(weighted.weights, copied.weights, rtol=1e-8)
    assert weighted.bias == pytest.approx(copied.bias, rel=1e-8)
