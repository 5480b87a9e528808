"""Per-conversation state the router needs between turns: the suggestions of the last reply, so that "2" or
"yes" picks one, and the last few exchanges for the generator.

The state is not kept beside the log: it is read back from the conversation's last turns, which the store
already holds (each turn's reply kind, the suggestions it offered and its reason). So every process serving
the bot from one store sees the suggestions any of them offered (`smallbot serve --workers N`), the state
survives a restart, and erasure and retention remove it with the turns. A bot without a store keeps the same
turns in memory (`ConversationTracker`) and derives the state the same way.

The rules, the same for both:
- a follow-up refers to the bot's last reply: suggestions count only while that reply offered them;
- a rejected message (empty, too long) leaves the state as it was;
- "reset" starts over: nothing before the reset turn counts;
- turns older than `STATE_TTL_S` are forgotten.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Iterable

from smallbot.store import TurnRecord
from smallbot.types import Message, Reply, ReplyKind, Suggestion

_AFFIRM = {"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "that one", "yes please"}
_DENY = {"no", "n", "nope", "nah", "neither", "none", "none of these", "no thanks"}
_NUMBER = re.compile(r"^(?:#|number\s+|option\s+)?(\d{1,2})[.)]?$")

RECENT_TURNS = 4  # turns read back per conversation: the generator's history (the last exchanges) and follow-ups
STATE_TTL_S = 86400.0  # a conversation idle this long starts afresh: "2" a day later no longer picks a suggestion
RESET_REASON = "reset"  # the reason of the turn that answered "reset"
REJECTED_PREFIX = "rejected:"  # the reason of a turn whose message was refused before routing


@dataclass(frozen=True)
class ConversationState:
    """What the router knows of a conversation before the current message."""

    suggestions: tuple[Suggestion, ...] = ()
    history: tuple[tuple[str, str], ...] = ()  # ("user" | "assistant", text), oldest first
    related: bool = False  # the suggestions came as "Related" under an answer: "yes" / "no" do not pick them


@dataclass(frozen=True)
class FollowUp:
    """What a short reply to our last suggestions means."""

    pick: Suggestion | None = None
    declined: bool = False


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s#]", " ", text.casefold()).split())


def fold_question(text: str) -> str:
    """A suggestion's text as a typed follow-up must match it."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def interpret_follow_up(text: str, state: ConversationState) -> FollowUp | None:
    """A number picks that suggestion; "yes" picks the only (or first) one; "no" declines. Else None."""
    if not state.suggestions:
        return None
    folded = _fold(text)
    match = _NUMBER.match(folded)
    if match:
        number = int(match.group(1))
        if 1 <= number <= len(state.suggestions):
            return FollowUp(pick=state.suggestions[number - 1])
        return None
    if folded in _AFFIRM and not state.related:
        return FollowUp(pick=state.suggestions[0])
    if folded in _DENY and not state.related:
        return FollowUp(declined=True)
    for suggestion in state.suggestions:
        if folded and folded == fold_question(suggestion.text):
            return FollowUp(pick=suggestion)
    return None


def could_follow_up(text: str, questions: frozenset[str]) -> bool:
    """Whether `interpret_follow_up` could match `text` against some suggestions: a number, yes / no, or the
    folded text of one of the bot's questions (`questions`, folded with `fold_question`). Every other message
    skips reading the conversation's state."""
    folded = _fold(text)
    return bool(_NUMBER.match(folded)) or folded in _AFFIRM or folded in _DENY or folded in questions


def state_from_turns(
    turns: Iterable[TurnRecord], suggestion: Callable[[str], Suggestion | None], since: float
) -> ConversationState:
    """The state after `turns` (a conversation's last ones, oldest first). `suggestion` maps an FAQ entry id
    to its Suggestion, None when the entry is gone (then its list is not offered any more: "2" must not pick
    whatever moved into second place)."""
    kept: list[TurnRecord] = []
    for turn in turns:
        if turn.created_at < since:
            continue
        if turn.reason == RESET_REASON:
            kept.clear()
        kept.append(turn)
    offered: tuple[Suggestion, ...] = ()
    last = next((t for t in reversed(kept) if not t.reason.startswith(REJECTED_PREFIX)), None)
    if last is not None and last.reply_kind in (ReplyKind.SUGGEST, ReplyKind.ANSWER):
        found = tuple(suggestion(entry_id) for entry_id in last.suggestions)
        offered = found if all(found) else ()  # type: ignore[assignment]
    history = tuple(item for t in kept for item in (("user", t.text), ("assistant", t.reply_text)))
    related = last is not None and last.reply_kind is ReplyKind.ANSWER
    return ConversationState(offered, history, related)


def turn_of(message: Message, reply: Reply, at: float) -> TurnRecord:
    """The record the store would log for this turn (what `ConversationTracker` keeps in memory)."""
    return TurnRecord(
        0,
        message.conversation_id,
        message.text,
        reply.kind,
        reply.text,
        reply.intent,
        reply.confidence,
        tuple(s.entry_id for s in reply.sources),
        tuple(s.entry_id for s in reply.suggestions),
        reply.reason,
        {},
        at,
    )


class ConversationTracker:
    """The last turns of each conversation in memory, for a bot without a store (one process only).

    Thread-safe; holds at most `capacity` conversations (the least recently used are dropped).

    >>> tracker = ConversationTracker()
    >>> tracker.record(Message("c1", "refund?"), Reply(ReplyKind.FALLBACK, "I don't know."))
    >>> [t.text for t in tracker.recent("c1")]
    ['refund?']
    """

    def __init__(self, capacity: int = 10_000, clock: Callable[[], float] = time.time):
        self.capacity = capacity
        self._clock = clock
        self._turns: OrderedDict[str, deque[TurnRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, message: Message, reply: Reply) -> None:
        turn = turn_of(message, reply, self._clock())
        with self._lock:
            turns = self._turns.pop(message.conversation_id, None) or deque(maxlen=RECENT_TURNS)
            turns.append(turn)
            self._turns[message.conversation_id] = turns
            while len(self._turns) > self.capacity:
                self._turns.popitem(last=False)

    def recent(self, conversation_id: str) -> list[TurnRecord]:
        """The conversation's last turns, oldest first."""
        with self._lock:
            return list(self._turns.get(conversation_id, ()))

    def reset(self, conversation_id: str) -> None:
        with self._lock:
            self._turns.pop(conversation_id, None)

    def __len__(self) -> int:
        return len(self._turns)
