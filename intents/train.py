"""Training for the linear intent classifier on frozen encoder embeddings.

Calibration uses out-of-fold predictions only, so the temperature and the out-of-scope thresholds
are chosen on data the head did not see.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from smallbot.errors import TrainingError

from .classifier import LinearIntentClassifier, OutOfScopePolicy
from .head import fit_linear_head, fit_temperature, softmax

log = logging.getLogger(__name__)

Encode = Callable[[Sequence[str]], np.ndarray]


def check_training_data(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """Raise TrainingError for data no model can learn from; return warnings for data that is merely weak."""
    if len(texts) != len(labels):
        raise TrainingError("texts and labels differ in length")
    if any(not str(t).strip() for t in texts):
        raise TrainingError("empty example text in intent training data")
    names = sorted(set(labels))
    if len(names) < 2:
        raise TrainingError(f"need at least two intents to train a classifier, got {names}")
    owner: dict[str, str] = {}
    for text, label in zip(texts, labels):
        key = " ".join(text.casefold().split())
        if owner.setdefault(key, label) != label:
            raise TrainingError(f"example {text!r} is given for both '{owner[key]}' and '{label}'")
    counts = {name: labels.count(name) for name in names}
    return [f"intent '{n}' has only {c} examples; 10 or more give reliable predictions"
            for n, c in counts.items() if c < 5]


def train_linear(texts: Sequence[str], labels: Sequence[str], encode: Encode, *, seed: int = 0,
                 out_of_scope: Sequence[str] = (), min_confidence: float = 0.5,
                 c: float = 10.0) -> LinearIntentClassifier:
    """Fit the head, calibrate temperature on out-of-fold logits, and pick the similarity floor."""
    texts, labels = list(texts), list(labels)
    for warning in check_training_data(texts, labels):
        log.warning(warning)
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[label] for label in labels])
    x = encode(texts)
    oof_logits, oof_sims = _out_of_fold(x, y, len(names), seed, c)
    temperature = fit_temperature(oof_logits, y)
    probs = softmax(oof_logits / temperature)
    # Similarity floor: keep 98% of unseen in-scope examples above it (2nd percentile of OOF similarity).
    min_similarity = float(np.percentile(oof_sims, 2)) if len(oof_sims) else 0.0
    if out_of_scope:
        oos_x = encode(list(out_of_scope))
        min_confidence, min_similarity = _tune_with_oos(probs, y, oof_sims, oos_x, x, names, seed, c,
                                                         temperature, min_confidence, min_similarity)
    weight, bias = fit_linear_head(x, y, len(names), c=c, seed=seed)
    accepted = (probs.max(1) >= min_confidence) & (oof_sims >= min_similarity)
    metrics = {
        "cv_accuracy": float((probs.argmax(1) == y).mean()),
        "cv_accuracy_with_rejects": float(((probs.argmax(1) == y) & accepted).mean()),
        "temperature": temperature,
        "examples": len(texts),
        "intents": len(names),
    }
    policy = OutOfScopePolicy(min_confidence=float(min_confidence), min_similarity=float(min_similarity))
    return LinearIntentClassifier(names, weight, bias, temperature, x, policy, metrics)


def _out_of_fold(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Logits and nearest-neighbour similarity for each example from a model that never saw it."""
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(y), dtype=int)
    per_class_min = np.bincount(y, minlength=n_classes).min()
    k = int(max(2, min(5, per_class_min)))
    for label in range(n_classes):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        folds[members] = np.arange(len(members)) % k
    logits = np.zeros((len(y), n_classes), dtype=np.float32)
    sims = np.zeros(len(y), dtype=np.float32)
    for fold in range(k):
        test, train = folds == fold, folds != fold
        if not test.any():
            continue
        weight, bias = fit_linear_head(x[train], y[train], n_classes, c=c, seed=seed)
        logits[test] = x[test] @ weight.T + bias
        sims[test] = (x[test] @ x[train].T).max(1)
    return logits, sims


def _tune_with_oos(probs, y, sims, oos_x, x, names, seed, c, temperature, min_confidence, min_similarity):
    """With out-of-scope examples given, choose both thresholds to balance in-scope accuracy and OOS recall."""
    weight, bias = fit_linear_head(x, y, len(names), c=c, seed=seed)
    oos_probs = softmax((oos_x @ weight.T + bias) / temperature).max(1)
    oos_sims = (oos_x @ x.T).max(1)
    correct = probs.argmax(1) == y
    best = (-1.0, min_confidence, min_similarity)
    for conf in np.linspace(0.1, 0.9, 17):
        for sim in np.unique(np.round(np.concatenate([[0.0], np.percentile(sims, [1, 2, 5, 10])]), 3)):
            in_ok = (correct & (probs.max(1) >= conf) & (sims >= sim)).mean()
            oos_ok = ((oos_probs < conf) | (oos_sims < sim)).mean()
            score = 0.5 * in_ok + 0.5 * oos_ok
            if score > best[0] + 1e-9:
                best = (score, float(conf), float(sim))
    return best[1], best[2]
