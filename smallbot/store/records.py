"""What the conversation log's reads return: plain frozen values, the same for every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from smallbot.types import ReplyKind


@dataclass(frozen=True)
class TurnRecord:
    """One logged message and the bot's reply to it."""

    id: int
    conversation_id: str
    text: str
    reply_kind: ReplyKind
    reply_text: str
    intent: str | None
    confidence: float
    sources: tuple[str, ...]  # FAQ entry ids the answer came from
    suggestions: tuple[str, ...]  # FAQ entry ids offered as "did you mean"
    reason: str
    timings: Mapping[str, float]
    created_at: float


@dataclass(frozen=True)
class FeedbackRecord:
    """A thumbs up (+1) or down (-1) on one reply, with the user's optional comment."""

    id: int
    conversation_id: str
    message_id: int
    score: int
    comment: str
    created_at: float


@dataclass(frozen=True)
class HandoffRecord:
    """A conversation handed to a person; `resolved_at` is None while it is still open."""

    id: int
    conversation_id: str
    message_id: int | None
    reason: str
    opened_at: float
    resolved_at: float | None = None
    resolution: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    channel: str
    user: str
    started_at: float
    updated_at: float


@dataclass(frozen=True)
class Erased:
    """How many rows an erasure or retention purge removed."""

    conversations: int = 0
    messages: int = 0
    feedback: int = 0
    handoffs: int = 0
