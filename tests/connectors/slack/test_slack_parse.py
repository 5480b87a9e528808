"""The pure input half: Slack payloads -> Message / Command / Action."""

from __future__ import annotations

import json

import pytest

from smallbot.connectors.slack import clean_text, parse, parse_action, parse_command
from smallbot.connectors.slack.parse import split_conversation_id
from smallbot.connectors.slack.testing import BOT_USER, event_body


@pytest.mark.parametrize("raw, expected", [
    ("<@U123> how do I reset my password?", "how do I reset my password?"),
    ("<@U123|alice> hi <@U0BOT>", "hi"),
    ("see <http://x.example/a?b=1&amp;c=2|the docs> please", "see the docs please"),
    ("see <https://x.example/page>", "see https://x.example/page"),
    ("ask in <#C1|help-desk>", "ask in #help-desk"),
    ("write to <mailto:a@b.example|a@b.example>", "write to a@b.example"),
    ("<!here> anyone?", "anyone?"),
    ("<!subteam^S1|@support> help", "@support help"),
    ("fish &amp; chips &lt;3 &gt;", "fish & chips <3 >"),
    ("  spaced\n\nout  ", "spaced out"),
    ("<@U123>", ""),
])
def test_clean_text_strips_slack_markup(raw, expected):
    assert clean_text(raw) == expected


def _payload(**kwargs):
    return json.loads(event_body(**kwargs))


@pytest.mark.parametrize("kwargs, expected", [
    # (event_body arguments, (conversation id, text)) or None when the bot must not answer
    (dict(text=f"<@{BOT_USER}> refund?", channel="C1", ts="1.1"), ("T0TEST:C1:1.1", "refund?")),
    (dict(text=f"<@{BOT_USER}> refund?", channel="C1", ts="2.2", thread_ts="1.1"), ("T0TEST:C1:1.1", "refund?")),
    (dict(text="refund?", kind="message", channel="D1", ts="3.3"), ("T0TEST:D1:3.3", "refund?")),
    (dict(text="refund?", kind="message", channel="C1", ts="3.3", channel_type="channel"), None),
    # a reply in a channel thread without a mention: offered to the shell, which checks the thread is ours
    (dict(text="and refunds?", kind="message", channel="C1", ts="3.3", thread_ts="1.1", channel_type="channel"),
     ("T0TEST:C1:1.1", "and refunds?")),
    (dict(text=f"<@{BOT_USER}> and refunds?", kind="message", channel="C1", ts="3.3", thread_ts="1.1",
          channel_type="channel"), None),  # arrives as app_mention too; answered there
    (dict(text="refund?", kind="message", channel="C1", ts="3.3", thread_ts="3.3", channel_type="channel"), None),
    (dict(text="refund?", kind="message", channel="D1", ts="3.3", bot_id="B1"), None),
    (dict(text="refund?", kind="message", channel="D1", ts="3.3", user=BOT_USER), None),
    (dict(text="refund?", kind="message", channel="D1", ts="3.3", subtype="message_changed"), None),
    (dict(text="refund?", kind="message", channel="D1", ts="3.3", subtype="bot_message"), None),
    (dict(text=f"<@{BOT_USER}>", channel="C1", ts="1.1"), None),
    (dict(text="hello", kind="reaction_added", channel="C1", ts="1.1"), None),
])
def test_parse_answers_mentions_and_direct_messages_only(kwargs, expected):
    message = parse(_payload(**kwargs))
    if expected is None:
        assert message is None
    else:
        assert (message.conversation_id, message.text) == expected
        assert message.channel == "slack"
        assert message.user == "U0ALICE"


def test_parse_ignores_our_own_user_even_without_authorizations():
    payload = _payload(text="hi", kind="message", channel="D1", user="U0ME")
    del payload["authorizations"]
    assert parse(payload, bot_user_id="U0ME") is None
    assert parse(payload) is not None


def test_parse_ignores_other_envelopes():
    assert parse({"type": "url_verification", "challenge": "x"}) is None
    assert parse({"type": "event_callback"}) is None


def test_parse_keeps_the_ids_a_reply_needs():
    message = parse(_payload(text="<@U0BOT> hi", channel="C9", ts="5.5", thread_ts="4.4", event_id="Ev9"))
    assert dict(message.metadata) == {"team": "T0TEST", "channel": "C9", "thread_ts": "4.4", "ts": "5.5",
                                      "event_id": "Ev9", "channel_type": "", "thread_reply": False}
    assert split_conversation_id(message.conversation_id) == ("T0TEST", "C9", "4.4")


def test_parse_command_reads_the_form_fields():
    command = parse_command({"command": "/ask", "text": "<@U1> refund &amp; return?", "user_id": "U2",
                             "channel_id": "C3", "team_id": "T4"})
    assert (command.command, command.text, command.user, command.channel, command.team) == \
        ("/ask", "refund & return?", "U2", "C3", "T4")


def _click(action_id, value, *, thread_ts="1.1", channel="C1"):
    message = {"ts": "2.2", "thread_ts": thread_ts} if thread_ts else {"ts": "2.2"}
    return {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"}, "channel": {"id": channel},
            "message": message, "container": {"message_ts": "2.2", "channel_id": channel},
            "actions": [{"action_id": action_id, "value": json.dumps(value)}]}


@pytest.mark.parametrize("payload, expected", [
    (_click("smallbot_suggest:2", {"id": "refund", "text": "Can I get a refund?"}),
     ("smallbot_suggest", "T1:C1:1.1", "Can I get a refund?", "refund")),
    (_click("smallbot_feedback:down", {"vote": "down", "id": "refund"}),
     ("smallbot_feedback", "T1:C1:1.1", "down", "refund")),
    # a click on a top-level message belongs to the thread that message starts
    (_click("smallbot_feedback:up", {"vote": "up", "id": "x"}, thread_ts=None),
     ("smallbot_feedback", "T1:C1:2.2", "up", "x")),
    # "Mark resolved" lives in the support channel and names the thread it resolves
    (_click("smallbot_resolve", {"conversation": "T1:C7:9.9"}, channel="CSUP"),
     ("smallbot_resolve", "T1:C7:9.9", "", "")),
    (_click("smallbot_resolve", {"conversation": "nonsense"}), None),
    (_click("someone_elses_button", {"x": 1}), None),
    ({"type": "view_submission", "view": {}}, None),
])
def test_parse_action_reads_our_buttons_only(payload, expected):
    action = parse_action(payload)
    if expected is None:
        assert action is None
    else:
        assert (action.kind, action.conversation_id, action.value, action.entry_id) == expected
        assert (action.user, action.message_ts) == ("U1", "2.2")


def test_clean_text_turns_a_lone_surrogate_into_the_replacement_character():
    cleaned = clean_text("hi \ud800 there")
    assert cleaned == "hi \ufffd there"
    cleaned.encode("utf-8")  # storable and tokenizable
