"""Hostile input over the web API: one client's bad bytes never break another client's reply, every
acknowledged message is in the store, and refusals are the documented JSON 4xx on REST and WebSocket."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from smallbot.connectors.web import WebSettings, create_app

pytestmark = pytest.mark.asyncio

SURROGATE_BODY = b'{"text": "hi \\ud800 there"}'
DEEP_BODY = b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}"


@pytest_asyncio.fixture
async def client(aiohttp_client, tiny_bot):
    return await aiohttp_client(create_app(tiny_bot, WebSettings.from_config(
        tiny_bot.config, port=0, rate_limit_per_minute=6000, rate_limit_burst=1000)))


async def test_lone_surrogate_is_refused_with_a_4xx_and_nothing_is_acknowledged(client, tiny_bot):
    response = await client.post("/api/messages", data=SURROGATE_BODY, headers={"Content-Type": "application/json"})
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "bad_request" and "surrogate" in body["reason"]
    assert tiny_bot.store.turns() == []


async def test_every_acknowledged_message_is_stored(client, tiny_bot):
    bodies = [SURROGATE_BODY, b'{"text": "hello", "user": "a\\udc00b"}', b'{"text": "I forgot my password"}']
    acknowledged = []
    for body in bodies:
        response = await client.post("/api/messages", data=body, headers={"Content-Type": "application/json"})
        if response.status == 200:
            acknowledged.append((await response.json())["message_id"])
    assert len(acknowledged) == 1
    assert [t.text for t in tiny_bot.store.turns()] == ["I forgot my password"]


async def test_bad_bytes_from_one_client_never_break_other_clients_replies(client, tiny_bot):
    async def good(i: int) -> dict:
        response = await client.post("/api/messages", json={"text": f"I forgot my password {i}"})
        return await response.json()

    async def bad() -> int:
        response = await client.post("/api/messages", data=SURROGATE_BODY,
                                     headers={"Content-Type": "application/json"})
        return response.status

    results = await asyncio.gather(*(good(i) for i in range(12)), *(bad() for _ in range(4)))
    replies, statuses = results[:12], results[12:]
    assert all(status == 400 for status in statuses)
    assert [r["reason"] for r in replies if r["reason"] == "error"] == []
    assert all(r["kind"] != "fallback" for r in replies), [r["reason"] for r in replies]


async def test_deeply_nested_json_is_bad_json_over_rest(client):
    response = await client.post("/api/messages", data=DEEP_BODY, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"] == "bad_json"


async def test_deeply_nested_json_is_bad_json_over_websocket_and_the_socket_stays_usable(client):
    async with client.ws_connect("/api/ws") as ws:
        assert (await ws.receive_json(timeout=30))["type"] == "ready"
        await ws.send_str(DEEP_BODY.decode())
        frame = await ws.receive_json(timeout=30)
        assert (frame["type"], frame["error"]) == ("error", "bad_json")
        await ws.send_json({"type": "message", "text": "hello"})
        while (frame := await ws.receive_json(timeout=30))["type"] == "chunk":
            pass
        assert frame["type"] == "reply" and frame["reply"]["kind"] == "respond"


async def test_a_body_that_never_arrives_gets_408_in_time(aiohttp_client, tiny_bot):
    app = create_app(tiny_bot, WebSettings.from_config(tiny_bot.config, port=0, body_timeout=0.5))
    client = await aiohttp_client(app)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"text\": ")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 408")
    finally:
        writer.close()


async def test_responses_do_not_name_the_server_software(client):
    for path in ("/healthz", "/", "/api/nope"):
        response = await client.get(path)
        assert response.headers["Server"] == "smallbot", path


async def test_a_forged_host_header_never_reaches_the_csp(client):
    response = await client.get("/", headers={"Host": "evil.example; script-src *"})
    csp = response.headers.get("Content-Security-Policy", "")
    assert "evil" not in csp and "script-src 'self'" in csp
    normal = (await client.get("/")).headers["Content-Security-Policy"]
    assert f"ws://{client.host}:{client.port}" in normal
