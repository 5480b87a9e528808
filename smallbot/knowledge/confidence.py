"""The FAQ confidence: P(this entry is the right one) from how a hit scored against the other candidates.

A fused score of 0.7 means different things when the next entry scored 0.69 or 0.3, when dense and
lexical agree or not, for a two-word or a twenty-word message. `ConfidenceModel` is a logistic
regression over those features, fitted at train time on held-out phrasings (right / wrong top hits)
and off-topic messages (always wrong); serving reads its JSON and runs one dot product per hit.

>>> model = ConfidenceModel.fit(features, labels)
>>> scored = model.rescore(raw_hits, "how do I reset my password")  # same hits and order, score = P(right)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from smallbot.errors import ArtifactError
from smallbot.logistic import fit_logistic, sigmoid
from smallbot.types import Hit

FEATURES = ("fused", "dense", "lexical", "margin", "dense_margin", "lexical_margin", "is_top", "both_top", "log_words")
CANDIDATES = 5  # entries the features compare a hit against; search fetches at least this many


def hit_features(hits: Sequence[Hit], text: str) -> np.ndarray:
    """One row of FEATURES per hit; `hits` are raw (fused-score) hits, best first.

    Margins are against the best OTHER candidate, so the top hit's margin is its lead and every
    other hit's is negative (how far behind the top it is).
    """
    if not hits:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    fused = np.array([h.score for h in hits], dtype=np.float64)
    dense = np.array([h.dense_score for h in hits], dtype=np.float64)
    lexical = np.array([h.lexical_score for h in hits], dtype=np.float64)

    def margin(values: np.ndarray) -> np.ndarray:
        if len(values) == 1:
            return values.copy()
        order = np.argsort(-values, kind="stable")
        first, second = values[order[0]], values[order[1]]
        out = values - first
        out[order[0]] = first - second
        return out

    dense_top = np.arange(len(hits)) == int(np.argmax(dense))
    lexical_top = np.arange(len(hits)) == int(np.argmax(lexical))
    words = math.log1p(len(text.split()))
    return np.column_stack(
        [
            fused,
            dense,
            lexical,
            margin(fused),
            margin(dense),
            margin(lexical),
            np.arange(len(hits)) == 0,
            dense_top & lexical_top,
            np.full(len(hits), words),
        ]
    )


@dataclass(frozen=True)
class ConfidenceModel:
    """Standardise the features, then a logistic regression; stored as plain JSON numbers."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    features: tuple[str, ...] = FEATURES

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50, prior: "ConfidenceModel | None" = None
    ) -> "ConfidenceModel":
        """Maximum a posteriori logistic regression (`smallbot.logistic.fit_logistic`, Newton's method).

        Without `prior` the penalty is `l2` / 2 * ||w||^2 (bias free) on features standardised by `x`. With
        `prior` the features keep the prior's standardisation and the penalty pulls weights AND bias towards
        the prior's (`l2` / 2 * ||w - w0||^2): with few rows the fit stays near the prior, with many it follows
        the data, and it moves smoothly in between.
        """
        x = np.asarray(x, dtype=np.float64)
        if prior is not None:
            mean, scale = np.array(prior.mean), np.array(prior.scale)
            centre: tuple[np.ndarray, float] | None = (np.array(prior.weights), prior.bias)
        else:
            mean = x.mean(axis=0)
            scale = x.std(axis=0)
            scale[scale < 1e-9] = 1.0
            centre = None
        fit = fit_logistic(
            (x - mean) / scale, y, l2=l2, centre=centre, penalise_bias=prior is not None, iterations=iterations
        )
        return cls(tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, fit.weights)), float(fit.bias))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(right) for each feature row."""
        z = (np.asarray(x, dtype=np.float64) - np.array(self.mean)) / np.array(self.scale)
        return sigmoid(z @ np.array(self.weights) + self.bias)

    def rescore(self, hits: Sequence[Hit], text: str) -> list[Hit]:
        """The same hits, in the same fused-score order, with `score` = P(right), non-increasing down the list.

        The confidence decides the band, not the ranking: re-sorting by it moved near-ties on the example
        bot's held-out paraphrases (right FAQ first 90.5% -> 86.9%) while ranking quality comes from the
        fused score it reads.
        """
        if not hits:
            return []
        # never above the hit ranked before it: otherwise a lower-ranked entry could clear the suggest threshold
        # that the top one misses and be offered first
        p = np.minimum.accumulate(self.predict(hit_features(hits, text)))
        return [replace(hit, score=float(p[i])) for i, hit in enumerate(hits)]

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ConfidenceModel":
        if tuple(data.get("features", ())) != FEATURES:
            raise ArtifactError(
                f"confidence model features {data.get('features')} differ from {list(FEATURES)}: "
                "run `smallbot train --force`"
            )
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]), float(data["bias"]))
