"""The fixed decision flow of one message, and its one pure function `decide`.

decide() is where routing policy lives; it takes the classifier's prediction and the retriever's hits
and returns a Decision with the reason in words, so every reply can explain itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping

from smallbot.types import Decision, Hit, IntentPrediction, ReplyKind, Route

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Policy:
    """Thresholds the router acts on; built from bot.yml and the calibration stored at train time."""

    faq_answer: float
    faq_suggest: float
    intent: float = 0.5
    routes: Mapping[str, Route] = field(default_factory=dict)
    generator: bool = False
    max_suggestions: int = 3


class InputRejected(ValueError):
    """A message the router refuses to process (empty after cleaning, too long)."""


def normalise(text: str, max_chars: int) -> str:
    """NFC, control characters removed, whitespace squeezed; refuses empty and over-long input."""
    if not isinstance(text, str):
        raise InputRejected("message text must be a string")
    cleaned = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
    if not cleaned:
        raise InputRejected("empty message")
    if len(cleaned) > max_chars:
        raise InputRejected(f"message is {len(cleaned)} characters; the limit is {max_chars}")
    return cleaned


def decide(
    prediction: IntentPrediction, hits: list[Hit] | tuple[Hit, ...], policy: Policy, looks_offtopic: bool = False
) -> Decision:
    """Pick the route for one message.

    Order: a confident FAQ answer (unless the classifier judged the message out of scope, or it `looks_offtopic`:
    as close to one of the bot's non-FAQ examples as to the FAQ, `KnowledgeBase.looks_offtopic`); a confident
    respond/handoff intent; "did you mean" suggestions;
    small talk from the generator for out-of-scope messages; otherwise the fallback.
    """
    top = hits[0] if hits else None
    route = policy.routes.get(prediction.intent or "")
    intent_ok = not prediction.out_of_scope and prediction.confidence >= policy.intent
    # a message the intent classifier judged out of scope gets at most "did you mean": "how do I cancel my
    # netflix subscription" matches our cancel entry closely, and only the out-of-scope examples tell them apart
    # (no ranking: the bot has no classifier to judge)
    judged_out_of_scope = (prediction.out_of_scope and bool(prediction.ranking)) or looks_offtopic
    if top is not None and top.score >= policy.faq_answer and not judged_out_of_scope:
        # runner-ups that are themselves plausible come along as "Related": a near miss then costs one click
        related = tuple(h for h in hits[1:] if h.score >= policy.faq_suggest)[: policy.max_suggestions - 1]
        return Decision(
            ReplyKind.ANSWER,
            f"faq confidence {top.score:.2f} >= {policy.faq_answer:.2f}",
            top.score,
            prediction.intent,
            (top, *related),
        )
    if intent_ok and route in (Route.RESPOND, Route.HANDOFF):
        kind = ReplyKind.RESPOND if route is Route.RESPOND else ReplyKind.HANDOFF
        return Decision(
            kind,
            f"intent {prediction.intent} {prediction.confidence:.2f} >= {policy.intent:.2f}",
            prediction.confidence,
            prediction.intent,
        )
    # a message judged out of scope is offered only an entry it matches closely (the answer band), so small talk
    # and off-topic text reach the generator or the fallback instead of a list of unrelated questions
    floor = policy.faq_answer if judged_out_of_scope else policy.faq_suggest
    suggestions = tuple(h for h in hits if h.score >= floor)[: policy.max_suggestions]
    if suggestions:
        reason = (
            f"faq confidence {suggestions[0].score:.2f} in suggest band [{policy.faq_suggest:.2f}, "
            f"{policy.faq_answer:.2f})"
            if suggestions[0].score < policy.faq_answer
            else f"faq confidence {suggestions[0].score:.2f}, but the message looks out of scope: suggest only"
        )
        return Decision(ReplyKind.SUGGEST, reason, suggestions[0].score, prediction.intent, suggestions)
    if policy.generator and (prediction.out_of_scope or route is None):
        return Decision(ReplyKind.GENERATE, "out of scope: small talk from the generator", prediction.confidence, None)
    best = top.score if top is not None else 0.0
    if prediction.out_of_scope:
        reason = "out of scope"
    elif route is Route.FAQ:
        # the FAQ's own confidence, not the classifier's: "a FAQ question" was likely, no entry was
        return Decision(
            ReplyKind.FALLBACK,
            f"no FAQ entry confident enough (best {best:.2f} < {policy.faq_suggest:.2f})",
            best,
            prediction.intent,
        )
    else:
        reason = f"intent confidence {prediction.confidence:.2f} < {policy.intent:.2f}"
    return Decision(ReplyKind.FALLBACK, reason, prediction.confidence, prediction.intent)
