"""Slack: Events API (or Socket Mode), answers in threads, suggestion and feedback buttons, human handoff.

Mount it on the one aiohttp application:

>>> app = aiohttp.web.Application()
>>> setup(app, bot, bot.config.connector("slack"))   # adds /slack/events, /slack/interactions, /slack/commands

Pure halves: `parse` (payload -> Message) and `render` (Reply -> Block Kit); the shell is
`SlackConnector`; `smallbot.connectors.slack.testing` has a local stand-in of Slack's Web API.
"""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web
from slack_sdk.signature import Clock, SignatureVerifier

from smallbot.errors import ConfigError, ConnectorError
from smallbot.plugins import BotService

from .config import SlackConfig
from .connector import SlackConnector, make_client
from .http import SlackRoutes
from .parse import clean_text, parse, parse_action, parse_command
from .render import render, to_mrkdwn
from .state import EventDeduplicator, MemorySlackState, SlackState, StoreSlackState

__all__ = [
    "SLACK",
    "EventDeduplicator",
    "MemorySlackState",
    "SlackConfig",
    "SlackConnector",
    "SlackState",
    "StoreSlackState",
    "clean_text",
    "make_client",
    "parse",
    "parse_action",
    "parse_command",
    "render",
    "setup",
    "to_mrkdwn",
]

SLACK = web.AppKey("smallbot_slack", SlackConnector)


def setup(app: web.Application, bot: BotService, config: SlackConfig, *, clock: Clock | None = None) -> None:
    """Mount Slack on `app`: HTTP routes when a signing secret is set, Socket Mode when ``socket_mode``.

    Secrets are read from the environment now, so a missing one fails at start-up with the variable's
    name. `clock` is for tests (the signature's 5-minute window is checked against it).
    """
    if config.socket_mode and config.app_token is None:
        raise ConfigError(
            "bot.yml: slack.socket_mode is true but slack.app_token is missing; set it to "
            "${SLACK_APP_TOKEN} (an xapp-... token with connections:write)"
        )
    if not config.socket_mode and config.signing_secret is None:
        raise ConfigError(
            "bot.yml: slack.signing_secret is missing; set it to ${SLACK_SIGNING_SECRET} (Basic "
            "Information page of your Slack app), or use socket_mode: true with an app_token"
        )
    connector = SlackConnector(bot, config, make_client(config))
    app[SLACK] = connector
    if config.signing_secret is not None:
        verifier = SignatureVerifier(config.signing_secret.get(), clock or Clock())
        SlackRoutes(connector, verifier).add_to(app)
    app_token = config.app_token.get() if config.socket_mode and config.app_token else None

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await connector.start()
        socket = None
        if app_token is not None:
            from .socket_mode import socket_mode_client

            try:  # connect() retries forever; a bad token must fail the start-up with its name instead
                await connector.client.apps_connections_open(app_token=app_token)
            except Exception as exc:
                await connector.close()
                raise ConnectorError(
                    f"Slack refused to open a Socket Mode connection ({_reason(exc)}): check that SLACK_APP_TOKEN "
                    "is an app-level token (xapp-...) with the connections:write scope"
                ) from exc
            socket = socket_mode_client(connector, app_token)
            await socket.connect()
        yield
        if socket is not None:
            await socket.close()
        await connector.close()

    app.cleanup_ctx.append(lifecycle)


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None and hasattr(response, "get") else None
    return str(error) if error else type(exc).__name__
