"""The pure output half: Reply -> Block Kit, Markdown -> mrkdwn."""

from __future__ import annotations

import json

import pytest

from smallbot.connectors.slack import render, to_mrkdwn
from smallbot.connectors.slack.render import BUTTON_LABEL_LIMIT, SECTION_LIMIT, render_handoff
from smallbot.types import Reply, ReplyKind, Source, Suggestion


@pytest.mark.parametrize("markdown, mrkdwn", [
    ("**bold** and __bold__", "*bold* and *bold*"),
    ("*italic* and _italic_", "_italic_ and _italic_"),
    ("~~gone~~", "~gone~"),
    ("see [the docs](https://x.example/a?b=1)", "see <https://x.example/a?b=1|the docs>"),
    ("see <https://x.example>", "see <https://x.example>"),
    ("# Title\ntext", "*Title*\ntext"),
    ("- one\n- two\n  * nested", "• one\n• two\n  • nested"),
    ("1. first\n2. second", "1. first\n2. second"),
    ("> quoted", "> quoted"),
    ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
    ("`a**b**` stays code", "`a**b**` stays code"),
    ("```\n**raw** <x>\n```", "```\n**raw** &lt;x&gt;\n```"),
    ("2 * 3 * 4", "2 * 3 * 4"),
    ("**Settings → Security**, then [help](https://h.example)", "*Settings → Security*, then <https://h.example|help>"),
])
def test_to_mrkdwn_converts_faq_markdown(markdown, mrkdwn):
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize("markdown, mrkdwn", [
    ("***both***", "_*both*_"),  # nested marks close in the order they opened
    ("## Export **now**\ntext", "*Export now*\ntext"),  # bold inside a heading is not bold twice
    ("see [Foo](https://en.wikipedia.org/wiki/Foo_(bar)) now", "see <https://en.wikipedia.org/wiki/Foo_(bar)|Foo> now"),
    ("```python\nx = a*b\n```", "```\nx = a*b\n```"),  # Slack has no language tag: it would show as code
    ("Tom &amp; Jerry", "Tom &amp; Jerry"),  # an entity is one character, escaped once
    ("write to <help@x.example>", "write to <mailto:help@x.example|help@x.example>"),
    ("Run:\n\n    ls <dir>", "Run:\n\n```\nls &lt;dir&gt;\n```"),  # indented code becomes a code block
])
def test_to_mrkdwn_handles_what_the_regexes_got_wrong(markdown, mrkdwn):
    assert to_mrkdwn(markdown) == mrkdwn


def _types(blocks):
    return [b["type"] for b in blocks]


def test_answer_has_text_source_and_feedback_buttons():
    reply = Reply(ReplyKind.ANSWER, "Click **Forgot password**.",
                  sources=(Source("reset-password", "How do I reset my password?", ("https://h.example/reset",)),))
    blocks = render(reply)
    assert _types(blocks) == ["section", "context", "actions"]
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": "Click *Forgot password*."}
    assert blocks[1]["elements"][0]["text"] == "Source: <https://h.example/reset|How do I reset my password?>"
    votes = [json.loads(e["value"]) for e in blocks[2]["elements"]]
    assert votes == [{"vote": "up", "id": "reset-password"}, {"vote": "down", "id": "reset-password"}]


def test_suggestions_become_numbered_buttons_carrying_the_question():
    reply = Reply(ReplyKind.SUGGEST, "Did you mean one of these?\n1. A?\n2. " + "B" * 100 + "?",
                  suggestions=(Suggestion("a", "A?"), Suggestion("b", "B" * 100 + "?")))
    blocks = render(reply)
    assert _types(blocks) == ["section", "actions"]
    buttons = blocks[1]["elements"]
    assert [b["action_id"] for b in buttons] == ["smallbot_suggest:1", "smallbot_suggest:2"]
    assert buttons[0]["text"]["text"] == "1. A?"
    assert len(buttons[1]["text"]["text"]) == BUTTON_LABEL_LIMIT
    assert json.loads(buttons[1]["value"]) == {"id": "b", "text": "B" * 100 + "?"}


@pytest.mark.parametrize("kind", [ReplyKind.RESPOND, ReplyKind.HANDOFF, ReplyKind.GENERATE, ReplyKind.FALLBACK])
def test_other_replies_are_one_section_without_buttons(kind):
    assert render(Reply(kind, "Hello <you>")) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Hello &lt;you&gt;"}}]


def test_long_answers_are_split_into_sections_under_the_limit():
    text = "\n\n".join(f"Paragraph {i} " + "word " * 300 for i in range(5))
    sections = [b for b in render(Reply(ReplyKind.RESPOND, text)) if b["type"] == "section"]
    assert len(sections) > 1
    assert all(len(s["text"]["text"]) <= SECTION_LIMIT for s in sections)
    # every word survives the split, in order (the parser drops the spaces that ended each paragraph)
    assert "".join(s["text"]["text"] for s in sections).split() == text.split()


def test_handoff_notice_links_the_thread_and_offers_resolve():
    blocks = render_handoff("U1", "I need <help>", "https://t.slack.com/archives/C1/p1", "T1:C1:1.1")
    assert "<https://t.slack.com/archives/C1/p1|this thread>" in blocks[0]["text"]["text"]
    assert ">I need &lt;help&gt;" in blocks[0]["text"]["text"]
    [button] = blocks[1]["elements"]
    assert button["action_id"] == "smallbot_resolve"
    assert json.loads(button["value"]) == {"conversation": "T1:C1:1.1"}


def test_related_questions_follow_the_answer_as_suggestion_buttons():
    reply = Reply(ReplyKind.ANSWER, "Refunds within 30 days.", sources=(Source("refund", "Refunds?"),),
                  suggestions=(Suggestion("cancel", "How do I cancel?"),), suggestions_label="Voir aussi <ici> :")
    blocks = render(reply)
    assert _types(blocks) == ["section", "context", "actions", "context", "actions"]
    assert blocks[3]["elements"][0]["text"] == "Voir aussi &lt;ici&gt; :"  # the bot's words, escaped for mrkdwn
    assert [b["action_id"] for b in blocks[4]["elements"]] == ["smallbot_suggest:1"]
    assert json.loads(blocks[4]["elements"][0]["value"]) == {"id": "cancel", "text": "How do I cancel?"}
