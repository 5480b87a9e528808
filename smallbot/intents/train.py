"""Training for the intent classifier on frozen encoder embeddings.

Recipe (chosen by measurement on CLINC150, see benchmarks/RESULTS.md "## Intents"): multinomial
logistic regression (C=10) on the shared encoder's embeddings, temperature scaling, and an
out-of-scope score over the classifier's FEATURES (calibrated confidence, Mahalanobis closeness to the
nearest class mean with tied shrunk covariance, nearest-example and 10-nearest cosine, relative
Mahalanobis, energy, margin). With enough held-out out-of-scope examples a class-balanced logistic
model (correct in-scope vs out-of-scope) weighs all of them; with few, a small grid over the first three.
The head is fitted on whatever encoder the bot serves: the packaged one, or THE encoder after contrastive
tuning on FAQ phrasings and/or intent examples (`smallbot.encoding.contrastive`, run by `smallbot train` before this
step), so one encoder pass per message still serves intents and retrieval.

Calibration only ever uses held-out data: an explicit validation set when given (benchmarks), else
out-of-fold predictions, so temperature, weights and threshold come from data the head did not see.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from smallbot.errors import TrainingError
from smallbot.logistic import balanced_weights, fit_logistic

from .classifier import FEATURES, LinearIntentClassifier, OutOfScopePolicy, fill_logit_features
from .head import fit_linear_head, fit_temperature

log = logging.getLogger(__name__)

Encode = Callable[[Sequence[str]], np.ndarray]

SHRINKAGE = 0.1  # covariance shrinkage towards a scaled identity; 10-shot data needs it
IN_SCOPE_KEEP = 0.95  # without out-of-scope examples: accept this share of held-out in-scope messages
DEFAULT_WEIGHTS = (1.0, 1.0) + (0.0,) * (len(FEATURES) - 2)
MIN_KEEP = 0.85  # with few out-of-scope examples, never trade away more than 15% of held-out in-scope
# Fewer held-out out-of-scope examples than this: the 3-feature weight grid (as before format 3), since a
# 7-weight logistic model on a handful of points overfits them; the example bot has 16, CLINC150 val 100.
LOGISTIC_MIN_OOS = 50
GRID_FEATURES = 3  # the grid searches weights of FEATURES[:3]; the others get 0
COMBINER_C = 1.0  # L2 strength of the logistic combiner (sklearn's C convention)


@dataclass(frozen=True)
class Validation:
    """Held-out data to calibrate on instead of out-of-fold predictions."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    out_of_scope: tuple[str, ...] = ()


def check_training_data(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """Raise TrainingError for data no model can learn from; return warnings for data that is merely weak."""
    if len(texts) != len(labels):
        raise TrainingError(f"{len(texts)} texts but {len(labels)} labels: give one intent per example")
    for text, label in zip(texts, labels):
        if not str(text).strip():
            raise TrainingError(f"empty example text in intent '{label}': remove it or write the example")
    names = sorted(set(labels))
    if len(names) < 2:
        raise TrainingError(
            f"need at least two intents to train a classifier, got {names}: add another intent "
            "(or use out_of_scope examples for what the bot should not handle)"
        )
    owner: dict[str, str] = {}
    for text, label in zip(texts, labels):
        key = " ".join(text.casefold().split())
        if owner.setdefault(key, label) != label:
            raise TrainingError(
                f"example {text!r} is given for both '{owner[key]}' and '{label}': keep it in one intent only"
            )
    counts = {name: labels.count(name) for name in names}
    single = sorted(n for n, c in counts.items() if c < 2)
    if single:
        raise TrainingError(
            f"intent(s) {', '.join(single)} have a single example: give each intent at least 2 "
            "(ideally 10 or more) so calibration can hold one out"
        )
    return [
        f"intent '{n}' has only {c} examples; 10 or more give reliable predictions" for n, c in counts.items() if c < 5
    ]


def fit_gaussian(
    x: np.ndarray, y: np.ndarray, n_classes: int, shrinkage: float = SHRINKAGE
) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the precision of a tied covariance shrunk towards a scaled identity."""
    means = np.stack([x[y == k].mean(axis=0) for k in range(n_classes)]).astype(np.float64)
    return means.astype(np.float32), _shrunk_precision(x.astype(np.float64) - means[y], shrinkage)


def fit_background(x: np.ndarray, shrinkage: float = SHRINKAGE) -> tuple[np.ndarray, np.ndarray]:
    """One Gaussian of all training data (mean [1, d], shrunk precision) for the relative Mahalanobis feature."""
    mean = x.astype(np.float64).mean(axis=0, keepdims=True)
    return mean.astype(np.float32), _shrunk_precision(x.astype(np.float64) - mean, shrinkage)


def _shrunk_precision(resid: np.ndarray, shrinkage: float) -> np.ndarray:
    """Inverse of the residuals' covariance shrunk towards a scaled identity."""
    cov = resid.T @ resid / max(1, len(resid))
    dim = cov.shape[0]
    cov = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / dim + 1e-6) * np.eye(dim)
    return np.linalg.inv(cov).astype(np.float32)


