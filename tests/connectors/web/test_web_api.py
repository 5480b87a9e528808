"""The web API against a real aiohttp server on a loopback port (port 0) and the real trained helpdesk bot."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
import pytest_asyncio

from smallbot.connectors.web import WebSettings, create_app

pytestmark = pytest.mark.asyncio

FAQ_QUESTION = "How do I reset my password?"


def settings_for(bot, **changes) -> WebSettings:
    return WebSettings.from_config(bot.config, port=0, **changes)


API_KEY = "web-api-test-key"


@pytest_asyncio.fixture
async def client(aiohttp_client, helpdesk_bot, monkeypatch):
    """A server-to-server client (it holds the API key, so it may name its own conversations: the tests read
    them back by name); browser clients, which may not, are tested in test_web_conversation_ids.py."""
    monkeypatch.setenv("SMALLBOT_WEB_TEST_KEY", API_KEY)
    return await aiohttp_client(create_app(helpdesk_bot, settings_for(
        helpdesk_bot, allowed_origins=["https://shop.example"], rate_limit_per_minute=600, rate_limit_burst=200,
        api_key_env="SMALLBOT_WEB_TEST_KEY")), headers={"Authorization": f"Bearer {API_KEY}"})


def faq_answer(bot, question: str) -> str:
    return next(e.answer for e in bot.knowledge.entries if e.question == question)


async def test_post_message_returns_the_faq_answer_with_ids(client, helpdesk_bot):
    response = await client.post("/api/messages", json={"text": FAQ_QUESTION, "conversation_id": "conv-rest-1"})
    assert response.status == 200
    body = await response.json()
    assert body["kind"] == "answer"
    assert body["text"] == faq_answer(helpdesk_bot, FAQ_QUESTION)
    assert body["conversation_id"] == "conv-rest-1"
    assert len(body["message_id"]) == 32
    assert body["sources"][0]["question"] == FAQ_QUESTION


async def test_post_message_without_conversation_id_starts_one(client):
    body = await (await client.post("/api/messages", json={"text": "hello"})).json()
    assert len(body["conversation_id"]) == 44  # 16 random bytes and a 16-byte tag, base64url


async def test_websocket_streams_chunks_then_the_reply(client, helpdesk_bot):
    async with client.ws_connect("/api/ws") as ws:
        assert (await ws.receive_json())["type"] == "ready"
        await ws.send_json({"type": "message", "text": FAQ_QUESTION, "conversation_id": "conv-ws-1"})
        chunks = []
        while (frame := await ws.receive_json(timeout=30))["type"] == "chunk":
            chunks.append(frame["text"])
        assert frame["type"] == "reply"
        assert "".join(chunks) == frame["reply"]["text"] == faq_answer(helpdesk_bot, FAQ_QUESTION)
        assert frame["reply"]["conversation_id"] == "conv-ws-1"


async def test_websocket_offers_suggestions_and_a_pick_answers(client, helpdesk_bot):
    async with client.ws_connect("/api/ws") as ws:
        await ws.receive_json()
        replies = []
        for text in ("password", None):
            if text is None:  # pick the first suggestion the way the widget's button does: its text
                text = replies[0]["suggestions"][0]["text"]
            await ws.send_json({"text": text, "conversation_id": "conv-ws-suggest"})
            while (frame := await ws.receive_json(timeout=30))["type"] != "reply":
                pass
            replies.append(frame["reply"])
        assert replies[0]["kind"] == "suggest" and replies[0]["suggestions"]
        assert replies[1]["kind"] == "answer"
        assert replies[1]["sources"][0]["id"] == replies[0]["suggestions"][0]["id"]


async def test_websocket_refuses_a_bad_frame_and_keeps_serving(client):
    async with client.ws_connect("/api/ws") as ws:
        await ws.receive_json()
        await ws.send_str("{not json")
        error = await ws.receive_json()
        assert (error["type"], error["status"], error["error"]) == ("error", 400, "bad_json")
        await ws.send_json({"text": "x" * 5000})
        error = await ws.receive_json()
        assert (error["status"], error["error"]) == (422, "message_too_long")
        await ws.send_json({"text": FAQ_QUESTION})
        while (frame := await ws.receive_json(timeout=30))["type"] != "reply":
            pass
        assert frame["reply"]["kind"] == "answer"


@pytest.mark.parametrize("body, status, error", [
    (b"{not json", 400, "bad_json"),
    (b"[1, 2]", 400, "bad_json"),
    (b'{"message": "hi"}', 400, "bad_request"),
    (b'{"text": 42}', 400, "bad_request"),
    (b'{"text": "hi", "conversation_id": "../../etc"}', 400, "bad_request"),
    (b'{"text": "   "}', 422, "empty_message"),
    (json.dumps({"text": "y" * 1001}).encode(), 422, "message_too_long"),
    (json.dumps({"text": "z" * 20_000}).encode(), 413, "request_too_large"),
])
async def test_bad_input_gets_a_documented_4xx_with_a_json_reason(client, body, status, error):
    response = await client.post("/api/messages", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    payload = await response.json()
    assert (payload["status"], payload["error"]) == (status, error)
    assert payload["reason"]
    # and the server keeps serving
    assert (await client.post("/api/messages", json={"text": FAQ_QUESTION})).status == 200


async def test_chunked_oversize_body_is_refused_with_413(client):
    async def chunks():
        for _ in range(40):
            yield b" " * 1024

    response = await client.post("/api/messages", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert (await response.json())["error"] == "request_too_large"


async def test_wrong_origin_is_refused_on_rest_and_websocket(client):
    response = await client.post("/api/messages", json={"text": "hi"}, headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert (await response.json())["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    response = await client.get("/api/ws", headers={"Origin": "https://evil.example", "Upgrade": "websocket",
                                                    "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 403


async def test_allowed_origin_gets_cors_headers_and_a_preflight(client):
    origin = "https://shop.example"
    preflight = await client.options("/api/messages", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    response = await client.post("/api/messages", json={"text": FAQ_QUESTION}, headers={"Origin": origin})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    async with client.ws_connect("/api/ws", origin=origin) as ws:
        assert (await ws.receive_json())["type"] == "ready"


async def test_rate_limit_answers_429_with_retry_after(aiohttp_client, helpdesk_bot):
    client = await aiohttp_client(create_app(helpdesk_bot, settings_for(
        helpdesk_bot, rate_limit_per_minute=6, rate_limit_burst=2)))
    statuses = [(await client.post("/api/messages", json={"text": "hello"})).status for _ in range(2)]
    refused = await client.post("/api/messages", json={"text": "hello"})
    assert statuses == [200, 200]
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"] == "rate_limited"
    async with client.ws_connect("/api/ws") as ws:
        await ws.receive_json()
        await ws.send_json({"text": "hello"})
        frame = await ws.receive_json()
        assert (frame["type"], frame["status"]) == ("error", 429) and frame["retry_after"] >= 1
    metrics = await (await client.get("/metrics")).text()
    assert 'smallbot_refused_total{error="rate_limited"} 2' in metrics


async def test_feedback_is_stored_in_the_bot_store(client, helpdesk_bot):
    reply = await (await client.post("/api/messages", json={"text": FAQ_QUESTION,
                                                            "conversation_id": "conv-feedback"})).json()
    response = await client.post("/api/feedback", json={"conversation_id": "conv-feedback",
                                                        "message_id": reply["message_id"], "score": "down",
                                                        "comment": "too long"})
    assert response.status == 200
    with sqlite3.connect(helpdesk_bot.store.path) as db:
        rows = db.execute("SELECT f.score, f.comment, m.text FROM feedback f JOIN messages m ON m.id = f.message_id "
                          "WHERE m.ref=?", (reply["message_id"],)).fetchall()
    assert rows == [(-1, "too long", FAQ_QUESTION)]


async def test_feedback_on_an_unknown_reply_is_a_404_with_a_reason(client):
    await client.post("/api/messages", json={"text": FAQ_QUESTION, "conversation_id": "conv-unknown"})
    response = await client.post("/api/feedback", json={"conversation_id": "conv-unknown",
                                                        "message_id": "f" * 32, "score": "up"})
    assert response.status == 404
    assert "no reply" in (await response.json())["reason"]


async def test_feedback_with_a_bad_score_is_refused(client):
    response = await client.post("/api/feedback", json={"conversation_id": "conv-feedback",
                                                        "message_id": "a" * 32, "score": True})
    assert response.status == 400
    assert "score" in (await response.json())["reason"]


async def test_healthz_and_metrics_report_the_server(client):
    health = await (await client.get("/healthz")).json()
    assert health == {"status": "ok", "bot": "Tallyo Helpdesk"}
    await client.post("/api/messages", json={"text": FAQ_QUESTION})
    response = await client.get("/metrics")
    assert response.content_type == "text/plain"
    text = await response.text()
    assert 'smallbot_http_requests_total{route="/api/messages",status="200"}' in text
    assert 'smallbot_replies_total{kind="answer"}' in text
    assert "smallbot_reply_seconds_count" in text


async def test_unknown_api_route_and_method_get_json_errors(client):
    missing = await client.get("/api/nope")
    assert missing.status == 404 and (await missing.json())["status"] == 404
    wrong = await client.get("/api/messages")
    assert wrong.status == 405 and "POST" in wrong.headers["Allow"]


async def test_demo_page_embeds_the_widget_and_escapes_the_bot_name(aiohttp_client, helpdesk_bot):
    from smallbot.runtime.bot import Bot

    hostile = Bot(dataclasses.replace(helpdesk_bot.config, name="<script>alert(1)</script> Co"),
                  helpdesk_bot.encoder, helpdesk_bot.knowledge, helpdesk_bot.classifier, helpdesk_bot.routes)
    client = await aiohttp_client(create_app(hostile, settings_for(hostile)))
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200
    assert '<script src="/widget.js"' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Co" in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    widget = await client.get("/widget.js")
    assert widget.content_type == "application/javascript"
    assert "attachShadow" in await widget.text()
    assert (await client.get("/widget.css")).content_type == "text/css"
