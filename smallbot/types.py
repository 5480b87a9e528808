"""Values that cross package lines: typed, frozen, cheap to import (no torch here)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


class Route(str, Enum):
    """What an intent asks the router to do."""

    FAQ = "faq"
    RESPOND = "respond"
    HANDOFF = "handoff"


class ReplyKind(str, Enum):
    """The kinds of reply a bot gives; connectors render each differently."""

    ANSWER = "answer"  # one verbatim FAQ answer with its source
    SUGGEST = "suggest"  # "did you mean ...?" with up to three FAQ questions
    RESPOND = "respond"  # a rendered intent response template
    HANDOFF = "handoff"  # the conversation goes to a human
    GENERATE = "generate"  # small talk from the local generator
    FALLBACK = "fallback"  # the bot does not know


@dataclass(frozen=True)
class Message:
    """One incoming user message, as every connector hands it to the bot.

    >>> Message(conversation_id="c1", text="how do I reset my password?")
    """

    conversation_id: str
    text: str
    user: str = ""
    channel: str = "api"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class IntentPrediction:
    """A classifier's verdict on one text: calibrated ranking plus the out-of-scope flag."""

    intent: str | None  # None when out of scope
    confidence: float  # calibrated probability of the top intent
    ranking: tuple[tuple[str, float], ...]  # (intent, probability), best first
    out_of_scope: bool
    oos_score: float = 0.0  # higher = more likely out of scope

    @property
    def top(self) -> str:
        return self.ranking[0][0] if self.ranking else ""


@dataclass(frozen=True)
class Hit:
    """One FAQ entry found for a query, with the score bands are drawn on."""

    entry_id: str
    score: float  # fused confidence in [0, 1]
    question: str
    matched_text: str  # the question or alternate that matched best
    dense_score: float = 0.0
    lexical_score: float = 0.0


@dataclass(frozen=True)
class Source:
    """Where an answer came from, so users and authors can check it."""

    entry_id: str
    question: str
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    """A follow-up the user can pick by number or by clicking."""

    entry_id: str
    text: str


@dataclass(frozen=True)
class Decision:
    """The router's pure verdict: which route, why, and with what confidence."""

    kind: ReplyKind
    reason: str
    confidence: float = 0.0
    intent: str | None = None
    hits: tuple[Hit, ...] = ()


@dataclass(frozen=True)
class Reply:
    """The bot's answer to one message; connectors render it for their channel."""

    kind: ReplyKind
    text: str
    conversation_id: str = ""
    sources: tuple[Source, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    confidence: float = 0.0
    intent: str | None = None
    reason: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)  # step -> milliseconds
    # shown above `suggestions` when they are "Related" questions under an answer (bot.yml `messages.related`);
    # carried on the reply so every channel, the web widget included, shows the bot's own words
    suggestions_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form used by `smallbot ask --json` and the REST API."""
        return {
            "kind": self.kind.value,
            "text": self.text,
            "conversation_id": self.conversation_id,
            "sources": [{"id": s.entry_id, "question": s.question, "links": list(s.links)} for s in self.sources],
            "suggestions": [{"id": s.entry_id, "text": s.text} for s in self.suggestions],
            "suggestions_label": self.suggestions_label,
            "confidence": round(self.confidence, 4),
            "intent": self.intent,
            "reason": self.reason,
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
        }
