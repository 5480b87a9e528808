"""Socket Mode: envelopes reach the same connector through a real SDK SocketModeClient, first with only
its WebSocket send stood in for, then end to end over a real WebSocket to the package's stand-in."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from aiohttp import web

from smallbot.project.config import Secret
from smallbot.connectors.slack import SlackConnector, make_client, setup
from smallbot.connectors.slack.socket_mode import socket_mode_client
from smallbot.connectors.slack.testing import BOT_USER, event_body
from smallbot.errors import ConnectorError

from slack_helpers import BOT_TOKEN, click_payload, slack_config

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def socket(slack_env, tiny_bot, slack_api):
    config = slack_config(slack_api, socket_mode=True)
    connector = SlackConnector(tiny_bot, config, make_client(config))
    client = socket_mode_client(connector, "xapp-test")
    sent: list[dict] = []

    async def send_message(message: str) -> None:  # the WebSocket, at the edge of the machine
        sent.append(json.loads(message))

    client.send_message = send_message
    yield client, connector, sent
    await connector.close()
    await client.close()


async def deliver(client, envelope: dict) -> None:
    await client.run_message_listeners(envelope, json.dumps(envelope))


async def test_socket_mode_event_is_acknowledged_and_answered_in_its_thread(socket, slack_api):
    client, connector, sent = socket
    payload = json.loads(event_body(f"<@{BOT_USER}> How do I reset my password?", ts="1690000000.000100"))
    await deliver(client, {"type": "events_api", "envelope_id": "env-1", "payload": payload,
                           "accepts_response_payload": False, "retry_attempt": 0})
    assert sent == [{"envelope_id": "env-1"}]
    await connector.idle()
    [post] = slack_api.posts(thread_ts="1690000000.000100")
    assert "Forgot password" in json.dumps(post.args["blocks"])


async def test_socket_mode_retry_of_a_handled_event_is_acknowledged_but_not_answered_again(socket, slack_api):
    client, connector, sent = socket
    payload = json.loads(event_body(f"<@{BOT_USER}> How do I reset my password?", event_id="EvSock"))
    await deliver(client, {"type": "events_api", "envelope_id": "env-1", "payload": payload, "retry_attempt": 0})
    await deliver(client, {"type": "events_api", "envelope_id": "env-2", "payload": payload, "retry_attempt": 1})
    await connector.idle()
    assert [m["envelope_id"] for m in sent] == ["env-1", "env-2"]
    assert len(slack_api.posts()) == 1


async def test_socket_mode_empty_slash_command_gets_its_usage_in_the_ack(socket):
    client, _, sent = socket
    await deliver(client, {"type": "slash_commands", "envelope_id": "env-3", "accepts_response_payload": True,
                           "payload": {"command": "/ask", "text": "", "user_id": "U1", "channel_id": "C1",
                                       "team_id": "T0TEST"}})
    [ack] = sent
    assert ack["envelope_id"] == "env-3"
    assert ack["payload"]["response_type"] == "ephemeral"


async def test_socket_mode_app_connects_out_and_answers_envelopes_over_the_socket(aiohttp_client, monkeypatch,
                                                                                 tiny_bot, slack_api):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", slack_api.app_token)
    app = web.Application()
    setup(app, tiny_bot, slack_config(slack_api, signing_secret=None, socket_mode=True,
                                      app_token=Secret("SLACK_APP_TOKEN")))
    await aiohttp_client(app)
    assert not [r for r in app.router.routes() if r.method == "POST"]  # no public endpoints needed

    payload = json.loads(event_body(f"<@{BOT_USER}> What are your opening hours?", ts="1690000000.000100"))
    envelope = await slack_api.socket_send("events_api", payload)
    assert await slack_api.wait_for_ack(envelope) == {"envelope_id": envelope}
    [post] = await slack_api.wait_for("chat.postMessage")
    assert post.args["thread_ts"] == "1690000000.000100"
    assert "Monday to Friday" in post.args["text"]

    click = click_payload(post.args, "smallbot_feedback:down")
    assert await slack_api.wait_for_ack(await slack_api.socket_send("interactive", click))
    [thanks] = await slack_api.wait_for("chat.postEphemeral")
    assert thanks.args["thread_ts"] == "1690000000.000100"

    command = await slack_api.socket_send("slash_commands", {"command": "/ask", "text": "", "user_id": "U1",
                                                             "channel_id": "C1", "team_id": "T0TEST"})
    ack = await slack_api.wait_for_ack(command)
    assert ack["payload"]["response_type"] == "ephemeral"


async def test_socket_mode_with_a_wrong_app_token_fails_start_up_naming_it(monkeypatch, tiny_bot, slack_api):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-wrong")
    app = web.Application()
    setup(app, tiny_bot, slack_config(slack_api, signing_secret=None, socket_mode=True,
                                      app_token=Secret("SLACK_APP_TOKEN")))
    runner = web.AppRunner(app)
    try:
        with pytest.raises(ConnectorError, match="invalid_auth.*SLACK_APP_TOKEN"):
            await runner.setup()
    finally:
        await runner.cleanup()
