"""FAQ entries, loaders, FAISS index, lexical matching, fused search and answer bands.

Depends only on `smallbot.types`/`smallbot.errors`; never on `intents` or `connectors`.
"""

from .entries import FaqEntry
from .loaders import load_knowledge

__all__ = ["FaqEntry", "load_knowledge"]
