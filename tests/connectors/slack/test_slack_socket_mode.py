"""Socket Mode wiring: envelopes from a real SDK SocketModeClient reach the same connector. Only the
WebSocket itself is stood in for: the client's `send_message` records what would go over it."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from smallbot.connectors.slack import SlackConnector, make_client
from smallbot.connectors.slack.socket_mode import socket_mode_client
from smallbot.connectors.slack.testing import BOT_USER, event_body

from slack_helpers import slack_config

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
    await client.aiohttp_client_session.close()


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
