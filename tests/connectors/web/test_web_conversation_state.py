"""Follow-ups across servers: two Bots over one store (one SQLite file, as two `--workers` processes have, or one
PostgreSQL database, as replicas on several hosts have), each served by its own real aiohttp server on a loopback
port. A "2" sent to the other server picks the suggestion the first
offered. (tests/connectors/web/test_web_workers.py does the same with two real worker processes.)"""

from __future__ import annotations

import dataclasses

import pytest

from smallbot.runtime.bot import Bot
from smallbot.connectors.web import WebSettings, create_app
from smallbot.project.loader import load_project
from tests.support.stores import bot_yml_store

pytestmark = pytest.mark.asyncio


def _suggesting_bot(root, encoder) -> Bot:
    bot = Bot.from_build(load_project(root), encoder=encoder)
    # every FAQ question gets "did you mean" suggestions, as `thresholds: {faq_answer: 1.0, faq_suggest: 0.0}` would
    bot.policy = dataclasses.replace(bot.policy, faq_answer=1.01, faq_suggest=0.0)
    return bot


@pytest.fixture(params=["sqlite", "postgres"])
def two_bots(request, tiny_copy, encoder):
    """Two bots sharing one store of each backend: one SQLite file (one host), or one PostgreSQL database."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_url")
        bot_yml = tiny_copy / "bot.yml"
        bot_yml.write_text(bot_yml.read_text() + bot_yml_store("postgres"))
    bots = [_suggesting_bot(tiny_copy, encoder), _suggesting_bot(tiny_copy, encoder)]
    assert bots[0].store is not bots[1].store and type(bots[0].store).__name__.lower().startswith(request.param)
    yield bots
    for bot in bots:
        bot.close()


async def _post(client, text: str, conversation: str | None) -> dict:
    """`conversation` None starts one: the server issues its id (either server accepts it afterwards)."""
    body = {"text": text} if conversation is None else {"text": text, "conversation_id": conversation}
    response = await client.post("/api/messages", json=body)
    assert response.status == 200
    return await response.json()


async def test_a_follow_up_sent_to_the_other_server_picks_the_offered_suggestion(aiohttp_client, two_bots):
    first, second = [await aiohttp_client(create_app(bot, WebSettings.from_config(bot.config, port=0)))
                     for bot in two_bots]
    assert first.server.port != second.server.port
    offered = await _post(first, "money back for my purchase", None)
    assert offered["kind"] == "suggest" and len(offered["suggestions"]) >= 2
    one = offered["conversation_id"]

    picked = await _post(second, "2", one)
    assert picked["kind"] == "answer"
    assert picked["sources"][0]["id"] == offered["suggestions"][1]["id"]
    # the pick ended the suggestions on both servers
    assert (await _post(first, "1", one))["kind"] != "answer"

    offered = await _post(second, "money back for my purchase", None)
    two = offered["conversation_id"]
    assert (await _post(first, "reset", two))["text"].startswith("OK, let's start over")
    assert (await _post(second, "1", two))["kind"] != "answer"  # a reset on one server counts on the other
    offered = await _post(second, "money back for my purchase", two)
    picked = await _post(first, "yes", two)
    assert picked["sources"][0]["id"] == offered["suggestions"][0]["id"]


async def test_a_shared_store_limits_a_client_once_across_servers(aiohttp_client, two_bots):
    """PostgreSQL keeps one bucket per client for every replica; SQLite's servers each keep their own."""
    first, second = [await aiohttp_client(create_app(bot, WebSettings.from_config(
        bot.config, port=0, rate_limit_per_minute=1, rate_limit_burst=2))) for bot in two_bots]
    shared = type(two_bots[0].store).__name__.startswith("Postgres")
    assert [(await first.post("/api/messages", json={"text": "hello"})).status for _ in range(2)] == [200, 200]
    third = await second.post("/api/messages", json={"text": "hello"})
    if shared:
        assert third.status == 429 and int(third.headers["Retry-After"]) >= 1
        assert (await third.json())["error"] == "rate_limited"
    else:
        assert third.status == 200
