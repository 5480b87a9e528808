"""decide() is the routing policy: table-driven tests over prediction x hits x thresholds."""

from __future__ import annotations

import pytest

from smallbot.runtime.router import InputRejected, Policy, decide, normalise
from smallbot.types import Hit, IntentPrediction, ReplyKind, Route

ROUTES = {"greet": Route.RESPOND, "human": Route.HANDOFF, "billing": Route.FAQ}
POLICY = Policy(faq_answer=0.8, faq_suggest=0.6, intent=0.5, routes=ROUTES)


def pred(intent, confidence, oos=False):
    return IntentPrediction(None if oos else intent, confidence, ((intent, confidence),), oos)


def hits(*scores):
    return [Hit(f"faq{i}", s, f"question {i}", f"question {i}") for i, s in enumerate(scores)]


@pytest.mark.parametrize("prediction, found, policy, kind, reason", [
    (pred("billing", 0.9), hits(0.85, 0.7), POLICY, ReplyKind.ANSWER, "faq confidence 0.85 >= 0.80"),
    (pred("greet", 0.95), hits(0.85), POLICY, ReplyKind.ANSWER, "faq confidence 0.85 >= 0.80"),
    (pred("greet", 0.95), hits(0.3), POLICY, ReplyKind.RESPOND, "intent greet 0.95 >= 0.50"),
    (pred("human", 0.7), hits(0.65), POLICY, ReplyKind.HANDOFF, "intent human 0.70 >= 0.50"),
    (pred("greet", 0.4), hits(0.3), POLICY, ReplyKind.FALLBACK, "intent confidence 0.40 < 0.50"),
    (pred("billing", 0.9), hits(0.7, 0.65, 0.62, 0.61), POLICY, ReplyKind.SUGGEST, "faq confidence 0.70 in suggest band [0.60, 0.80)"),
    (pred("billing", 0.9), hits(0.5), POLICY, ReplyKind.FALLBACK, "no FAQ entry confident enough (best 0.50 < 0.60)"),
    (pred("x", 0.2, oos=True), hits(0.3), POLICY, ReplyKind.FALLBACK, "out of scope"),
    (pred("x", 0.2, oos=True), hits(0.3), Policy(0.8, 0.6, 0.5, ROUTES, generator=True), ReplyKind.GENERATE,
     "out of scope: small talk from the generator"),
    (pred("greet", 0.95, oos=True), [], POLICY, ReplyKind.FALLBACK, "out of scope"),
    # a close FAQ match to a message judged out of scope ("cancel my netflix subscription") is only suggested
    (pred("x", 0.2, oos=True), hits(0.9), POLICY, ReplyKind.SUGGEST,
     "faq confidence 0.90, but the message looks out of scope: suggest only"),
    # ... and a weak FAQ match of such a message is not offered at all: small talk is not a "did you mean"
    (pred("x", 0.2, oos=True), hits(0.7), POLICY, ReplyKind.FALLBACK, "out of scope"),
    # a bot without an intent classifier judges nothing out of scope: the FAQ answers
    (IntentPrediction(None, 0.0, (), True), hits(0.9), POLICY, ReplyKind.ANSWER, "faq confidence 0.90 >= 0.80"),
])
def test_decide_table(prediction, found, policy, kind, reason):
    decision = decide(prediction, found, policy)
    assert decision.kind is kind
    assert decision.reason == reason


def test_decide_suggests_at_most_three_above_the_suggest_threshold():
    decision = decide(pred("billing", 0.9), hits(0.75, 0.7, 0.65, 0.62, 0.5), POLICY)
    assert [h.entry_id for h in decision.hits] == ["faq0", "faq1", "faq2"]
    decision = decide(pred("billing", 0.9), hits(0.75, 0.55), POLICY)
    assert [h.entry_id for h in decision.hits] == ["faq0"]


def test_decide_prefers_faq_answer_over_confident_small_talk_intent():
    assert decide(pred("greet", 0.99), hits(0.81), POLICY).kind is ReplyKind.ANSWER


@pytest.mark.parametrize("raw, expected", [
    ("  hello\tthere \n", "hello there"),
    ("bad\x00control\x07chars", "bad control chars"),
    ("cafe\u0301", "caf\u00e9"),
])
def test_normalise_cleans_text(raw, expected):
    assert normalise(raw, 100) == expected


@pytest.mark.parametrize("raw, problem", [("   ", "empty message"), ("x" * 101, "message is 101 characters; the limit is 100")])
def test_normalise_rejects_with_reason(raw, problem):
    with pytest.raises(InputRejected, match=problem):
        normalise(raw, 100)


def test_an_answer_brings_plausible_runner_ups_as_related():
    decision = decide(pred("billing", 0.9), hits(0.9, 0.7, 0.65, 0.3), POLICY)
    assert decision.kind is ReplyKind.ANSWER
    # the answer itself, then at most two related entries, each above the suggest threshold
    assert [h.entry_id for h in decision.hits] == ["faq0", "faq1", "faq2"]
    alone = decide(pred("billing", 0.9), hits(0.9, 0.5), POLICY)
    assert [h.entry_id for h in alone.hits] == ["faq0"]


def test_a_faq_fallback_reports_the_faq_confidence_not_the_classifiers():
    decision = decide(pred("billing", 0.99), hits(0.42), POLICY)
    assert decision.kind is ReplyKind.FALLBACK and decision.confidence == 0.42
    assert "billing" not in decision.reason and "0.42" in decision.reason


def test_a_message_that_looks_off_topic_is_only_suggested_whatever_the_classifier_said():
    # nearer one of the bot's own non-FAQ examples than its FAQ match (KnowledgeBase.looks_offtopic)
    decision = decide(pred("billing", 0.9), hits(0.9), POLICY, looks_offtopic=True)
    assert decision.kind is ReplyKind.SUGGEST and [h.entry_id for h in decision.hits] == ["faq0"]
