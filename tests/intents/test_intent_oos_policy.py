"""The out-of-scope policy: which combiner is chosen, and that the logistic one finds the informative features."""

from __future__ import annotations

import numpy as np

from smallbot.intents.classifier import FEATURES, K_NEAREST, LinearIntentClassifier, OutOfScopePolicy
from smallbot.intents.train import GRID_FEATURES, LOGISTIC_MIN_OOS, choose_policy, fit_background, fit_gaussian

KNN = FEATURES.index("knn")


def _held_out(n_in: int, n_oos: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw features where only "knn" separates out-of-scope rows (the grid's three features are pure noise)."""
    rng = np.random.default_rng(seed)
    held = rng.standard_normal((n_in, len(FEATURES)))
    oos = rng.standard_normal((n_oos, len(FEATURES)))
    oos[:, KNN] -= 4.0
    return held, np.ones(n_in, dtype=bool), oos


def test_logistic_combiner_weighs_the_feature_that_separates_out_of_scope():
    held, correct, oos = _held_out(600, LOGISTIC_MIN_OOS)
    policy, chosen = choose_policy(held, correct, oos)
    assert chosen["combiner"] == "logistic"
    weights = np.abs(policy.weights)
    assert weights.argmax() == KNN and weights[KNN] > 3 * np.delete(weights, KNN).max()
    # the grid over the first three features could not have reached this
    assert chosen["oos_recall"] >= 0.95 and chosen["accuracy"] >= 0.95


def test_few_out_of_scope_examples_keep_the_three_feature_grid():
    held, correct, oos = _held_out(600, LOGISTIC_MIN_OOS - 1)
    policy, chosen = choose_policy(held, correct, oos)
    assert chosen["combiner"] == "grid"
    assert policy.weights[GRID_FEATURES:] == (0.0,) * (len(FEATURES) - GRID_FEATURES)


def test_distance_features_are_relative_mahalanobis_and_ten_nearest_mean():
    """relative_mahalanobis = background Gaussian's squared distance minus the nearest class's; knn = mean cosine
    of the K_NEAREST most similar stored examples; both rank a far-off point below one inside a class."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    x[150:, 1] += 3.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.r_[np.zeros(150, int), np.ones(150, int)]
    means, precision = fit_gaussian(x, y, 2)
    bg_mean, bg_precision = fit_background(x)
    clf = LinearIntentClassifier(["a", "b"], np.zeros((2, 8)), np.zeros(2), 1.0, x, means, precision,
                                 OutOfScopePolicy(), background=(bg_mean, bg_precision))
    queries = np.stack([x[0], -x.mean(axis=0) / np.linalg.norm(x.mean(axis=0))]).astype(np.float32)
    raw = clf.features(queries)[1]
    q = queries.astype(np.float64)
    class_d = np.stack([(((q - m) @ precision) * (q - m)).sum(1) for m in means], axis=1).min(axis=1)
    bg_d = (((q - bg_mean) @ bg_precision) * (q - bg_mean)).sum(1)
    np.testing.assert_allclose(raw[:, FEATURES.index("relative_mahalanobis")], bg_d - class_d, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(raw[:, KNN], np.sort(q @ x.T, axis=1)[:, -K_NEAREST:].mean(axis=1), atol=1e-5)
    relative = FEATURES.index("relative_mahalanobis")
    assert raw[0, KNN] > raw[1, KNN] and raw[0, relative] > raw[1, relative]
