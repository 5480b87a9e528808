"""Evaluate an intent classifier on a test split or by cross-validation, and draw its two figures.

A test split is a YAML file (a bot's `tests/*.yml`, or any file given with `--test`):

    examples:
      - {text: "hey, good morning", intent: greet}
      - {text: "put me through to a person", intent: talk_to_human}
    out_of_scope:
      - "what's the capital of Peru?"

Both keys are optional, but a split needs at least one example or out-of-scope text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from smallbot.errors import ConfigError, Problem, ProjectError
from smallbot.project.yamlio import line_of, load_yaml

from .metrics import IntentMetrics, confusion_matrix, intent_metrics, threshold_curve

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class TestSplit:
    """Labelled messages held out from training; `out_of_scope` texts should be flagged."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    out_of_scope: tuple[str, ...] = ()
    source: str = ""
    warnings: tuple[str, ...] = ()  # "file:line: blank ... skipped"


@dataclass(frozen=True)
class IntentEvaluation:
    """Predictions on a test set and what they add up to."""

    metrics: IntentMetrics
    truth: tuple[str | None, ...]
    predicted: tuple[str | None, ...]
    top: tuple[str, ...]
    margins: tuple[float, ...]  # in-scope score minus the stored threshold (>= 0 means accepted)
    labels: tuple[str, ...]
    mode: str  # "test split <files>" or "k-fold cross-validation"


def load_test_split(paths: Sequence[Path], known: Sequence[str] | None = None) -> TestSplit:
    """Read one or more test files; every problem is reported at once with file and line."""
    problems: list[Problem] = []
    texts: list[str] = []
    labels: list[str] = []
    oos: list[str] = []
    warnings: list[str] = []
    known_set = set(known) if known is not None else None
    for path in paths:
        display = str(path)
        data = load_yaml(path, problems, display)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(display, None, "a test split is a mapping with 'examples' and/or 'out_of_scope'"))
            continue
        for key in data:
            if key not in ("examples", "out_of_scope"):
                problems.append(
                    Problem(display, line_of(data, key), f"unknown key '{key}': expected 'examples' or 'out_of_scope'")
                )
        for index, item in enumerate(data.get("examples") or []):
            line = line_of(data["examples"], index)
            if item is None or (isinstance(item, dict) and not str(item.get("text") or "").strip()):
                warnings.append(f"{display}:{line or '?'}: blank test example skipped")
                continue
            if not isinstance(item, dict) or not item.get("intent"):
                problems.append(Problem(display, line, "each test example is a mapping {text: ..., intent: ...}"))
                continue
            intent = str(item["intent"])
            if known_set is not None and intent not in known_set:
                problems.append(Problem(display, line, f"intent '{intent}' is not defined in the bot's intents files"))
                continue
            texts.append(str(item["text"]).strip())
            labels.append(intent)
        for index, text in enumerate(data.get("out_of_scope") or []):
            if text is None or (isinstance(text, str) and not text.strip()):
                warnings.append(
                    f"{display}:{line_of(data['out_of_scope'], index) or '?'}: blank out_of_scope line skipped"
                )
                continue
            if not isinstance(text, str):
                problems.append(
                    Problem(display, line_of(data["out_of_scope"], index), "out_of_scope entries are non-empty strings")
                )
                continue
            oos.append(text.strip())
    if not problems and not texts and not oos:
        problems.append(
            Problem(
                ", ".join(map(str, paths)) or "test split",
                None,
                "no test examples: add 'examples' ({text, intent}) or 'out_of_scope' texts",
            )
        )
    if problems:
        raise ProjectError(problems)
    return TestSplit(tuple(texts), tuple(labels), tuple(oos), ", ".join(str(p) for p in paths), tuple(warnings))


