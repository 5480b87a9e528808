"""The FAQ confidence every bot starts from, and the generic off-topic messages it is calibrated against.

A plain FAQ list has no alternates, so `smallbot train` cannot hold any phrasing out to learn from: a
confidence fitted only on the bot's own evidence had nothing to stand on and answered nothing. The prior is
a confidence model fitted once, at development time, on public data (`benchmarks/fit_prior.py` refits it),
with the answer thresholds chosen on validation data for a range of target wrong-answer rates. A bot's own
held-out phrasings then move the model away from the prior in proportion to how many there are (a Gaussian
prior on the weights: shrinkage, never a switch), so a few more alternates can never flip a bot from
answering to not answering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from smallbot.errors import ArtifactError

from .confidence import ConfidenceModel

PRIOR_FORMAT = 1


@dataclass(frozen=True)
class Prior:
    """The shipped confidence model, how strongly it holds a bot's own fit, and its thresholds."""

    model: ConfidenceModel
    strength: float  # L2 pull of a bot's own fit towards `model`'s weights (in its standardised units)
    answer: tuple[tuple[float, float], ...]  # (target wrong-answer rate, answer threshold), rising targets
    suggest: float  # the suggest threshold on the same P(right)
    source: str = ""

    def answer_threshold(self, target_wrong_rate: float) -> float:
        """The answer threshold for a target, interpolated between the targets it was chosen for."""
        targets = [t for t, _ in self.answer]
        thresholds = [a for _, a in self.answer]
        return float(np.interp(target_wrong_rate, targets, thresholds))

    def suggest_threshold(self, answer: float) -> float:
        """Below the answer threshold, so the suggest band is never empty while answering is possible."""
        return min(self.suggest, answer * 0.8)

    def to_dict(self) -> dict:
        return {
            "format": PRIOR_FORMAT,
            "source": self.source,
            "model": self.model.to_dict(),
            "strength": self.strength,
            "answer": [list(pair) for pair in self.answer],
            "suggest": self.suggest,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Prior":
        if data.get("format") != PRIOR_FORMAT:
            raise ArtifactError(
                f"FAQ confidence prior has format {data.get('format')}, expected {PRIOR_FORMAT}: "
                "reinstall smallbot or refit it with benchmarks/fit_prior.py"
            )
        answer = tuple(sorted((float(t), float(a)) for t, a in data["answer"]))
        return cls(
            ConfidenceModel.from_dict(data["model"]),
            float(data["strength"]),
            answer,
            float(data["suggest"]),
            str(data.get("source", "")),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def _data_file(name: str) -> str:
    return (resources.files("smallbot.knowledge") / "data" / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_prior() -> Prior:
    """The prior shipped in the package (`knowledge/data/prior.json`)."""
    return Prior.from_dict(json.loads(_data_file("prior.json")))


@lru_cache(maxsize=1)
def generic_offtopic() -> tuple[str, ...]:
    """CLINC150's out-of-scope training and validation messages (CC BY 3.0, see knowledge/data/README.md)."""
    return tuple(line for line in _data_file("offtopic.txt").splitlines() if line.strip())
