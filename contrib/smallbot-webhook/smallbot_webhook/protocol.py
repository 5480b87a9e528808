"""The pure halves: signing and verifying requests, JSON -> Message, Reply -> JSON. No I/O here.

The signature is an HMAC-SHA256 over ``"<timestamp>." + body`` keyed with the shared secret, sent as
``sha256=<hex>``; the timestamp is signed so a captured request cannot be replayed after the tolerance
(the scheme Slack and Stripe use). Digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from smallbot.types import Message, Reply

SIGNATURE_HEADER = "X-Smallbot-Signature"
TIMESTAMP_HEADER = "X-Smallbot-Timestamp"
CHANNEL = "webhook"


class Refused(Exception):
    """A request this connector will not answer: the HTTP status, a short code and the reason."""

    def __init__(self, status: int, error: str, reason: str):
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "reason": self.reason, "status": self.status}


def signature(body: bytes, secret: str, timestamp: int | str) -> str:
    """The ``sha256=<hex>`` value of the signature header for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers a sender puts on a POST of `body`.

    >>> signed_headers(b'{"text": "hi"}', "s3cret", 1_700_000_000)[TIMESTAMP_HEADER]
    '1700000000'
    """
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(body, secret, timestamp),
            "Content-Type": "application/json"}


def verify(body: bytes, headers: Any, secret: str, now: float, tolerance: float) -> None:
    """Raise Refused(401) unless `headers` carry a fresh, valid signature of `body`."""
    stamp, given = headers.get(TIMESTAMP_HEADER, ""), headers.get(SIGNATURE_HEADER, "")
    if not stamp or not given:
        raise Refused(401, "unsigned", f"sign the request: {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise Refused(401, "bad_timestamp", f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now - sent_at) > tolerance:
        raise Refused(401, "stale_timestamp", f"the request was signed {int(now - sent_at)} s from our clock; "
                      f"the tolerance is {int(tolerance)} s")
    if not hmac.compare_digest(signature(body, secret, sent_at), given):
        raise Refused(401, "bad_signature", "the signature does not match the body and the shared secret")


def parse(raw: Any, max_chars: int) -> Message | None:
    """A decoded JSON body -> Message; None when its text is empty. Refused(400/422) for bad fields."""
    if not isinstance(raw, dict):
        raise Refused(400, "bad_json", "the body must be a JSON object")
    conversation, text, user = raw.get("conversation_id"), raw.get("text", ""), raw.get("user", "")
    if not isinstance(conversation, str) or not conversation.strip() or len(conversation) > 200:
        raise Refused(422, "bad_conversation_id", "conversation_id must be a non-empty string of at most 200 characters")
    if not isinstance(text, str) or not isinstance(user, str):
        raise Refused(422, "bad_field", "text and user must be strings")
    if len(text) > max_chars:
        raise Refused(422, "message_too_long", f"text is {len(text)} characters; the limit is {max_chars}")
    if not text.strip():
        return None
    # namespaced, so a sender's ids never meet another channel's conversations in the shared log
    return Message(f"{CHANNEL}:{conversation}", text, user=user, channel=CHANNEL,
                   metadata={"webhook_conversation_id": conversation})


def render(reply: Reply, message: Message) -> dict[str, Any]:
    """A Reply -> the JSON body sent back to the sender."""
    return {
        "conversation_id": message.metadata.get("webhook_conversation_id", message.conversation_id),
        "kind": reply.kind.value,
        "text": reply.text,
        "intent": reply.intent,
        "confidence": round(float(reply.confidence), 4),
        "sources": [{"id": s.entry_id, "question": s.question, "links": list(s.links)} for s in reply.sources],
        "suggestions": [{"id": s.entry_id, "text": s.text} for s in reply.suggestions],
        "suggestions_label": reply.suggestions_label,
    }
