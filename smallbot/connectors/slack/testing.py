"""A local stand-in for Slack's Web API, for smallbot's tests and yours.

It listens on loopback port 0, answers the methods the connector calls (``chat.postMessage``,
``chat.update``, ``chat.postEphemeral``, ``chat.getPermalink``, ``auth.test``) the way Slack does, records
every call, and can be told to answer the next call of a method with 429 + ``Retry-After`` or with an
error. It also speaks Socket Mode: ``apps.connections.open`` hands out a WebSocket on the same port, and
`socket_send` pushes envelopes over it. Modelled on bolt-python's ``tests/mock_web_api_server``.

>>> async with SlackAPIStandIn() as slack:
...     setup(app, bot, SlackConfig(..., api_base_url=slack.base_url))
...     ...
...     assert slack.calls_to("chat.postMessage")[0].args["thread_ts"] == "1700000000.000100"

`signed_headers` signs a request body with the SDK's own `SignatureVerifier`, as Slack would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

TEAM = "T0TEST"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"


@dataclass(frozen=True)
class APICall:
    """One Web API call as the stand-in received it."""

    method: str
    args: Mapping[str, Any]
    token: str
    status: int  # the HTTP status the stand-in answered with
    ok: bool  # whether the answer was a success ("ok": true), i.e. Slack would have acted on it
    response: Mapping[str, Any] = field(default_factory=dict)  # the JSON body the stand-in answered
    received_at: float = field(default_factory=time.perf_counter)  # when it arrived (perf_counter clock)


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class SlackAPIStandIn:
    """Slack's Web API on ``http://127.0.0.1:<port>/api/`` (or `host`, `port`); see the module docstring."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        team: str = TEAM,
        bot_user: str = BOT_USER,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        # host/port: loopback and any free port by default; a multi-host test names the address its hosts reach
        self.host = host
        self.port = port
        self.token = token
        self.team = team
        self.bot_user = bot_user
        self.calls: list[APICall] = []
        self._scripted: dict[str, list[_Scripted]] = {}
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.base_url = ""
        self.app_token = "xapp-test-token"
        self.socket_acks: list[dict[str, Any]] = []  # what the app sent back over Socket Mode
        self._sockets: list[web.WebSocketResponse] = []
        self._envelopes = itertools.count(1)

    # -- scripting ---------------------------------------------------------------------------------

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        """Answer the next call of `method` with HTTP 429 and ``Retry-After: retry_after``."""
        self._scripted.setdefault(method, []).append(
            _Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        )

    def fail_next(self, method: str, error: str = "internal_error", status: int = 200) -> None:
        """Answer the next call of `method` with ``{"ok": false, "error": error}`` (and `status`)."""
        self._scripted.setdefault(method, []).append(_Scripted(status, {"ok": False, "error": error}))

    # -- inspection --------------------------------------------------------------------------------

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[APICall]:
        """Calls of one method, by default only those answered with success (what Slack would show)."""
        return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def posts(self, channel: str | None = None, thread_ts: str | None = None) -> list[APICall]:
        """Messages successfully posted, optionally only those in one channel and thread."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if (channel is None or c.args.get("channel") == channel)
            and (thread_ts is None or c.args.get("thread_ts") == thread_ts)
        ]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[APICall]:
        """Wait until `count` successful calls of `method` arrived; a safety timeout, not a speed check."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.calls_to(method)) >= count), timeout)
        return self.calls_to(method)

    # -- Socket Mode -------------------------------------------------------------------------------

    async def socket_send(
        self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, timeout: float = 30.0
    ) -> str:
        """Push one envelope (``events_api``, ``interactive``, ``slash_commands``) to the connected app;
        returns its envelope id. Waits (up to `timeout`, a safety net) for the app to connect."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._sockets)), timeout)
        envelope_id = f"env-{next(self._envelopes)}"
        envelope = {
            "type": kind,
            "envelope_id": envelope_id,
            "payload": payload,
            "accepts_response_payload": kind == "slash_commands",
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "")
        await self._sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The app's acknowledgement of one envelope (a safety timeout, not a speed check)."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: any(a.get("envelope_id") == envelope_id for a in self.socket_acks)),
                timeout,
            )
        return next(a for a in self.socket_acks if a.get("envelope_id") == envelope_id)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        await socket.send_str(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0TEST"}})
        )
        async with self._changed:
            self._sockets.append(socket)
            self._changed.notify_all()
        try:
            async for frame in socket:
                if frame.type == WSMsgType.TEXT:
                    async with self._changed:
                        self.socket_acks.append(json.loads(frame.data))
                        self._changed.notify_all()
        finally:
            self._sockets.remove(socket)
        return socket

    # -- server ------------------------------------------------------------------------------------

    async def start(self) -> "SlackAPIStandIn":
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{port}/api/"
        return self

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "SlackAPIStandIn":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(await request.post())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or str(args.get("token", ""))
        scripted = self._scripted.get(method)
        if scripted:
            answer = scripted.pop(0)
            response = web.json_response(answer.body, status=answer.status, headers=answer.headers)
            await self._record(APICall(method, args, token, answer.status, False, answer.body))
            return response
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token != expected:
            body = {"ok": False, "error": "invalid_auth"}
            await self._record(APICall(method, args, token, 200, False, body))
            return web.json_response(body)
        body = self._answer(method, args)
        await self._record(APICall(method, args, token, 200, bool(body.get("ok")), body))
        return web.json_response(body)

    async def _record(self, call: APICall) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _answer(self, method: str, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if method == "chat.postMessage":
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            message = {
                "type": "message",
                "text": args.get("text", ""),
                "user": self.bot_user,
                "bot_id": BOT_ID,
                "ts": ts,
                "blocks": args.get("blocks", []),
            }
            if args.get("thread_ts"):
                message["thread_ts"] = args["thread_ts"]
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": args.get("ts", ""), "text": args.get("text", "")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.getPermalink":
            ts = str(args.get("message_ts", ""))
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}",
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": self.base_url.replace("http://", "ws://").replace("/api/", "/socket")}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "team_id": self.team,
                "user": "smallbot",
                "user_id": self.bot_user,
                "bot_id": BOT_ID,
            }
        return {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        return f"{1700000000 + next(self._ts)}.000100"


def signed_headers(
    body: bytes | str, signing_secret: str, timestamp: int | None = None, retry_num: int | None = None
) -> dict[str, str]:
    """Headers Slack sends with a request: timestamp and v0 signature made by the SDK's verifier."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None  # None only without a timestamp or body
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def event_body(
    text: str,
    *,
    channel: str = "C0SUPPORT",
    user: str = "U0ALICE",
    ts: str = "1690000000.000100",
    thread_ts: str | None = None,
    event_id: str = "Ev0001",
    kind: str = "app_mention",
    team: str = TEAM,
    **extra: Any,
) -> bytes:
    """A JSON Events API ``event_callback`` body like Slack's, for tests."""
    event: dict[str, Any] = {
        "type": kind,
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "team": team,
        "event_ts": ts,
        **extra,
    }
    if kind == "message":
        event.setdefault("channel_type", "im")
    if thread_ts:
        event["thread_ts"] = thread_ts
    payload = {
        "token": "unused",
        "team_id": team,
        "api_app_id": "A0TEST",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(ts)),
        "event": event,
        "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
    }
    return json.dumps(payload).encode()
