"""rapidfuzz matching: the encoder-free fast path for exact and near-exact questions, and the
typo-tolerant lexical score fused with the dense one."""

from __future__ import annotations

import re

from rapidfuzz import fuzz, process, utils

_PUNCT = re.compile(r"[^\w\s]")


def normalise_for_match(text: str) -> str:
    """Lower-case, drop punctuation, squeeze spaces: "How do I reset my password?" -> "how do i reset my password"."""
    return " ".join(_PUNCT.sub(" ", text.casefold()).split())


class LexicalMatcher:
    """Scores a query against every phrasing row (0-100); rows can be added and removed in place."""

    def __init__(self, phrasings: dict[int, str], entry_ids: dict[int, str]):
        self.entry_ids = dict(entry_ids)
        self.choices = {row: normalise_for_match(text) for row, text in phrasings.items()}
        self._exact: dict[str, str] | None = None

    def add(self, row: int, text: str, entry_id: str) -> None:
        self.choices[row] = normalise_for_match(text)
        self.entry_ids[row] = entry_id
        self._exact = None

    def remove(self, row: int) -> None:
        self.choices.pop(row, None)
        self.entry_ids.pop(row, None)
        self._exact = None

    def exact(self, text: str) -> str | None:
        """Entry id when the normalised text equals a known phrasing."""
        if self._exact is None:
            self._exact = {}
            for row in sorted(self.choices):
                self._exact.setdefault(self.choices[row], self.entry_ids[row])
        return self._exact.get(normalise_for_match(text))

    def best(self, text: str, score_cutoff: float = 0.0) -> tuple[str, float, str] | None:
        """(entry id, score, phrasing) of the closest phrasing, or None below the cutoff."""
        if not self.choices:
            return None
        found = process.extractOne(
            normalise_for_match(text), self.choices, scorer=fuzz.ratio, processor=None, score_cutoff=score_cutoff
        )
        if found is None:
            return None
        choice, score, row = found
        return self.entry_ids[row], float(score), choice

    def scores_for(self, text: str, rows: list[int]) -> list[float]:
        """WRatio of the query against the given phrasing rows (for fusing with dense scores)."""
        query = normalise_for_match(text)
        return [
            fuzz.WRatio(query, self.choices[row], processor=utils.default_process) if query else 0.0 for row in rows
        ]
