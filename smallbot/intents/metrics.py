"""Intent-classification metrics with out-of-scope as a first-class outcome.

Pure numpy over label strings; `None` stands for "out of scope" both in the truth and in predictions,
so one function serves CLINC150-style benchmarks and a bot author's test split alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

OOS = None


@dataclass(frozen=True)
class IntentRow:
    """Precision / recall / F1 of one intent on a test set."""

    intent: str
    support: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class IntentMetrics:
    """Everything `smallbot eval` reports about an intent classifier on one test set.

    `accuracy` is the in-scope accuracy where a rejected in-scope message counts as wrong;
    `accuracy_no_reject` ignores the out-of-scope flag (the classifier's ranking alone).
    """

    accuracy: float
    accuracy_no_reject: float
    macro_f1: float
    oos_precision: float
    oos_recall: float
    oos_f1: float
    in_scope: int
    out_of_scope: int
    rows: tuple[IntentRow, ...]
    confusions: tuple[tuple[str, str, int], ...]  # (true, predicted, count), most frequent first

    def summary(self) -> dict[str, float]:
        return {
            "accuracy": self.accuracy,
            "accuracy_no_reject": self.accuracy_no_reject,
            "macro_f1": self.macro_f1,
            "oos_precision": self.oos_precision,
            "oos_recall": self.oos_recall,
            "oos_f1": self.oos_f1,
            "in_scope": self.in_scope,
            "out_of_scope": self.out_of_scope,
        }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def intent_metrics(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    top: Sequence[str] | None = None,
    max_confusions: int = 10,
) -> IntentMetrics:
    """Score predictions against the truth; `top` is the best-ranked intent before rejection, if known.

    >>> intent_metrics(["a", "b", None], ["a", None, None]).oos_recall
    1.0
    """
    truth, predicted = list(truth), list(predicted)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    top = list(top) if top is not None else [p if p is not None else "" for p in predicted]
    in_scope = [i for i, t in enumerate(truth) if t is not OOS]
    oos = [i for i, t in enumerate(truth) if t is OOS]
    accuracy = _ratio(sum(predicted[i] == truth[i] for i in in_scope), len(in_scope))
    accuracy_no_reject = _ratio(sum(top[i] == truth[i] for i in in_scope), len(in_scope))
    flagged = [i for i, p in enumerate(predicted) if p is OOS]
    oos_tp = sum(truth[i] is OOS for i in flagged)
    oos_p, oos_r = _ratio(oos_tp, len(flagged)), _ratio(oos_tp, len(oos))
    rows = []
    for name in sorted({t for t in truth if t is not OOS} | {p for p in predicted if p is not OOS}):
        tp = sum(1 for t, p in zip(truth, predicted) if t == name and p == name)
        support = sum(1 for t in truth if t == name)
        pred_n = sum(1 for p in predicted if p == name)
        p, r = _ratio(tp, pred_n), _ratio(tp, support)
        rows.append(IntentRow(name, support, p, r, _f1(p, r)))
    scored = [row for row in rows if row.support]
    macro_f1 = float(np.mean([row.f1 for row in scored])) if scored else 0.0
    pairs: dict[tuple[str, str], int] = {}
    for t, guess in zip(truth, predicted):
        if t != guess:
            key = (t if t is not OOS else "(out of scope)", guess if guess is not OOS else "(out of scope)")
            pairs[key] = pairs.get(key, 0) + 1
    confusions = tuple(
        (a, b, n) for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:max_confusions]
    )
    return IntentMetrics(
        accuracy,
        accuracy_no_reject,
        macro_f1,
        oos_p,
        oos_r,
        _f1(oos_p, oos_r),
        len(in_scope),
        len(oos),
        tuple(rows),
        confusions,
    )


def threshold_curve(
    correct: np.ndarray, in_scores: np.ndarray, oos_scores: np.ndarray, points: int = 101
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-scope accuracy (rejects count as wrong) and OOS recall as the in-scope score threshold moves.

    Scores are "higher = more in scope"; returns (thresholds, in-scope accuracy, OOS recall).
    """
    everything = np.concatenate([in_scores, oos_scores])
    thresholds = np.quantile(everything, np.linspace(0.0, 1.0, points)) if len(everything) else np.zeros(1)
    accuracy = np.array([(correct & (in_scores >= th)).mean() if len(in_scores) else 0.0 for th in thresholds])
    recall = np.array([(oos_scores < th).mean() if len(oos_scores) else 0.0 for th in thresholds])
    return thresholds, accuracy, recall


def confusion_matrix(truth: Sequence[str | None], predicted: Sequence[str | None], labels: Sequence[str]) -> np.ndarray:
    """Counts [true, predicted] over `labels` plus a last row/column for out of scope."""
    index = {name: i for i, name in enumerate(labels)}
    oos = len(labels)
    matrix = np.zeros((oos + 1, oos + 1), dtype=np.int64)
    for t, p in zip(truth, predicted):
        matrix[index.get(t, oos) if t is not OOS else oos, index.get(p, oos) if p is not OOS else oos] += 1
    return matrix
