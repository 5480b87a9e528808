"""`Reply` -> Block Kit: pure functions, no I/O, tested table-driven.

FAQ answers are written in Markdown; Slack speaks mrkdwn (https://api.slack.com/reference/surfaces/formatting):
``*bold*``, ``_italic_``, ``~strike~``, ``<url|text>`` links, no headings, and only ``&``, ``<``, ``>``
escaped. Limits honoured: 3000 characters per section text, 75 per button label, 2000 per button value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from smallbot.types import Reply, ReplyKind

from ..markdown import MarkdownStyle, render_markdown

from .parse import FEEDBACK, RESOLVE, SUGGEST

SECTION_LIMIT = 3000
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000


def escape(text: str) -> str:
    """The three characters Slack wants escaped in any text it parses as mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class MrkdwnStyle(MarkdownStyle):
    """Slack's marks: ``*bold*``, ``_italic_``, ``~strike~``, ``<url|label>``; headings become bold."""

    strikethrough = True
    bullet = "• "

    def text(self, text: str) -> str:
        return escape(text)

    def strong(self, inner: str) -> str:
        return f"*{inner}*" if inner.strip() else inner

    def emphasis(self, inner: str) -> str:
        return f"_{inner}_" if inner.strip() else inner

    def strike(self, inner: str) -> str:
        return f"~{inner}~" if inner.strip() else inner

    def code(self, markup: str, content: str) -> str:
        return f"`{content}`"

    def fence(self, markup: str, info: str, content: str) -> str:
        return f"```\n{content}```"  # Slack has no language tag: it would show as the first code line

    def code_block(self, source: str, content: str) -> str:
        return self.fence("```", "", content)  # Slack shows indentation as text, a fence as code

    def link(self, label: str, plain_label: str, href: str) -> str:
        if plain_label == href:
            return f"<{href}>"
        # the parser percent-encodes the href, so it holds no `|` or `>` that would end Slack's link early
        return f"<{href}|{escape(plain_label)}>"


def to_mrkdwn(markdown: str) -> str:
    """Markdown (as FAQ answers are written) -> Slack mrkdwn.

    >>> to_mrkdwn("**Settings** → see [docs](https://x.example)")
    '*Settings* → see <https://x.example|docs>'
    """
    return render_markdown(markdown, MrkdwnStyle())


def render(reply: Reply, ref: str = "") -> list[dict[str, Any]]:
    """Block Kit blocks for one reply: the text, then the source, suggestion buttons or feedback buttons.
    `ref` (the logged turn's reference) rides on the feedback buttons so a click finds its reply."""
    blocks = [_section(chunk) for chunk in _chunks(to_mrkdwn(reply.text))]
    if reply.kind is ReplyKind.ANSWER:
        if reply.sources:
            source = reply.sources[0]
            label = escape(source.question)
            where = f"<{source.links[0]}|{label}>" if source.links else label
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Source: {where}"}]})
        entry_id = reply.sources[0].entry_id if reply.sources else ""
        blocks.append(
            {
                "type": "actions",
                "block_id": "smallbot_feedback",
                "elements": [
                    _button(
                        "👍 Helpful", f"{FEEDBACK}:up", {"vote": "up", "id": entry_id, **({"ref": ref} if ref else {})}
                    ),
                    _button(
                        "👎 Not helpful",
                        f"{FEEDBACK}:down",
                        {"vote": "down", "id": entry_id, **({"ref": ref} if ref else {})},
                    ),
                ],
            }
        )
        if reply.suggestions:  # "Related" questions under the answer, picked like suggestions
            if reply.suggestions_label:
                label = escape(reply.suggestions_label)
                blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": label}]})
            blocks.append(_suggestion_buttons(reply, "smallbot_related"))
    elif reply.kind is ReplyKind.SUGGEST and reply.suggestions:
        blocks.append(_suggestion_buttons(reply, "smallbot_suggestions"))
    return blocks


def _suggestion_buttons(reply: Reply, block_id: str) -> dict[str, Any]:
    """Numbered buttons carrying each suggested question: a click sends it through the bot as a follow-up."""
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            _button(f"{i}. {s.text}", f"{SUGGEST}:{i}", {"id": s.entry_id, "text": s.text[:1500]})
            for i, s in enumerate(reply.suggestions, start=1)
        ],
    }


def fallback_text(reply: Reply) -> str:
    """The plain ``text`` sent with the blocks: shown in notifications and by clients without blocks."""
    return reply.text[:SECTION_LIMIT]


def render_handoff(user: str, question: str, permalink: str, conversation: str) -> list[dict[str, Any]]:
    """The support-channel notice: who asked, a link to the thread, and the "Mark resolved" button."""
    where = f"<{permalink}|this thread>" if permalink else "a thread"
    quote = "\n".join(f">{line}" for line in escape(question).splitlines() or [""])
    return [
        _section(f":raising_hand: <@{user}> asked for a person in {where}:\n{quote}"),
        {
            "type": "actions",
            "block_id": "smallbot_handoff",
            "elements": [
                _button("Mark resolved", RESOLVE, {"conversation": conversation}, style="primary"),
            ],
        },
    ]


def render_resolved(user: str, question: str, permalink: str, resolver: str) -> list[dict[str, Any]]:
    """The support-channel notice after a person resolved it: the button is gone."""
    where = f"<{permalink}|this thread>" if permalink else "a thread"
    quote = "\n".join(f">{line}" for line in escape(question).splitlines() or [""])
    return [_section(f":white_check_mark: <@{resolver}> resolved the request of <@{user}> in {where}:\n{quote}")]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def _button(label: str, action_id: str, value: dict[str, str], style: str | None = None) -> dict[str, Any]:
    if len(label) > BUTTON_LABEL_LIMIT:
        label = label[: BUTTON_LABEL_LIMIT - 1] + "…"
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": json.dumps(value, ensure_ascii=False)[:BUTTON_VALUE_LIMIT],
    }
    if style:
        button["style"] = style
    return button


def _chunks(text: str) -> list[str]:
    """Split at paragraph, then line, then hard boundaries so each piece fits one section."""
    if len(text) <= SECTION_LIMIT:
        return [text]
    pieces: list[str] = []
    current = ""
    for paragraph in re.split(r"(\n\n|\n)", text):
        if len(current) + len(paragraph) <= SECTION_LIMIT:
            current += paragraph
            continue
        if current.strip():
            pieces.append(current)
        while len(paragraph) > SECTION_LIMIT:
            pieces.append(paragraph[:SECTION_LIMIT])
            paragraph = paragraph[SECTION_LIMIT:]
        current = paragraph
    if current.strip():
        pieces.append(current)
    return pieces