def train_linear(
    texts: Sequence[str],
    labels: Sequence[str],
    encode: Encode,
    *,
    seed: int = 0,
    out_of_scope: Sequence[str] = (),
    validation: Validation | None = None,
    c: float = 10.0,
    keep: float = IN_SCOPE_KEEP,
) -> LinearIntentClassifier:
    """Fit the head, then calibrate temperature and the out-of-scope policy on held-out data.

    `out_of_scope` examples (from intents files) are never trained on as a class here; they choose the
    feature weights (logistic combiner from LOGISTIC_MIN_OOS of them, else the grid) and the threshold.
    Without any, the threshold keeps `keep` of held-out in-scope.
    """
    texts, labels = list(texts), list(labels)
    for warning in check_training_data(texts, labels):
        log.warning(warning)
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[label] for label in labels])
    x = encode(texts)
    if validation is None:
        oos_x = encode(list(out_of_scope)) if out_of_scope else np.zeros((0, x.shape[1]), np.float32)
        held_logits, held_raw, held_y, oos_logits, oos_raw = _out_of_fold(x, y, oos_x, len(names), seed, c)
    else:
        unknown = sorted(set(validation.labels) - set(names))
        if unknown:
            raise TrainingError(f"validation labels {unknown} are not intents of the training data")
        held_y = np.array([index[label] for label in validation.labels])
        oos = list(validation.out_of_scope) or list(out_of_scope)
        model = _fit(x, y, len(names), seed, c)
        held_logits, held_raw = _raw(model, encode(list(validation.texts)))
        oos_logits, oos_raw = _raw(model, encode(oos) if oos else np.zeros((0, x.shape[1]), np.float32))
    temperature = fit_temperature(held_logits, held_y)
    held_probs = fill_logit_features(held_raw, held_logits / temperature)
    if len(oos_raw):
        fill_logit_features(oos_raw, oos_logits / temperature)
    correct = held_probs.argmax(axis=1) == held_y
    policy, chosen = choose_policy(held_raw, correct, oos_raw, keep)
    weight, bias = fit_linear_head(x, y, len(names), c=c, seed=seed)
    means, precision = fit_gaussian(x, y, len(names))
    lost = _lost_to_out_of_scope(policy, held_raw, held_y, names) if len(oos_raw) else {}
    for name, share in lost.items():
        log.warning(
            "intent '%s': %.0f%% of its held-out examples are rejected as out of scope; some out_of_scope "
            "examples look like it: remove those, or give the intent more varied examples",
            name,
            100 * share,
        )
    metrics = {
        "oos_combiner": chosen["combiner"],
        "held_out": "validation" if validation is not None else "out-of-fold",
        "held_out_accuracy": round(float(correct.mean()), 4),
        "held_out_accuracy_with_rejects": chosen["accuracy"],
        # None, not 0.0, when there was nothing out of scope to recall
        "held_out_oos_recall": chosen["oos_recall"] if len(oos_raw) else None,
        "lost_to_out_of_scope": lost,
        "held_out_oos_examples": int(len(oos_raw)),
        "temperature": round(temperature, 4),
        "examples": len(texts),
        "intents": len(names),
    }
    return LinearIntentClassifier(
        names, weight, bias, temperature, x, means, precision, policy, metrics, fit_background(x)
    )


