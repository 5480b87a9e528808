"""Serving-side intent classifier: a linear head over encoder embeddings with calibrated
probabilities, and an out-of-scope score that also sees distance from the training data.

The in-scope score is a weighted sum of standardised features (FEATURES: calibrated top probability,
Mahalanobis closeness to the nearest class mean, cosine similarity to the nearest training example, mean
cosine to the K_NEAREST nearest examples, Mahalanobis relative to one background Gaussian of all the
training data, the logits' logsumexp ("energy") and the top-1 minus top-2 probability margin); weights,
standardisation and the threshold are chosen on held-out data at train time and stored.
Loading reads safetensors + JSON only; no training code is imported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from smallbot.errors import ArtifactError
from smallbot.types import IntentPrediction

FORMAT_VERSION = 3  # 3: seven out-of-scope features (format 2 scored three) and the background Gaussian
FEATURES = ("confidence", "mahalanobis", "nearest", "knn", "relative_mahalanobis", "energy", "margin")
K_NEAREST = 10  # "knn": one noisy nearest neighbour says less than the mean of ten (CLINC150 val)
_CHUNK = 256


class IntentClassifier(Protocol):
    """What the router needs from any intent model."""

    labels: list[str]

    def predict(self, embeddings: np.ndarray) -> list[IntentPrediction]: ...


@dataclass(frozen=True)
class OutOfScopePolicy:
    """How in-scope-ness is judged; every number is chosen on held-out data at train time.

    in_scope_score = sum_i weights[i] * (feature_i - center[i]) / scale[i] over FEATURES;
    a message is out of scope when that score is below `threshold`.
    """

    weights: tuple[float, ...] = (1.0,) + (0.0,) * (len(FEATURES) - 1)
    center: tuple[float, ...] = (0.0,) * len(FEATURES)
    scale: tuple[float, ...] = (1.0,) * len(FEATURES)
    threshold: float = -np.inf


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def fill_logit_features(raw: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Write confidence, energy and margin of temperature-scaled `logits` into `raw`; return the probabilities.

    Separate so training can recompute them once the temperature is known.
    """
    probs = softmax(logits)
    top2 = np.sort(probs, axis=1)[:, -2:]  # training guarantees two intents or more
    peak = logits.max(axis=1)
    raw[:, 0] = top2[:, 1]
    raw[:, 5] = peak + np.log(np.exp(logits - peak[:, None]).sum(axis=1))
    raw[:, 6] = top2[:, 1] - top2[:, 0]
    return probs


