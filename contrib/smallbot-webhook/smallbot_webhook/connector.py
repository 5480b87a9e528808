"""The thin shell and the registered plugin: one POST route on smallbot's web server.

Only this shell catches errors, once per request: a bot failure becomes the bot's fallback reply (logged with
the conversation id, never the text), a bad request a 4xx with its reason.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from smallbot.project.config import Section
from smallbot.errors import ConfigError
from smallbot.plugins import BotService
from smallbot.types import Message, Reply, ReplyKind

from .config import WebhookConfig, read_webhook_config
from .protocol import Refused, parse, render, verify

log = logging.getLogger(__name__)


class WebhookConnector:
    """Answers signed JSON POSTs with the bot's reply as JSON.

    >>> shell = WebhookConnector(bot, config, secret="s3cret")
    >>> app.router.add_post(config.path, shell.on_post)
    """

    def __init__(self, bot: BotService, config: WebhookConfig, secret: str,
                 clock: Callable[[], float] = time.time):
        self.bot = bot
        self.config = config
        self._secret = secret
        self._clock = clock

    # -- the Connector protocol's pure halves ----------------------------------------------------------

    def parse(self, raw: Any) -> Message | None:
        return parse(raw, self.bot.config.limits.max_message_chars)

    def render(self, reply: Reply, message: Message | None = None) -> dict[str, Any]:
        return render(reply, message or Message(reply.conversation_id, ""))

    # -- transport ------------------------------------------------------------------------------------

    async def on_post(self, request: web.Request) -> web.Response:
        try:
            body = await self._read(request)
            verify(body, request.headers, self._secret, self._clock(), self.config.tolerance_seconds)
            try:
                raw = json.loads(body)
            except ValueError:
                raise Refused(400, "bad_json", "the body is not JSON") from None
            message = self.parse(raw)
            if message is None:
                raise Refused(422, "empty_message", "text is empty: send some text")
        except Refused as exc:
            return web.json_response(exc.to_dict(), status=exc.status)
        return web.json_response(self.render(await self._answer(message), message))

    async def _read(self, request: web.Request) -> bytes:
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Refused(413, "request_too_large", f"the body is {request.content_length} bytes; the limit is {limit}")
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            raise Refused(413, "request_too_large", f"the body is over the limit of {limit} bytes")
        return body

    async def _answer(self, message: Message) -> Reply:
        try:
            return await self.bot.ahandle(message)
        except Exception:
            log.exception("webhook reply to conversation %s failed", message.conversation_id)
            return Reply(ReplyKind.FALLBACK, self.bot.config.fallback, message.conversation_id, reason="error")


@dataclass(frozen=True)
class WebhookPlugin:
    """Registered as `webhook` (pyproject.toml's entry point): owns `webhook:` and adds its POST route."""

    name: str = "webhook"

    def read_config(self, section: Section) -> WebhookConfig:
        return read_webhook_config(section)

    def routes(self, app: web.Application, bot: BotService, config: WebhookConfig) -> WebhookConnector:
        if config.secret is None:  # only reachable from code: bot.yml refuses a section without one
            raise ConfigError("bot.yml: webhook.secret is missing; set it to ${WEBHOOK_SECRET}")
        shell = WebhookConnector(bot, config, config.secret.get())  # a missing variable fails start-up, by name
        app.router.add_post(config.path, shell.on_post)
        return shell


connector = WebhookPlugin()