LOST_SHARE = 0.3  # an intent losing this share of its held-out examples to the out-of-scope check is named


def _lost_to_out_of_scope(
    policy: OutOfScopePolicy, held_raw: np.ndarray, held_y: np.ndarray, names: Sequence[str]
) -> dict[str, float]:
    """Intents whose held-out examples the chosen policy rejects most (share >= LOST_SHARE), worst first: the
    out_of_scope examples that chose the policy overlap them (CLINC150's "what does X mean" against
    `definition`)."""
    z = (held_raw - np.array(policy.center)) / np.array(policy.scale)
    rejected = z @ np.array(policy.weights) < policy.threshold
    shares = {names[i]: float(rejected[held_y == i].mean()) for i in range(len(names)) if (held_y == i).sum() >= 2}
    worst = sorted(((share, name) for name, share in shares.items() if share >= LOST_SHARE), reverse=True)
    return {name: round(share, 3) for share, name in worst}


def choose_policy(
    held_raw: np.ndarray, correct: np.ndarray, oos_raw: np.ndarray, keep: float = IN_SCOPE_KEEP
) -> tuple[OutOfScopePolicy, dict]:
    """Standardise features on held-out in-scope data, then pick weights and threshold.

    With >= LOGISTIC_MIN_OOS out-of-scope examples the weights come from `combine_logistic` (all features);
    with fewer, from a 0 / 0.5 / 1 grid over the first GRID_FEATURES; either way the threshold maximises
    in-scope accuracy with rejects + OOS recall, accepting at least MIN_KEEP of held-out in-scope. Without
    out-of-scope examples: DEFAULT_WEIGHTS and the threshold that keeps `keep` of held-out in-scope messages.
    """
    center = held_raw.mean(axis=0)
    scale = held_raw.std(axis=0) + 1e-6
    z_in = (held_raw - center) / scale
    z_oos = (oos_raw - center) / scale
    combiner = "default"
    if len(oos_raw) == 0:
        weights = np.array(DEFAULT_WEIGHTS)
        scores = z_in @ weights
        threshold = float(np.quantile(scores, 1 - keep))
        accuracy, recall = float((correct & (scores >= threshold)).mean()), 0.0
    elif len(oos_raw) >= LOGISTIC_MIN_OOS and correct.any():
        combiner = "logistic"
        weights = combine_logistic(z_in[correct], z_oos)
        threshold, accuracy, recall = balanced_threshold(z_in @ weights, correct, z_oos @ weights)
    else:
        combiner = "grid"
        best: tuple[np.ndarray, tuple[float, float, float]] | None = None
        for combo in itertools.product((0.0, 0.5, 1.0), repeat=GRID_FEATURES):
            if not any(combo):
                continue
            weights = np.array(combo + (0.0,) * (held_raw.shape[1] - GRID_FEATURES))
            point = balanced_threshold(z_in @ weights, correct, z_oos @ weights)
            if best is None or point[1] + point[2] > best[1][1] + best[1][2] + 1e-9:
                best = (weights, point)
        assert best is not None  # the grid holds non-zero combinations
        weights, (threshold, accuracy, recall) = best
    policy = OutOfScopePolicy(
        tuple(float(w) for w in weights), tuple(float(v) for v in center), tuple(float(v) for v in scale), threshold
    )
    return policy, {"accuracy": round(accuracy, 4), "oos_recall": round(recall, 4), "combiner": combiner}