class LinearIntentClassifier:
    """Calibrated softmax head + distance-aware out-of-scope score.

    >>> clf = LinearIntentClassifier.load(Path("mybot/.smallbot/intents/classifier"))
    >>> clf.predict(encoder.encode(["hi there"]))[0].intent
    'greet'
    """

    def __init__(
        self,
        labels: list[str],
        weight: np.ndarray,
        bias: np.ndarray,
        temperature: float,
        examples: np.ndarray,
        means: np.ndarray,
        precision: np.ndarray,
        policy: OutOfScopePolicy,
        metrics: dict | None = None,
        background: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.labels = list(labels)
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.temperature = float(temperature)
        self.examples = np.ascontiguousarray(examples, dtype=np.float32)
        self.means = np.ascontiguousarray(means, dtype=np.float32)
        self.precision = np.ascontiguousarray(precision, dtype=np.float32)
        self.policy = policy
        self.metrics = metrics or {}
        # ||x - m||_P^2 = x'Px - 2 x'Pm + m'Pm: precompute the parts that do not depend on x.
        self._pm = self.means @ self.precision
        self._mpm = (self._pm * self.means).sum(axis=1)
        # the background Gaussian (mean [1, d], precision [d, d]) of all training data: subtracting its distance
        # discounts directions that every class spreads along (relative Mahalanobis, Ren et al. 2021). Without
        # one (a classifier assembled by hand), the class means' centre and the tied precision stand in.
        if background is None:
            background = (self.means.mean(axis=0, keepdims=True), self.precision)
        self.background_mean = np.ascontiguousarray(background[0], dtype=np.float32).reshape(1, -1)
        self.background_precision = np.ascontiguousarray(background[1], dtype=np.float32)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Temperature-calibrated class probabilities, [n, intents]."""
        return softmax((embeddings @ self.weight.T + self.bias) / self.temperature)

    def features(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [n, k], raw out-of-scope features [n, len(FEATURES)] in FEATURES order)."""
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        raw = np.zeros((len(embeddings), len(FEATURES)), dtype=np.float32)
        probs = fill_logit_features(raw, (embeddings @ self.weight.T + self.bias) / self.temperature)
        for start in range(0, len(embeddings), _CHUNK):
            rows = slice(start, start + _CHUNK)
            x = embeddings[rows]
            xpx = ((x @ self.precision) * x).sum(axis=1)
            nearest_class = (xpx[:, None] - 2 * x @ self._pm.T + self._mpm[None]).min(axis=1)
            r = x - self.background_mean
            raw[rows, 1] = -nearest_class
            raw[rows, 4] = ((r @ self.background_precision) * r).sum(axis=1) - nearest_class
            raw[rows, 2], raw[rows, 3] = self._neighbours(x)
        return probs, raw

    def _neighbours(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cosine to the nearest stored example and mean cosine to the K_NEAREST nearest (1 when none stored)."""
        if not len(self.examples):
            return np.ones(len(x), np.float32), np.ones(len(x), np.float32)
        sims = x @ self.examples.T
        k = min(K_NEAREST, sims.shape[1])
        top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
        return top.max(axis=1), top.mean(axis=1)

    def in_scope_scores(self, raw: np.ndarray) -> np.ndarray:
        """Combine raw features into the in-scope score the threshold applies to (higher = in scope)."""
        p = self.policy
        z = (raw - np.asarray(p.center, dtype=np.float32)) / np.asarray(p.scale, dtype=np.float32)
        return z @ np.asarray(p.weights, dtype=np.float32)

    def predict(self, embeddings: np.ndarray, top_k: int = 5) -> list[IntentPrediction]:
        probs, raw = self.features(embeddings)
        scores = self.in_scope_scores(raw)
        results = []
        for row, score in zip(probs, scores):
            order = np.argsort(-row)[: min(top_k, len(self.labels))]
            ranking = tuple((self.labels[i], float(row[i])) for i in order)
            oos = bool(score < self.policy.threshold)
            results.append(
                IntentPrediction(
                    None if oos else ranking[0][0], ranking[0][1], ranking, oos, float(self.policy.threshold - score)
                )
            )
        return results

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {
                "weight": self.weight,
                "bias": self.bias,
                "examples": self.examples,
                "means": self.means,
                "precision": self.precision,
                "background_mean": self.background_mean,
                "background_precision": self.background_precision,
            },
            str(directory / "head.safetensors"),
        )
        (directory / "config.json").write_text(
            json.dumps(
                {
                    "format_version": FORMAT_VERSION,
                    "kind": "linear",
                    "labels": self.labels,
                    "temperature": self.temperature,
                    "features": list(FEATURES),
                    "policy": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.policy).items()},
                    "metrics": self.metrics,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, directory: Path) -> "LinearIntentClassifier":
        from safetensors.numpy import load_file

        config_path, weights_path = directory / "config.json", directory / "head.safetensors"
        if not config_path.exists() or not weights_path.exists():
            raise ArtifactError(f"no trained intent model in {directory}: run `smallbot train`")
        config = json.loads(config_path.read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{config_path} has format {config.get('format_version')}, this smallbot reads "
                f"{FORMAT_VERSION}: run `smallbot train --force`"
            )
        tensors = load_file(str(weights_path))
        missing = {"weight", "bias", "examples", "means", "precision", "background_mean", "background_precision"} - set(
            tensors
        )
        if missing:
            raise ArtifactError(f"{weights_path} lacks {', '.join(sorted(missing))}: run `smallbot train --force`")
        if tuple(config.get("features", ())) != FEATURES:
            raise ArtifactError(
                f"{config_path} scores features {config.get('features')}, this smallbot computes "
                f"{list(FEATURES)}: run `smallbot train --force`"
            )
        raw = config["policy"]
        policy = OutOfScopePolicy(
            tuple(raw["weights"]), tuple(raw["center"]), tuple(raw["scale"]), float(raw["threshold"])
        )
        return cls(
            config["labels"],
            tensors["weight"],
            tensors["bias"],
            config["temperature"],
            tensors["examples"],
            tensors["means"],
            tensors["precision"],
            policy,
            config.get("metrics"),
            (tensors["background_mean"], tensors["background_precision"]),
        )
