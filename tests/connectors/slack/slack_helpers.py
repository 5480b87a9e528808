"""Helpers for the Slack tests: constants, the fixed clock, and a client that signs requests as Slack does."""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from smallbot.runtime.bot import Bot
from smallbot.project.config import Secret
from smallbot.connectors.slack import SLACK, SlackConfig, setup
from smallbot.connectors.slack.testing import SlackAPIStandIn, signed_headers

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
NOW = 1_700_000_000  # the verifier's clock; requests are signed a few seconds before it
SUPPORT = "C0HELPERS"


class FixedClock:
    """The SDK verifier's clock, pinned so timestamp windows are exact."""

    def now(self) -> float:
        return float(NOW)


def slack_config(api: SlackAPIStandIn, **changes: Any) -> SlackConfig:
    config = SlackConfig(enabled=True, bot_token=Secret("SLACK_BOT_TOKEN"),
                         signing_secret=Secret("SLACK_SIGNING_SECRET"), support_channel=SUPPORT,
                         api_base_url=api.base_url)
    return dataclasses.replace(config, **changes)


class SlackClient:
    """Sends signed requests, as Slack does, to the app under test."""

    def __init__(self, http, api: SlackAPIStandIn, app: web.Application):
        self.http = http
        self.api = api
        self.connector = app[SLACK]

    async def send(self, path: str, body: bytes, *, timestamp: int = NOW - 5, retry_num: int | None = None,
                   headers: dict[str, str] | None = None, content_type: str = "application/json"):
        sent = signed_headers(body, SIGNING_SECRET, timestamp, retry_num) if headers is None else headers
        return await self.http.post(path, data=body, headers={**sent, "Content-Type": content_type})

    async def event(self, body: bytes, **kwargs):
        return await self.send("/slack/events", body, **kwargs)

    async def click(self, payload: dict[str, Any], **kwargs):
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.send("/slack/interactions", body, content_type="application/x-www-form-urlencoded",
                               **kwargs)

    async def command(self, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL", **kwargs):
        body = urlencode({"command": "/ask", "text": text, "user_id": user, "channel_id": channel,
                          "team_id": "T0TEST", "response_url": "https://hooks.slack.invalid/x",
                          "trigger_id": "1.2.3"}).encode()
        return await self.send("/slack/commands", body, content_type="application/x-www-form-urlencoded", **kwargs)

    async def settled(self) -> None:
        await self.connector.idle()


async def start_slack(aiohttp_client, bot: Bot, api: SlackAPIStandIn, **config_changes: Any) -> SlackClient:
    app = web.Application()
    setup(app, bot, slack_config(api, **config_changes), clock=FixedClock())
    http = await aiohttp_client(app)
    return SlackClient(http, api, app)


def click_payload(post_args: dict[str, Any], action_prefix: str, *, user: str = "U0ALICE",
                  channel: str = "C0SUPPORT", message_ts: str = "1700000001.000100") -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when `user` clicks the first button of a posted
    message whose action_id starts with `action_prefix`."""
    blocks = post_args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    button = next(e for b in blocks if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"].startswith(action_prefix))
    message = {"type": "message", "ts": message_ts, "text": post_args.get("text", ""), "blocks": blocks}
    container = {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False}
    if post_args.get("thread_ts"):
        message["thread_ts"] = container["thread_ts"] = post_args["thread_ts"]
    return {"type": "block_actions", "team": {"id": "T0TEST", "domain": "test"},
            "user": {"id": user, "team_id": "T0TEST"}, "api_app_id": "A0TEST", "container": container,
            "channel": {"id": channel, "name": "support"}, "message": message,
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b",
                         "value": button["value"], "text": button["text"], "action_ts": "1700000002.1"}]}