def balanced_threshold(s_in: np.ndarray, correct: np.ndarray, s_oos: np.ndarray) -> tuple[float, float, float]:
    """(threshold, accuracy with rejects, OOS recall) maximising the sum, keeping >= MIN_KEEP of in-scope.

    The sum rather than accuracy at a fixed recall: on CLINC150 val halves a threshold set at exactly 90%
    recall on one half reached only 84-89% on the other, while this rule kept 97% (benchmarks/HISTORY.md).
    """
    ceiling = np.quantile(s_in, 1 - MIN_KEEP)
    candidates = np.quantile(np.concatenate([s_in, s_oos]), np.linspace(0, 1, 201))
    best: tuple[float, float, float] | None = None
    for threshold in np.unique(np.minimum(candidates, ceiling)):
        accuracy = float((correct & (s_in >= threshold)).mean())
        recall = float((s_oos < threshold).mean())
        if best is None or accuracy + recall > best[1] + best[2] + 1e-9:
            best = (float(threshold), accuracy, recall)
    assert best is not None  # np.unique of a non-empty array is non-empty
    return best


def combine_logistic(z_correct: np.ndarray, z_oos: np.ndarray, c: float = COMBINER_C) -> np.ndarray:
    """Feature weights of a class-balanced, L2-regularised logistic model: correct in-scope vs out of scope.

    Fitted on rightly classified in-scope rows only, because rejecting a wrong prediction costs nothing;
    balanced because there are ~30x more in-scope rows. The intercept is dropped: the threshold replaces it.
    """
    x = np.concatenate([z_correct, z_oos])
    y = np.r_[np.ones(len(z_correct)), np.zeros(len(z_oos))]
    return fit_logistic(x, y, l2=1.0 / c, sample_weight=balanced_weights(y)).weights


@dataclass(frozen=True)
class _Model:
    weight: np.ndarray
    bias: np.ndarray
    examples: np.ndarray
    means: np.ndarray
    precision: np.ndarray
    background: tuple[np.ndarray, np.ndarray]


def _fit(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int, c: float) -> _Model:
    weight, bias = fit_linear_head(x, y, n_classes, c=c, seed=seed)
    means, precision = fit_gaussian(x, y, n_classes)
    return _Model(weight, bias, x, means, precision, fit_background(x))


def _raw(model: _Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits and raw features (the logit features are refilled after temperature scaling)."""
    clf = LinearIntentClassifier(
        [str(i) for i in range(len(model.bias))],
        model.weight,
        model.bias,
        1.0,
        model.examples,
        model.means,
        model.precision,
        OutOfScopePolicy(),
        background=model.background,
    )
    if len(x) == 0:
        return np.zeros((0, len(model.bias)), np.float32), np.zeros((0, len(FEATURES)), np.float32)
    _, raw = clf.features(x)
    return x @ model.weight.T + model.bias, raw


def _out_of_fold(x, y, oos_x, n_classes, seed, c):
    """Held-out logits/features for every example (and OOS example) from a model that never saw it."""
    rng = np.random.default_rng(seed)
    per_class_min = np.bincount(y, minlength=n_classes).min()
    k = int(max(2, min(5, per_class_min)))
    folds = np.zeros(len(y), dtype=int)
    for label in range(n_classes):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        folds[members] = (np.arange(len(members)) + rng.integers(k)) % k
    oos_folds = rng.permutation(len(oos_x)) % k
    logits = np.zeros((len(y), n_classes), np.float32)
    raw = np.zeros((len(y), len(FEATURES)), np.float32)
    oos_logits = np.zeros((len(oos_x), n_classes), np.float32)
    oos_raw = np.zeros((len(oos_x), len(FEATURES)), np.float32)
    for fold in range(k):
        test, train = folds == fold, folds != fold
        model = _fit(x[train], y[train], n_classes, seed, c)
        logits[test], raw[test] = _raw(model, x[test])
        if (oos_folds == fold).any():
            oos_logits[oos_folds == fold], oos_raw[oos_folds == fold] = _raw(model, oos_x[oos_folds == fold])
    return logits, raw, y, oos_logits, oos_raw
