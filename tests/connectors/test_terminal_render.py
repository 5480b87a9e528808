"""How the terminal shows an FAQ answer's Markdown: pure `to_terminal`, table-driven."""

from __future__ import annotations

import io

import pytest

from smallbot.connectors.terminal import TerminalConnector, to_terminal
from smallbot.types import Reply, ReplyKind, Source, Suggestion


@pytest.mark.parametrize("markdown, plain", [
    ("Click **Forgot password?** on the sign-in page.", "Click Forgot password? on the sign-in page."),
    ("pick a *format* or _any_ format", "pick a format or any format"),
    ("see [the guide](https://x.example/guide).", "see the guide (https://x.example/guide)."),
    ("see [https://x.example](https://x.example) or <https://y.example>", "see https://x.example or https://y.example"),
    ("write to [support](mailto:help@x.example)", "write to support (help@x.example)"),
    ("type `**not bold**` and `snake_case`", "type `**not bold**` and `snake_case`"),
    ("a snake_case_name stays", "a snake_case_name stays"),
    ("- one\n* two\n+ three\n1. first", "- one\n- two\n- three\n1. first"),
    ("## Export\nPick one.\n\nThen save.", "Export\nPick one.\n\nThen save."),
    ('<img src=x onerror="alert(1)"> is text', '<img src=x onerror="alert(1)"> is text'),
])
def test_markdown_becomes_plain_words_and_visible_link_targets_when_piped(markdown, plain):
    assert to_terminal(markdown, color=False) == plain


@pytest.mark.parametrize("markdown, plain", [
    # link targets with parentheses (Wikipedia style) stay whole
    ("see [Foo](https://en.wikipedia.org/wiki/Foo_(bar)) now", "see Foo (https://en.wikipedia.org/wiki/Foo_(bar)) now"),
    # a code span delimited by two backticks may hold one backtick and stars: it is code, shown as written
    ("type ``a ` *b*`` here", "type ``a ` *b*`` here"),
    # a fenced block is code too: its stars are not bold
    ("```\n**not bold** and a*b*c\n```", "```\n**not bold** and a*b*c\n```"),
    # a backslash shows a marker as itself
    ("escaped \\*not italic\\*", "escaped *not italic*"),
    ("[**bold label**](https://x.example)", "bold label (https://x.example)"),
])
def test_markdown_the_regexes_got_wrong_renders_as_commonmark_reads_it(markdown, plain):
    assert to_terminal(markdown, color=False) == plain


def test_nested_emphasis_opens_and_closes_each_style_in_order():
    assert to_terminal("***both***", color=True) == "\033[3m\033[1mboth\033[22m\033[23m"
    assert to_terminal("**bold *and italic* inside**", color=True) == \
        "\033[1mbold \033[3mand italic\033[23m inside\033[22m"


@pytest.mark.parametrize("chunk", [" world", "\n", "\n\nHello ", "*", "#", "1.", "  - item"])
def test_streamed_chunks_keep_their_whitespace_and_lone_markers(chunk):
    """Generated replies are rendered chunk by chunk: the spaces between tokens, and a marker that arrives
    alone, are printed as they came."""
    assert to_terminal(chunk, color=False) == chunk


def test_an_indented_code_block_keeps_its_indentation():
    assert to_terminal("Run:\n\n    ls **\n    pwd", color=False) == "Run:\n\n    ls **\n    pwd"


def test_bold_and_italic_become_ansi_styles_on_a_tty():
    assert to_terminal("**Settings** then *Export*", color=True) == \
        "\033[1mSettings\033[22m then \033[3mExport\033[23m"


def test_render_formats_the_answer_and_keeps_the_source_line():
    connector = TerminalConnector(bot=None, stdin=io.StringIO(), stdout=io.StringIO())  # piped: no colour
    reply = Reply(ReplyKind.ANSWER, "Go to **Settings → Export**.", "c1",
                  sources=(Source("export", "How do I export?", ("https://x.example/export",)),))
    assert connector.render(reply) == "Go to Settings → Export.\n[source: export (https://x.example/export)]"


def test_an_answer_lists_its_related_questions_by_number_under_the_bots_label():
    connector = TerminalConnector(bot=None, stdin=io.StringIO(), stdout=io.StringIO())
    reply = Reply(ReplyKind.ANSWER, "Refunds within 30 days.", "c1", sources=(Source("refund", "Refunds?", ()),),
                  suggestions=(Suggestion("cancel", "How do I cancel?"), Suggestion("downgrade", "How do I downgrade?")),
                  suggestions_label="Voir aussi :")
    assert connector.render(reply) == ("Refunds within 30 days.\n[source: refund]\nVoir aussi :\n1. How do I cancel?\n"
                                       "2. How do I downgrade?\n(type a number to read one)")