def evaluate_classifier(classifier, split: TestSplit, encode: Encode) -> IntentEvaluation:
    """Predict every test message with a trained classifier."""
    texts = list(split.texts) + list(split.out_of_scope)
    predictions = classifier.predict(encode(texts)) if texts else []
    truth = tuple(split.labels) + (None,) * len(split.out_of_scope)
    return _evaluation(truth, predictions, classifier.labels, f"test split {split.source}")


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    out_of_scope: Sequence[str],
    encode: Encode,
    folds: int = 5,
    seed: int = 0,
    train=None,
) -> IntentEvaluation:
    """Stratified k-fold: each fold is predicted by a model trained (and calibrated) without it.

    Out-of-scope examples are split into folds too, so the ones scored were never used for calibration.
    """
    from .train import train_linear

    train = train or train_linear
    if folds < 2:
        raise ConfigError(f"--cv needs at least 2 folds, got {folds}")
    cache: dict[str, np.ndarray] = {}

    def cached(batch: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(batch) if t not in cache]
        if missing:
            cache.update(zip(missing, encode(missing)))
        return np.stack([cache[t] for t in batch]) if batch else np.zeros((0, 1), np.float32)

    cached(list(texts) + list(out_of_scope))
    rng = np.random.default_rng(seed)
    label_arr = np.array(labels)
    fold_of = np.zeros(len(texts), dtype=int)
    for name in sorted(set(labels)):
        members = np.flatnonzero(label_arr == name)
        rng.shuffle(members)
        fold_of[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    oos_fold = rng.permutation(len(out_of_scope)) % folds
    truth: list[str | None] = []
    predictions = []
    for fold in range(folds):
        train_idx = np.flatnonzero(fold_of != fold).tolist()  # plain ints index the text sequences
        test_idx = np.flatnonzero(fold_of == fold).tolist()
        train_oos = [t for t, f in zip(out_of_scope, oos_fold) if f != fold]
        test_oos = [t for t, f in zip(out_of_scope, oos_fold) if f == fold]
        model = train(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx], cached, seed=seed, out_of_scope=train_oos
        )
        batch = [texts[i] for i in test_idx] + test_oos
        if batch:
            predictions.extend(model.predict(cached(batch)))
            truth.extend([labels[i] for i in test_idx] + [None] * len(test_oos))
    return _evaluation(tuple(truth), predictions, sorted(set(labels)), f"{folds}-fold cross-validation")


def _evaluation(truth, predictions, labels, mode: str) -> IntentEvaluation:
    predicted = tuple(p.intent for p in predictions)
    top = tuple(p.top for p in predictions)
    metrics = intent_metrics(truth, predicted, top)
    return IntentEvaluation(
        metrics, tuple(truth), predicted, top, tuple(-p.oos_score for p in predictions), tuple(labels), mode
    )


def plot_confusion(evaluation: IntentEvaluation, path: Path) -> Path:
    """Row-normalised confusion matrix (true down, predicted across) with out of scope as the last class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(evaluation.labels)
    matrix = confusion_matrix(evaluation.truth, evaluation.predicted, names).astype(float)
    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    ticks = names + ["(out of scope)"]
    size = min(14.0, 3.0 + 0.35 * len(ticks))
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    if len(ticks) <= 40:
        ax.set_xticks(range(len(ticks)), ticks, rotation=90, fontsize=8)
        ax.set_yticks(range(len(ticks)), ticks, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (share of each true intent)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def threshold_curve_note(evaluation: IntentEvaluation) -> str | None:
    """Why there is no threshold curve to read, or None: without out-of-scope messages, moving the threshold
    only rejects in-scope ones, so out-of-scope recall has nothing to measure."""
    if evaluation.metrics.out_of_scope == 0:
        return "no out-of-scope messages in the " + ("test split" if evaluation.mode.startswith("test") else "data")
    return None


def plot_threshold_curve(evaluation: IntentEvaluation, path: Path) -> Path:
    """In-scope accuracy against OOS recall as the threshold moves; the stored threshold is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.array([t is not None for t in evaluation.truth], dtype=bool)
    margins = np.array(evaluation.margins, dtype=float)
    correct = np.array([t == top for t, top in zip(evaluation.truth, evaluation.top)], dtype=bool)[truth]
    thresholds, accuracy, recall = threshold_curve(correct, margins[truth], margins[~truth])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(recall, accuracy, "-", color="tab:blue", label="moving the threshold")
    m = evaluation.metrics
    ax.plot([m.oos_recall], [m.accuracy], "o", color="tab:red", label="stored threshold")
    ax.set_xlabel("out-of-scope recall")
    ax.set_ylabel("in-scope accuracy (rejects count as wrong)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title("Threshold trade-off")
    note = threshold_curve_note(evaluation)
    if note:  # the curve would be a meaningless vertical line: say why there is none
        for line in ax.get_lines():
            line.remove()
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
