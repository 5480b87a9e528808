"""Per-conversation state the router needs between turns: the suggestions last offered, so that
"2" or "yes" picks one. Bounded in memory (least recently used conversations are dropped)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from .types import Suggestion

_AFFIRM = {"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "that one", "yes please"}
_DENY = {"no", "n", "nope", "nah", "neither", "none", "none of these", "no thanks"}
_NUMBER = re.compile(r"^(?:#|number\s+|option\s+)?(\d{1,2})[.)]?$")


@dataclass
class ConversationState:
    suggestions: tuple[Suggestion, ...] = ()
    turns: int = 0
    paused: bool = False  # a human has taken over (handoff)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FollowUp:
    """What a short reply to our last suggestions means."""

    pick: Suggestion | None = None
    declined: bool = False


def interpret_follow_up(text: str, state: ConversationState) -> FollowUp | None:
    """A number picks that suggestion; "yes" picks the only (or first) one; "no" declines. Else None."""
    if not state.suggestions:
        return None
    folded = " ".join(re.sub(r"[^\w\s#]", " ", text.casefold()).split())
    match = _NUMBER.match(folded)
    if match:
        number = int(match.group(1))
        if 1 <= number <= len(state.suggestions):
            return FollowUp(pick=state.suggestions[number - 1])
        return None
    if folded in _AFFIRM:
        return FollowUp(pick=state.suggestions[0])
    if folded in _DENY:
        return FollowUp(declined=True)
    for suggestion in state.suggestions:
        if folded and folded == " ".join(re.sub(r"[^\w\s]", " ", suggestion.text.casefold()).split()):
            return FollowUp(pick=suggestion)
    return None


class ConversationTracker:
    """Thread-safe map of conversation id -> state, capped at `capacity` conversations."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> ConversationState:
        with self._lock:
            state = self._states.pop(conversation_id, None) or ConversationState()
            self._states[conversation_id] = state
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
            return state

    def reset(self, conversation_id: str) -> None:
        with self._lock:
            self._states.pop(conversation_id, None)
