"""Conversation ids are the server's: a browser client cannot pick one (and so cannot read or write into
another client's conversation); a server-to-server caller holding the API key may."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_asyncio

from smallbot.connectors.web import WebSettings, create_app

pytestmark = pytest.mark.asyncio

KEY = "s3rver-to-s3rver-key-for-tests"


def _settings(bot, **changes) -> WebSettings:
    return WebSettings.from_config(bot.config, port=0, rate_limit_per_minute=6000, rate_limit_burst=1000,
                                   api_key_env="SMALLBOT_TEST_API_KEY", **changes)


@pytest_asyncio.fixture
async def client(aiohttp_client, tiny_bot, monkeypatch):
    monkeypatch.setenv("SMALLBOT_TEST_API_KEY", KEY)
    tiny_bot.policy = dataclasses.replace(tiny_bot.policy, faq_answer=1.0, faq_suggest=0.3)
    return await aiohttp_client(create_app(tiny_bot, _settings(tiny_bot)))


async def _post(client, body: dict, **headers) -> tuple[int, dict]:
    response = await client.post("/api/messages", json=body, headers=headers)
    return response.status, await response.json()


async def test_a_guessed_conversation_id_is_refused_and_nothing_is_written_into_it(client, tiny_bot):
    status, first = await _post(client, {"text": "password"})
    assert status == 200 and first["kind"] == "suggest"
    issued = first["conversation_id"]
    assert len(issued) >= 32
    for guess in ("aaaaaaaa", issued[:-1] + ("A" if issued[-1] != "A" else "B"), "0" * 32):
        status, body = await _post(client, {"text": "1", "conversation_id": guess})
        assert (status, body["error"]) == (403, "unknown_conversation"), guess
    assert [t.text for t in tiny_bot.store.turns(issued)] == ["password"]
    status, pick = await _post(client, {"text": "1", "conversation_id": issued})  # its own client may go on
    assert status == 200 and pick["kind"] == "answer"


async def test_each_new_conversation_gets_a_fresh_unguessable_id(client):
    ids = {(await _post(client, {"text": "hello"}))[1]["conversation_id"] for _ in range(5)}
    assert len(ids) == 5


async def test_the_websocket_refuses_a_guessed_id_and_keeps_serving(client):
    async with client.ws_connect("/api/ws") as ws:
        assert (await ws.receive_json(timeout=30))["type"] == "ready"
        await ws.send_json({"type": "message", "text": "hello", "conversation_id": "aaaaaaaa"})
        frame = await ws.receive_json(timeout=30)
        assert (frame["type"], frame["error"]) == ("error", "unknown_conversation")
        await ws.send_json({"type": "message", "text": "hello"})
        while (frame := await ws.receive_json(timeout=30))["type"] == "chunk":
            pass
        assert frame["type"] == "reply" and frame["reply"]["conversation_id"] != "aaaaaaaa"


async def test_feedback_needs_an_issued_conversation_id(client):
    status, reply = await _post(client, {"text": "hello"})
    response = await client.post("/api/feedback", json={"conversation_id": "aaaaaaaa",
                                                        "message_id": reply["message_id"], "score": "up"})
    assert response.status == 403


async def test_a_server_with_the_api_key_may_choose_its_own_ids(client, tiny_bot):
    status, body = await _post(client, {"text": "hello", "conversation_id": "crm-ticket-1234"},
                               Authorization=f"Bearer {KEY}")
    assert (status, body["conversation_id"]) == (200, "crm-ticket-1234")
    status, body = await _post(client, {"text": "hello", "conversation_id": "crm-ticket-1234"},
                               Authorization="Bearer wrong-key")
    assert (status, body["error"]) == (401, "bad_api_key")
    assert len(tiny_bot.store.turns("crm-ticket-1234")) == 1


async def test_ids_issued_by_one_worker_are_accepted_by_another(aiohttp_client, client, tiny_bot):
    """Workers share the bot directory, so an id issued by one is valid on the others (and after a restart)."""
    status, first = await _post(client, {"text": "hello"})
    other = await aiohttp_client(create_app(tiny_bot, _settings(tiny_bot)))
    status, again = await _post(other, {"text": "bye", "conversation_id": first["conversation_id"]})
    assert status == 200 and again["conversation_id"] == first["conversation_id"]
