"""A running server picks up edited knowledge files without a restart, and survives a broken edit."""

from __future__ import annotations

import asyncio

import pytest

from smallbot.runtime.bot import Bot
from smallbot.connectors.web import WebSettings, create_app
from smallbot.project.loader import load_project

pytestmark = pytest.mark.asyncio

NEW_ENTRY = """
  - id: gift-cards
    question: Do you sell gift cards?
    alternates: [can I buy a gift voucher, gift certificate for a friend]
    answer: Yes, gift cards from $10 are sold at the front desk.
"""


async def ask(client, text: str) -> dict:
    response = await client.post("/api/messages", json={"text": text})
    assert response.status == 200
    return await response.json()


async def wait_for(client, text: str, predicate, seconds: float = 30.0) -> dict:
    for _ in range(int(seconds / 0.2)):
        reply = await ask(client, text)
        if predicate(reply):
            return reply
        await asyncio.sleep(0.2)
    raise AssertionError(f"no matching reply to {text!r} within {seconds} s: last {reply}")


async def test_edited_knowledge_is_served_without_restart_and_a_broken_edit_keeps_the_old(
        aiohttp_client, tiny_copy, encoder):
    root = tiny_copy
    bot = Bot.from_build(load_project(root), encoder=encoder, with_store=False)
    settings = WebSettings.from_config(bot.config, port=0, reload_seconds=0.2, rate_limit_per_minute=6000,
                                       rate_limit_burst=1000)
    client = await aiohttp_client(create_app(bot, settings))
    try:
        before = await ask(client, "do you sell gift cards?")
        assert before["kind"] != "answer" or before["sources"][0]["id"] != "gift-cards"
        faq = root / "knowledge" / "faq.yml"
        original = faq.read_text()
        faq.write_text(original + NEW_ENTRY)
        after = await wait_for(client, "do you sell gift cards?", lambda r: r["kind"] == "answer")
        assert after["sources"][0]["id"] == "gift-cards"
        faq.write_text(original + "\n  - id: [broken\n")
        await asyncio.sleep(1.0)  # several watcher ticks see the broken file
        still = await ask(client, "do you sell gift cards?")
        assert still["kind"] == "answer" and still["sources"][0]["id"] == "gift-cards"
    finally:
        bot.close()
