"""Slack payloads -> `Message`s and actions: pure functions, no I/O, tested table-driven.

One conversation per thread: the conversation id is ``team:channel:thread_ts``, where ``thread_ts`` is
the thread's parent ts (a top-level question starts its own thread).
Event shapes: https://api.slack.com/events/app_mention, https://api.slack.com/events/message.im
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from smallbot.types import Message

CHANNEL = "slack"

# <@U123>, <@U123|name>, <!here>, <!channel>, <!subteam^S1|@team>, <#C1|name>, <http://x|label>, <http://x>
_ANGLE = re.compile(r"<([^<>]*)>")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Slack markup -> the words a person typed: mentions dropped, links and channels to their labels.

    >>> clean_text("<@U1> how do I reset <https://x.example|my password>?")
    'how do I reset my password?'
    """

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):  # user mention: who is addressed is not part of the question
            return ""
        if target.startswith("#"):
            return f"#{label}" if label else ""
        if target.startswith("!"):  # <!here>, <!channel>, <!subteam^ID|@team>, <!date^...|fallback>
            return label if target.startswith(("!subteam", "!date")) else ""
        if label:
            return label
        return target.removeprefix("mailto:")

    stripped = _ANGLE.sub(replace, text or "")
    # a lone surrogate (a JSON \\ud800 escape) is not Unicode: no tokenizer or store could take it, and
    # Slack needs its 200 anyway, so it becomes U+FFFD like any undecodable byte
    return " ".join(_SURROGATE.sub("\ufffd", html.unescape(stripped)).split())


def conversation_id(team: str, channel: str, thread_ts: str) -> str:
    """The one conversation of a Slack thread."""
    return f"{team}:{channel}:{thread_ts}"


def split_conversation_id(cid: str) -> tuple[str, str, str]:
    """(team, channel, thread_ts) of a conversation id made by `conversation_id`."""
    team, channel, thread_ts = cid.split(":", 2)
    return team, channel, thread_ts


def parse(payload: Mapping[str, Any], bot_user_id: str | None = None) -> Message | None:
    """An Events API ``event_callback`` -> the Message to answer, or None when it is not for the bot.

    Answered: ``app_mention`` anywhere and ``message`` in a direct message (``channel_type: im``).
    A ``message`` that replies in a channel thread without mentioning the bot comes back with
    ``metadata["thread_reply"] = True``: the shell answers it only in threads the bot is part of
    (apps subscribed to ``message.channels`` get these). Ignored: other event types, edits and other
    subtypes, messages from bots (our own included), and messages empty once mentions are removed.
    """
    if payload.get("type") != "event_callback":
        return None
    event = payload.get("event") or {}
    kind = event.get("type")
    own = bot_user_id or _authorized_bot(payload)
    thread_reply = False
    if kind == "message" and event.get("channel_type") != "im":
        # a follow-up in a thread; one that mentions us also arrives as app_mention, answered there
        thread_ts = event.get("thread_ts")
        if not (own and thread_ts and thread_ts != event.get("ts")) or f"<@{own}" in (event.get("text") or ""):
            return None
        thread_reply = True
    elif kind not in ("message", "app_mention"):
        return None
    if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return None
    user = event.get("user") or ""
    if not user or (own and user == own):
        return None
    text = clean_text(event.get("text") or "")
    channel, ts = event.get("channel") or "", event.get("ts") or ""
    if not text or not channel or not ts:
        return None
    team = event.get("team") or payload.get("team_id") or ""
    thread_ts = event.get("thread_ts") or ts
    return Message(
        conversation_id(team, channel, thread_ts),
        text,
        user=user,
        channel=CHANNEL,
        metadata={
            "team": team,
            "channel": channel,
            "thread_ts": thread_ts,
            "ts": ts,
            "event_id": payload.get("event_id") or "",
            "channel_type": event.get("channel_type") or "",
            "thread_reply": thread_reply,
        },
    )


def _authorized_bot(payload: Mapping[str, Any]) -> str | None:
    for auth in payload.get("authorizations") or ():
        if auth.get("is_bot") and auth.get("user_id"):
            return auth["user_id"]
    return None


@dataclass(frozen=True)
class Command:
    """A slash command (``/ask how do I ...``) as Slack posts it (form fields)."""

    command: str
    text: str
    user: str
    channel: str
    team: str


def parse_command(form: Mapping[str, str]) -> Command:
    """Slash-command form fields -> Command; https://api.slack.com/interactivity/slash-commands."""
    return Command(
        form.get("command", ""),
        clean_text(form.get("text", "")),
        form.get("user_id", ""),
        form.get("channel_id", ""),
        form.get("team_id", ""),
    )


# action ids our blocks carry; anything else is someone else's button
SUGGEST = "smallbot_suggest"
FEEDBACK = "smallbot_feedback"
RESOLVE = "smallbot_resolve"


@dataclass(frozen=True)
class Action:
    """One click on one of our buttons.

    ``conversation_id`` is the thread the click belongs to; ``value`` is what the button carries:
    the suggestion's text for SUGGEST, "up"/"down" for FEEDBACK, nothing for RESOLVE.
    ``message_ts``/``message_channel`` locate the clicked message so it can be updated.
    """

    kind: str
    conversation_id: str
    value: str
    user: str
    message_channel: str
    message_ts: str
    entry_id: str = ""
    ref: str = ""  # FEEDBACK: the logged turn the rated reply answered (its message_ref)


def parse_action(payload: Mapping[str, Any]) -> Action | None:
    """A ``block_actions`` payload -> the Action, or None for other payloads and foreign buttons."""
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        return None
    action = payload["actions"][0]
    action_id = str(action.get("action_id") or "")
    kind = next((k for k in (SUGGEST, FEEDBACK, RESOLVE) if action_id == k or action_id.startswith(k + ":")), None)
    if kind is None:
        return None
    try:
        value = json.loads(action.get("value") or "{}")
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    message = payload.get("message") or {}
    container = payload.get("container") or {}
    channel = (payload.get("channel") or {}).get("id") or container.get("channel_id") or ""
    team = (payload.get("team") or {}).get("id") or (payload.get("user") or {}).get("team_id") or ""
    message_ts = message.get("ts") or container.get("message_ts") or ""
    if kind == RESOLVE:  # the button lives in the support channel and names the thread it resolves
        cid = str(value.get("conversation") or "")
        if cid.count(":") < 2:
            return None
    else:
        thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
        if not (channel and thread_ts):
            return None
        cid = conversation_id(team, channel, thread_ts)
    return Action(
        kind,
        cid,
        str(value.get("text") or value.get("vote") or ""),
        (payload.get("user") or {}).get("id") or "",
        channel,
        message_ts,
        str(value.get("id") or ""),
        str(value.get("ref") or "")[:64],
    )
