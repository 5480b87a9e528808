"""The web connector's pure halves: JSON in -> `Message`, `Reply` -> JSON out. No I/O, no aiohttp.

Every refusal is a `BadRequest` with the HTTP status and a machine-readable `error` code, so the shell
turns it into the same JSON body on REST and on the WebSocket:

    400 bad_json / bad_request     the body is not a JSON object or a field has the wrong type
    413 request_too_large          the body is larger than `web.max_request_bytes`
    422 message_too_long / empty_message   the text breaks `limits.max_message_chars` or is blank
    429 rate_limited               too many messages from one client address (with `retry_after` seconds)
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from smallbot.types import Message, Reply

CHANNEL = "web"
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_MESSAGE_REF = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_USER_CHARS = 80
_MAX_COMMENT_CHARS = 1000


class BadRequest(ValueError):
    """Input the web API refuses; `status` and `error` go to the client with `reason` in words."""

    def __init__(self, status: int, error: str, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.retry_after = retry_after  # seconds, for 429

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "reason": self.reason, "status": self.status}
        if self.retry_after is not None:
            body["retry_after"] = max(1, math.ceil(self.retry_after))
        return body


@dataclass(frozen=True)
class Feedback:
    """A thumbs up (+1) or down (-1) on one reply, with an optional comment."""

    conversation_id: str
    message_ref: str
    score: int
    comment: str = ""


def decode_json(body: bytes | str, max_bytes: int) -> dict[str, Any]:
    """Decode a request body into a JSON object, refusing oversize and non-object bodies."""
    size = len(body.encode("utf-8")) if isinstance(body, str) else len(body)
    if size > max_bytes:
        raise BadRequest(413, "request_too_large", f"request body is {size} bytes; the limit is {max_bytes}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "bad_json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # json's C scanner recurses per nesting level; a few KB of "[[[[" exhausts it
        raise BadRequest(400, "bad_json", "request body is nested too deeply: send a flat JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "bad_json", 'request body must be a JSON object like {"text": "..."}')
    where = _lone_surrogate(data)
    if where is not None:
        # JSON's \ud800 escapes decode to text that is not Unicode: no tokenizer or UTF-8 store can take it,
        # so it is refused here rather than acknowledged and then lost
        raise BadRequest(
            400,
            "bad_request",
            f"{where} holds a lone surrogate (an unpaired \\ud800-\\udfff escape): send valid Unicode text",
        )
    return data


def _lone_surrogate(data: Any) -> str | None:
    """Where the first string holding a lone surrogate is ("field 'text'"), or None. Iterative: the
    object may nest as deep as the JSON parser allowed."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    return f"a field name in {path or 'the body'}"
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str) and _SURROGATE.search(value):
            return f"field '{path}'"
    return None


def parse(raw: dict[str, Any], max_message_chars: int, *, new_id: str | None = None) -> Message | None:
    """Turn one decoded request (`{"text", "conversation_id"?, "user"?}`) into a `Message`.

    A missing conversation id starts a new conversation. Returns None for a message that is only
    whitespace so the shell can refuse it before the bot spends time on it.

    >>> parse({"text": "hi", "conversation_id": "abcdefgh"}, 1000).conversation_id
    'abcdefgh'
    """
    text = raw.get("text")
    if not isinstance(text, str):
        raise BadRequest(400, "bad_request", "field 'text' is required and must be a string")
    if len(text) > max_message_chars:
        raise BadRequest(
            422, "message_too_long", f"message is {len(text)} characters; the limit is {max_message_chars}"
        )
    conversation_id = _conversation_id(raw.get("conversation_id"), new_id)
    user = raw.get("user", "")
    if not isinstance(user, str) or len(user) > _MAX_USER_CHARS:
        raise BadRequest(400, "bad_request", f"field 'user' must be a string of at most {_MAX_USER_CHARS} characters")
    if not text.strip():
        return None
    return Message(conversation_id, text, user=user, channel=CHANNEL, metadata={"message_ref": uuid.uuid4().hex})


def parse_feedback(raw: dict[str, Any]) -> Feedback:
    """`{"conversation_id", "message_id", "score": "up"|"down"|1|-1, "comment"?}` -> `Feedback`."""
    conversation_id = raw.get("conversation_id")
    if not isinstance(conversation_id, str) or not _CONVERSATION_ID.match(conversation_id):
        raise BadRequest(400, "bad_request", "field 'conversation_id' is required (8-64 letters, digits, - or _)")
    ref = raw.get("message_id")
    if not isinstance(ref, str) or not _MESSAGE_REF.match(ref):
        raise BadRequest(400, "bad_request", "field 'message_id' is required: the message_id of the reply you rate")
    raw_score = raw.get("score")
    # bool is an int in Python: `true` must not count as a thumbs up
    scores = {"up": 1, "down": -1, 1: 1, -1: -1}
    score = scores.get(raw_score) if isinstance(raw_score, (str, int)) and not isinstance(raw_score, bool) else None
    if score is None:
        raise BadRequest(400, "bad_request", 'field \'score\' must be "up" or "down" (or 1 / -1)')
    comment = raw.get("comment", "")
    if not isinstance(comment, str) or len(comment) > _MAX_COMMENT_CHARS:
        raise BadRequest(
            400, "bad_request", f"field 'comment' must be a string of at most {_MAX_COMMENT_CHARS} characters"
        )
    return Feedback(conversation_id, ref, score, comment)


def render(reply: Reply, message: Message) -> dict[str, Any]:
    """The JSON a client gets for one reply: `Reply.to_dict()` plus the id to rate it by.

    Timings and the router's reason stay in: they are not secrets and help the author debug.
    """
    payload = reply.to_dict()
    payload["conversation_id"] = message.conversation_id
    payload["message_id"] = message.metadata.get("message_ref", "")
    return payload


def render_chunk(text: str) -> dict[str, Any]:
    """One streamed piece of reply text (WebSocket only)."""
    return {"type": "chunk", "text": text}


def _conversation_id(value: Any, new_id: str | None) -> str:
    if value is None or value == "":
        return new_id or uuid.uuid4().hex
    if not isinstance(value, str) or not _CONVERSATION_ID.match(value):
        raise BadRequest(
            400,
            "bad_request",
            "field 'conversation_id' must be 8-64 letters, digits, - or _ (or left out to start one)",
        )
    return value
