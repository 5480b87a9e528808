"""One FAQ entry as the author wrote it; its answer is returned verbatim, never rewritten."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class FaqEntry:
    """A question, the other ways people ask it, and the one answer to give.

    >>> FaqEntry("reset-password", "How do I reset my password?", ("I forgot my password",), "Click ...")
    """

    id: str
    question: str
    alternates: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int | None = None

    @property
    def phrasings(self) -> tuple[str, ...]:
        """Question first, then alternates: every text the entry should be found by."""
        return (self.question, *self.alternates)
