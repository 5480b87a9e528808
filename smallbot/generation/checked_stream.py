"""Stream a generated reply through the fact check without showing an invented fact first.

Fact-free text goes out word by word as it arrives. Once the sentence being written shows a fact
marker (a digit, "@", "/", ">", a currency sign, a month...), the rest of that sentence is held back
until it ends and the whole reply so far has passed `find_unsupported`. On the first unsupported claim
the source is closed (which stops the model) and a failing verdict ends the stream; the caller shows
the fallback instead. Words released before the marker, in the same sentence, cannot be recalled; they
hold no fact by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from smallbot.generation.factcheck import Claim, Support, find_unsupported, has_fact_marker

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class CheckVerdict:
    """The end of a guarded stream: the checked text, and the claims that failed (empty = passed)."""

    text: str
    unsupported: tuple[Claim, ...]
    extra: object = None  # the source's own last non-text item (GenerationStats), passed through

    @property
    def passed(self) -> bool:
        return not self.unsupported


def checked_stream(chunks: Iterable[object], support: Support) -> Iterator[str | CheckVerdict]:
    """Yield the safe text of `chunks` (str items) as it becomes safe, then one CheckVerdict.

    Non-str items of the source are kept and handed back in the verdict's `extra`.
    """
    released = ""  # text the caller has shown
    pending = ""  # text received but not shown
    extra = None
    source = iter(chunks)
    try:
        for chunk in source:
            if not isinstance(chunk, str):
                extra = chunk
                continue
            pending += chunk
            complete, rest = _split_complete(pending)
            if complete:
                bad = find_unsupported(released + complete, support)
                if bad:
                    yield CheckVerdict(released + pending, bad, extra)
                    return
                yield complete
                released += complete
                pending = rest
            # the sentence under way: show whole words until it shows a fact marker
            if pending and not has_fact_marker(pending):
                cut = max(pending.rfind(" "), pending.rfind("\n"))
                if cut > 0:
                    yield pending[:cut]
                    released += pending[:cut]
                    pending = pending[cut:]
        final = released + pending
        bad = find_unsupported(final, support)
        if bad:
            yield CheckVerdict(final, bad, extra)
            return
        if pending:
            yield pending
        yield CheckVerdict(final, (), extra)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _split_complete(text: str) -> tuple[str, str]:
    """(complete sentences, the sentence under way)."""
    last = None
    for match in _SENTENCE_END.finditer(text):
        last = match
    if last is None:
        return "", text
    return text[: last.end()], text[last.end() :]
