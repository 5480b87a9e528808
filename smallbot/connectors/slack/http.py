"""aiohttp routes for Slack's HTTP endpoints: every request is verified against the signing secret
(v0 HMAC-SHA256 over timestamp and raw body, 5-minute window; https://api.slack.com/authentication/
verifying-requests-from-slack) with the SDK's `SignatureVerifier`, then acknowledged at once."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from .connector import SlackConnector


class SlackRoutes:
    """Handlers for ``/slack/events``, ``/slack/interactions`` and ``/slack/commands``."""

    def __init__(self, connector: SlackConnector, verifier: SignatureVerifier):
        self.connector = connector
        self.verifier = verifier

    def add_to(self, app: web.Application, prefix: str = "/slack") -> None:
        app.router.add_post(f"{prefix}/events", self.events)
        app.router.add_post(f"{prefix}/interactions", self.interactions)
        app.router.add_post(f"{prefix}/commands", self.commands)

    async def _verified_body(self, request: web.Request) -> bytes:
        body = await request.read()
        try:
            ok = self.verifier.is_valid_request(body, request.headers)
        except ValueError:  # a timestamp that is not a number
            ok = False
        if not ok:
            raise web.HTTPUnauthorized(
                text=json.dumps({"ok": False, "error": "invalid signature"}), content_type="application/json"
            )
        return body

    async def events(self, request: web.Request) -> web.Response:
        body = await self._verified_body(request)
        try:
            payload = json.loads(body)
        except ValueError:
            raise web.HTTPBadRequest(text="body is not JSON") from None
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="body is not a JSON object")
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge", "")})
        retry = request.headers.get("X-Slack-Retry-Num")
        await self.connector.accept_event(payload, int(retry) if retry and retry.isdigit() else None)
        return web.Response(status=200)

    async def interactions(self, request: web.Request) -> web.Response:
        body = await self._verified_body(request)
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        try:
            payload = json.loads(form.get("payload", ""))
        except ValueError:
            raise web.HTTPBadRequest(text="interaction has no JSON payload field") from None
        if isinstance(payload, dict):
            self.connector.accept_action(payload)
        return web.Response(status=200)

    async def commands(self, request: web.Request) -> web.Response:
        body = await self._verified_body(request)
        answer = self.connector.accept_command(dict(parse_qsl(body.decode("utf-8", "replace"))))
        return web.json_response(answer) if answer is not None else web.Response(status=200)
