"""Socket Mode: for workspaces without a public URL. Slack pushes the same payloads over a WebSocket
the app opens (https://api.slack.com/apis/socket-mode); each envelope is acknowledged by its id and fed to
the same `SlackConnector` entry points the HTTP routes use."""

from __future__ import annotations

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from .connector import SlackConnector


def socket_mode_client(connector: SlackConnector, app_token: str) -> SocketModeClient:
    """A SocketModeClient (not yet connected) wired to `connector`; call ``await client.connect()``.

    Build it inside a running event loop (it opens an aiohttp session).
    """
    client = SocketModeClient(app_token=app_token, web_client=connector.client)

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await dispatch(connector, client, request)

    client.socket_mode_request_listeners.append(on_request)
    return client


async def dispatch(connector: SlackConnector, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
    """Acknowledge one envelope first, then queue its work, as on the HTTP path."""
    if request.type == "events_api":
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        await connector.accept_event(request.payload, request.retry_attempt)
    elif request.type == "interactive":
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        connector.accept_action(request.payload)
    elif request.type == "slash_commands":
        answer = connector.accept_command(request.payload)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=answer))
    else:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
