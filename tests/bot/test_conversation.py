from __future__ import annotations

import pytest

from smallbot.conversation import ConversationState, ConversationTracker, interpret_follow_up
from smallbot.types import Suggestion

OFFERED = ConversationState(suggestions=(Suggestion("a", "How do I pay?"), Suggestion("b", "Can I get a refund?")))


@pytest.mark.parametrize("text, picked", [("1", "a"), ("2", "b"), ("#2", "b"), ("option 1", "a"), ("yes", "a"),
                                          ("Yep!", "a"), ("can i get a refund", "b")])
def test_follow_up_picks_a_suggestion(text, picked):
    assert interpret_follow_up(text, OFFERED).pick.entry_id == picked


def test_follow_up_declined_and_unrelated():
    assert interpret_follow_up("no", OFFERED).declined
    assert interpret_follow_up("3", OFFERED) is None
    assert interpret_follow_up("what about invoices", OFFERED) is None
    assert interpret_follow_up("1", ConversationState()) is None


def test_tracker_is_bounded_and_resets():
    tracker = ConversationTracker(capacity=2)
    tracker.get("a").turns = 5
    tracker.get("b")
    tracker.get("c")
    assert tracker.get("a").turns == 0  # evicted as least recently used
    tracker.get("b").turns = 3
    tracker.reset("b")
    assert tracker.get("b").turns == 0
