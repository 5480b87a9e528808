from __future__ import annotations

import pytest

from smallbot.runtime.conversation import (STATE_TTL_S, ConversationState, ConversationTracker, could_follow_up,
                                   fold_question, interpret_follow_up, state_from_turns, turn_of)
from smallbot.types import Message, Reply, ReplyKind, Suggestion

OFFERED = ConversationState(suggestions=(Suggestion("a", "How do I pay?"), Suggestion("b", "Can I get a refund?")))
QUESTIONS = {"a": "How do I pay?", "b": "Can I get a refund?", "c": "Opening hours?"}


@pytest.mark.parametrize("text, picked", [("1", "a"), ("2", "b"), ("#2", "b"), ("option 1", "a"), ("yes", "a"),
                                          ("Yep!", "a"), ("can i get a refund", "b")])
def test_follow_up_picks_a_suggestion(text, picked):
    assert interpret_follow_up(text, OFFERED).pick.entry_id == picked


def test_follow_up_declined_and_unrelated():
    assert interpret_follow_up("no", OFFERED).declined
    assert interpret_follow_up("3", OFFERED) is None
    assert interpret_follow_up("what about invoices", OFFERED) is None
    assert interpret_follow_up("1", ConversationState()) is None


@pytest.mark.parametrize("text", ["1", "#2", "option 1", "Yep!", "no thanks", "can i get a refund"])
def test_every_possible_follow_up_reads_the_state(text):
    questions = frozenset(fold_question(q) for q in QUESTIONS.values())
    assert could_follow_up(text, questions)
    assert interpret_follow_up(text, OFFERED) is not None


@pytest.mark.parametrize("text", ["what about invoices", "how do i pay for a refund", "123", "yes I forgot it"])
def test_other_messages_skip_the_state_read(text):
    assert not could_follow_up(text, frozenset(fold_question(q) for q in QUESTIONS.values()))


def _turn(text: str, kind: ReplyKind = ReplyKind.ANSWER, at: float = 1000.0, suggest: tuple[str, ...] = (),
          reason: str = ""):
    reply = Reply(kind, f"re: {text}", "c1", suggestions=tuple(Suggestion(i, QUESTIONS[i]) for i in suggest),
                  reason=reason)
    return turn_of(Message("c1", text), reply, at)


def _state(*turns, now: float = 1000.0):
    return state_from_turns(turns, lambda i: Suggestion(i, QUESTIONS[i]) if i in QUESTIONS else None,
                            now - STATE_TTL_S)


def test_the_last_reply_suggestions_are_the_state():
    state = _state(_turn("hi", ReplyKind.RESPOND), _turn("money?", ReplyKind.SUGGEST, suggest=("a", "b")))
    assert [s.entry_id for s in state.suggestions] == ["a", "b"]
    assert state.suggestions[1].text == "Can I get a refund?"
    assert state.history == (("user", "hi"), ("assistant", "re: hi"), ("user", "money?"), ("assistant", "re: money?"))


def test_a_later_reply_without_suggestions_ends_them():
    assert _state(_turn("money?", ReplyKind.SUGGEST, suggest=("a", "b")), _turn("hours?")).suggestions == ()


def test_a_rejected_message_keeps_them():
    state = _state(_turn("money?", ReplyKind.SUGGEST, suggest=("a", "b")),
                   _turn("", ReplyKind.FALLBACK, reason="rejected: empty message"))
    assert [s.entry_id for s in state.suggestions] == ["a", "b"]


def test_reset_forgets_everything_before_it():
    state = _state(_turn("money?", ReplyKind.SUGGEST, suggest=("a", "b")), _turn("reset", ReplyKind.RESPOND,
                                                                                  reason="reset"))
    assert state.suggestions == () and state.history == (("user", "reset"), ("assistant", "re: reset"))


def test_old_turns_expire():
    offered = _turn("money?", ReplyKind.SUGGEST, at=1000.0, suggest=("a", "b"))
    assert _state(offered, now=1000.0 + STATE_TTL_S - 1).suggestions
    state = _state(offered, now=1000.0 + STATE_TTL_S + 1)
    assert state.suggestions == () and state.history == ()


def test_suggestions_of_a_deleted_entry_are_not_offered_any_more():
    assert _state(_turn("money?", ReplyKind.SUGGEST, suggest=("a", "b"))).suggestions
    gone = state_from_turns([_turn("money?", ReplyKind.SUGGEST, suggest=("a", "b"))],
                            lambda i: Suggestion(i, QUESTIONS[i]) if i == "b" else None, 0.0)
    assert gone.suggestions == ()  # "2" must not pick what moved up into second place


def test_tracker_keeps_the_last_turns_is_bounded_and_resets():
    tracker = ConversationTracker(capacity=2)
    for i in range(6):
        tracker.record(Message("a", f"q{i}"), Reply(ReplyKind.ANSWER, "x"))
    assert [t.text for t in tracker.recent("a")] == ["q2", "q3", "q4", "q5"]
    tracker.record(Message("b", "hi"), Reply(ReplyKind.RESPOND, "x"))
    tracker.record(Message("c", "hi"), Reply(ReplyKind.RESPOND, "x"))
    assert tracker.recent("a") == [] and len(tracker) == 2  # evicted as least recently used
    tracker.reset("b")
    assert tracker.recent("b") == [] and [t.text for t in tracker.recent("c")] == ["hi"]


def test_related_questions_under_an_answer_are_picked_by_number_not_by_yes():
    state = _state(_turn("money?", ReplyKind.ANSWER, suggest=("a", "b")))
    assert state.related and [s.entry_id for s in state.suggestions] == ["a", "b"]
    assert interpret_follow_up("2", state).pick.entry_id == "b"
    assert interpret_follow_up("yes", state) is None and interpret_follow_up("no", state) is None
