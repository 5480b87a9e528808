"""A running Bot picks up edited knowledge files without a restart, encoding only what changed."""

from __future__ import annotations

import os
import textwrap
import threading

import pytest

from smallbot.runtime.bot import Bot
from smallbot.errors import NotReadyError, ProjectError
from smallbot.types import Message, ReplyKind

NEW_FAQ = """
    faqs:
      - id: reset-password
        question: How do I reset my password?
        alternates: [I forgot my password, cannot log in need new password, password reset link]
        answer: Click "Forgot password" on the sign-in page.
      - id: opening-hours
        question: What are your opening hours?
        alternates: [when are you open, what time do you open, business hours]
        answer: Monday to Friday, 9 to 5.
      - id: delete-account
        question: How do I delete my account?
        alternates: [remove my account, close my account permanently, erase my profile]
        answer: Settings, Account, Delete account.
      - id: gift-cards
        question: Do you sell gift cards?
        alternates: [can I buy a voucher for a friend, gift certificate]
        answer: Yes, in any amount from 10 to 200 euros.
"""


@pytest.fixture
def running_bot(tiny_copy, encoder):
    root = tiny_copy
    from smallbot.project.loader import load_project

    bot = Bot.from_build(load_project(root), encoder=encoder)
    yield bot, root
    bot.close()


def _edit(path, text):
    stat = path.stat()
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a clearly newer mtime


def test_watcher_reloads_changed_knowledge_in_a_running_bot(running_bot):
    bot, root = running_bot
    assert bot.handle(Message("c1", "Can I get a refund?")).sources[0].entry_id == "refund"
    assert bot.reload_knowledge_if_changed() is None, "nothing changed yet"
    _edit(root / "knowledge" / "faq.yml", NEW_FAQ)
    assert bot.knowledge_changed()
    result = bot.reload_knowledge_if_changed()
    assert result.added == ("gift-cards",) and result.deleted == ("refund",) and result.changed == ()
    assert result.encoded == 4, "only the new entry's phrasings and its answer are encoded"
    assert not bot.knowledge_changed()
    reply = bot.handle(Message("c2", "do you sell gift cards"))
    assert reply.kind is ReplyKind.ANSWER and reply.sources[0].entry_id == "gift-cards"
    reply = bot.handle(Message("c3", "Can I get a refund?"))
    assert "refund" not in [s.entry_id for s in reply.sources] + [s.entry_id for s in reply.suggestions]


def test_a_broken_file_leaves_the_running_knowledge_untouched(running_bot):
    bot, root = running_bot
    _edit(root / "knowledge" / "faq.yml", "faqs:\n  - id: x\n    question: [unclosed\n")
    with pytest.raises(ProjectError, match="faq.yml"):
        bot.reload_knowledge()
    assert bot.handle(Message("c1", "Can I get a refund?")).sources[0].entry_id == "refund"


def test_messages_keep_being_answered_during_a_reload(running_bot):
    bot, root = running_bot
    _edit(root / "knowledge" / "faq.yml", NEW_FAQ)
    replies = []
    worker = threading.Thread(target=lambda: replies.extend(
        bot.handle(Message(f"c{i}", "when are you open")) for i in range(5)))
    worker.start()
    bot.reload_knowledge()
    worker.join()
    assert [r.kind for r in replies] == [ReplyKind.ANSWER] * 5
    assert all(r.sources[0].entry_id == "opening-hours" for r in replies)


def test_reload_without_a_project_directory_says_so(tiny_bot):
    tiny_bot.root = None  # a Bot assembled in code, not loaded from a project
    assert tiny_bot.reload_knowledge_if_changed() is None
    with pytest.raises(NotReadyError, match="project directory"):
        tiny_bot.reload_knowledge()
