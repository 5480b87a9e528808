"""Serving-side intent classifier: a linear head over encoder embeddings with calibrated
probabilities and an out-of-scope score that also looks at distance from the training examples.

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

from .head import softmax

FORMAT_VERSION = 1


class IntentClassifier(Protocol):
    """What the router needs from any intent model."""

    labels: list[str]

    def predict(self, embeddings: np.ndarray) -> list[IntentPrediction]: ...


@dataclass(frozen=True)
class OutOfScopePolicy:
    """How in-scope-ness is judged. Both numbers are chosen on held-out data at train time.

    A message is out of scope when its calibrated top probability is below `min_confidence`
    or its cosine similarity to the nearest training example is below `min_similarity`.
    """

    min_confidence: float = 0.5
    min_similarity: float = 0.0


class LinearIntentClassifier:
    """Calibrated softmax head + nearest-example similarity.

    >>> clf = LinearIntentClassifier.load(Path("mybot/.smallbot/intents"))
    >>> clf.predict(encoder.encode(["hi there"]))[0].intent
    'greet'
    """

    def __init__(self, labels: list[str], weight: np.ndarray, bias: np.ndarray, temperature: float,
                 examples: np.ndarray, policy: OutOfScopePolicy, metrics: dict | None = None):
        self.labels = list(labels)
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.temperature = float(temperature)
        self.examples = np.ascontiguousarray(examples, dtype=np.float32)
        self.policy = policy
        self.metrics = metrics or {}

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.weight.T + self.bias
        return softmax(logits / self.temperature)

    def nearest_similarity(self, embeddings: np.ndarray) -> np.ndarray:
        if len(self.examples) == 0:
            return np.ones(len(embeddings), dtype=np.float32)
        return (embeddings @ self.examples.T).max(axis=1)

    def predict(self, embeddings: np.ndarray) -> list[IntentPrediction]:
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        probs = self.probabilities(embeddings)
        sims = self.nearest_similarity(embeddings)
        results = []
        for row, sim in zip(probs, sims):
            order = np.argsort(-row)[: min(5, len(self.labels))]
            ranking = tuple((self.labels[i], float(row[i])) for i in order)
            confidence = ranking[0][1]
            oos = confidence < self.policy.min_confidence or float(sim) < self.policy.min_similarity
            oos_score = max(self.policy.min_confidence - confidence, self.policy.min_similarity - float(sim))
            results.append(IntentPrediction(None if oos else ranking[0][0], confidence, ranking, oos, oos_score))
        return results

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file({"weight": self.weight, "bias": self.bias, "examples": self.examples},
                  str(directory / "head.safetensors"))
        (directory / "config.json").write_text(json.dumps({
            "format_version": FORMAT_VERSION,
            "kind": "linear",
            "labels": self.labels,
            "temperature": self.temperature,
            "policy": asdict(self.policy),
            "metrics": self.metrics,
        }, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "LinearIntentClassifier":
        from safetensors.numpy import load_file

        config_path, weights_path = directory / "config.json", directory / "head.safetensors"
        if not config_path.exists() or not weights_path.exists():
            raise ArtifactError(f"no trained intent model in {directory}: run `smallbot train`")
        config = json.loads(config_path.read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{config_path} has format {config.get('format_version')}, this smallbot reads "
                                f"{FORMAT_VERSION}: run `smallbot train --force`")
        tensors = load_file(str(weights_path))
        return cls(config["labels"], tensors["weight"], tensors["bias"], config["temperature"],
                   tensors["examples"], OutOfScopePolicy(**config["policy"]), config.get("metrics"))
