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
    """Scores a query against every phrasing of every entry (0-100)."""

    def __init__(self, phrasings: list[str], entry_ids: list[str]):
        self.entry_ids = list(entry_ids)
        self.choices = [normalise_for_match(p) for p in phrasings]
        self._exact = {}
        for choice, entry_id in zip(self.choices, self.entry_ids):
            self._exact.setdefault(choice, entry_id)

    def exact(self, text: str) -> str | None:
        """Entry id when the normalised text equals a known phrasing."""
        return self._exact.get(normalise_for_match(text))

    def best(self, text: str, score_cutoff: float = 0.0) -> tuple[str, float, str] | None:
        """(entry id, score, phrasing) of the closest phrasing, or None below the cutoff."""
        if not self.choices:
            return None
        found = process.extractOne(normalise_for_match(text), self.choices, scorer=fuzz.ratio,
                                   processor=None, score_cutoff=score_cutoff)
        if found is None:
            return None
        _, score, index = found
        return self.entry_ids[index], float(score), self.choices[index]

    def scores_for(self, text: str, rows: list[int]) -> list[float]:
        """WRatio of the query against the given phrasing rows (for fusing with dense scores)."""
        query = normalise_for_match(text)
        return [fuzz.WRatio(query, self.choices[row], processor=utils.default_process) if query else 0.0
                for row in rows]
