"""Intent data, training, calibrated prediction with out-of-scope detection, and evaluation.

Depends only on `smallbot.types`/`smallbot.errors`; never on `knowledge` or `connectors`.
"""

from .dataset import IntentDataset, IntentSpec, load_intents

__all__ = ["IntentDataset", "IntentSpec", "load_intents"]
