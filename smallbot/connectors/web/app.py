"""The web connector's thin shell: one aiohttp application for the widget, REST, WebSocket, and the routes of
every other HTTP connector configured in bot.yml (Slack, installed ones; see `.mount`).

Routes (JSON errors are `{"error": code, "reason": words, "status": n}`):

    GET  /               demo page: a sample site with the widget embedded
    GET  /widget.js      the embeddable widget (one <script> tag); /widget.css its styles
    POST /api/messages   {"text", "conversation_id"?} -> the reply as JSON
    GET  /api/ws         WebSocket: send {"type": "message", ...}; get "chunk" frames, then a "reply" frame
    POST /api/feedback   {"conversation_id", "message_id", "score": "up"|"down", "comment"?}
    GET  /healthz        liveness and the bot's name
    GET  /metrics        Prometheus text format
    GET  /openapi.json   this API as an OpenAPI 3.1 document (.openapi)
    ...                  what each configured HTTP connector adds (/slack/events, ...)

All routing logic stays in `Bot`; this module only moves bytes, enforces the limits in `WebSettings`
and turns failures into 4xx JSON (or the fallback reply) so the server keeps serving.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import jinja2
from aiohttp import WSCloseCode, WSMsgType, web

from smallbot.encoding.batcher import EncodeFailed
from smallbot.project.config import Secret
from smallbot.errors import SmallbotError, StoreError
from smallbot.plugins import BotService
from smallbot.project.loader import BUILD_DIR
from smallbot.types import Message, Reply, ReplyKind

from .access import ClientAddress, OriginPolicy, RateLimiter, SharedRateLimiter, rate_limiter, retry_after_header
from .ids import ConversationIds, load_key
from .metrics import WebMetrics
from .mount import mount_connectors
from .protocol import BadRequest, decode_json, parse, parse_feedback, render, render_chunk
from .settings import WebSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
_PLAIN_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
_STATIC_FILES = {"widget.js": "application/javascript", "widget.css": "text/css", "demo.css": "text/css"}


@dataclass
class WebState:
    """Everything the handlers share, created per application."""

    bot: BotService
    settings: WebSettings
    origins: OriginPolicy
    clients: ClientAddress
    limiter: RateLimiter | SharedRateLimiter
    metrics: WebMetrics
    templates: jinja2.Environment
    ids: ConversationIds
    api_key: str | None = None  # server-to-server callers with it may choose conversation ids
    sockets: weakref.WeakSet = field(default_factory=weakref.WeakSet)


STATE = web.AppKey("smallbot_web", WebState)


def create_app(bot: BotService, settings: WebSettings | None = None) -> web.Application:
    """Build the application for `bot` (a loaded `smallbot.runtime.bot.Bot`); the caller owns the bot's lifetime.

    >>> web.run_app(create_app(Bot.load("examples/helpdesk"), WebSettings(port=8080)))
    """
    settings = settings or WebSettings.from_config(bot.config)
    # Bodies are bounded by our own reader (413 with a JSON reason); aiohttp's limit only backs it up
    # and leaves room for Slack's event payloads.
    app = web.Application(middlewares=[_access_control], client_max_size=max(settings.max_request_bytes, 1 << 20))
    app[STATE] = WebState(
        bot=bot,
        settings=settings,
        origins=OriginPolicy(settings.allowed_origins),
        clients=ClientAddress(settings.trusted_proxies),
        limiter=rate_limiter(bot.connector_state, settings.rate_limit_per_minute, settings.rate_limit_burst),
        metrics=WebMetrics(),
        templates=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True),
        ids=ConversationIds(load_key(bot.root / BUILD_DIR if bot.root is not None else None)),
        api_key=Secret(settings.api_key_env).get() if settings.api_key_env else None,
    )
    app.router.add_get("/", _demo_page)
    for name in _STATIC_FILES:
        app.router.add_get(f"/{name}", _static(name))
    app.router.add_post("/api/messages", _post_message)
    app.router.add_get("/api/ws", _websocket)
    app.router.add_post("/api/feedback", _post_feedback)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/openapi.json", _openapi)
    app.cleanup_ctx.append(_lifetime)
    app.on_shutdown.append(_close_sockets)
    app.on_response_prepare.append(_server_header)
    mount_connectors(app, bot)
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    log.info(
        "web connector for %s ready (origins: %s)",
        state.bot.config.name,
        ", ".join(state.settings.allowed_origins) or "same origin only",
    )
    watcher = (
        asyncio.get_running_loop().create_task(_watch_knowledge(state.bot, state.settings.reload_seconds))
        if state.settings.reload_seconds > 0 and state.bot.root is not None
        else None
    )
    yield
    if watcher is not None:
        watcher.cancel()
    await _close_sockets(app)


async def _watch_knowledge(bot: BotService, every: float) -> None:
    """Hot reload: a newly published build is swapped in, and edited knowledge files are indexed in place,
    while the server keeps answering. A broken file is logged (with its problems) and the running knowledge
    is kept."""
    loop = asyncio.get_running_loop()
    last_error = ""
    while True:
        await asyncio.sleep(every)
        try:
            # a build published by `smallbot train` (this host or another sharing the bot directory) first,
            # then knowledge files edited since
            await loop.run_in_executor(None, bot.reload_build_if_published)
            result = await loop.run_in_executor(None, bot.reload_knowledge_if_changed)
        except SmallbotError as exc:
            if str(exc) != last_error:  # once per distinct problem, not every tick until it is fixed
                log.error("knowledge files changed but were not reloaded: %s", exc)
                last_error = str(exc)
            continue
        last_error = ""
        if result is not None and not result.empty:
            log.info(
                "knowledge reloaded: %d added, %d changed, %d deleted",
                len(result.added),
                len(result.changed),
                len(result.deleted),
            )


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Every response (WebSocket handshakes and Slack's included) names the product, not the Python and
    aiohttp versions a scanner would look up."""
    response.headers["Server"] = "smallbot"


async def _close_sockets(app: web.Application) -> None:
    # 1001 "going away": widgets reconnect with back-off when the server comes back.
    for ws in list(app[STATE].sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


# -- middleware: origins, CORS, JSON errors, request metrics ----------------------------------------------

_CORS_METHODS = "GET, POST, OPTIONS"


@web.middleware
async def _access_control(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    origin = request.headers.get("Origin")
    api = request.path.startswith("/api/")
    allowed = state.origins.allows(origin, f"{request.scheme}://{request.host}")
    try:
        if api and not allowed:
            raise BadRequest(
                403,
                "origin_not_allowed",
                f"origin {origin} may not use this bot: add it to web.allowed_origins in bot.yml",
            )
        if api and request.method == "OPTIONS":  # CORS preflight for JSON POSTs
            response: web.StreamResponse = web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Methods": _CORS_METHODS,
                    "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Max-Age": "600",
                },
            )
        else:
            response = await handler(request)
    except BadRequest as exc:
        state.metrics.refuse(exc.error)
        response = _error_response(exc)
    except web.HTTPException as exc:
        if not api:
            state.metrics.request(route, exc.status)
            raise
        response = web.json_response(
            {"error": "http_error", "reason": exc.reason, "status": exc.status},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except Exception:
        log.exception("%s %s failed", request.method, route)
        response = web.json_response(
            {"error": "internal_error", "reason": "the server failed; it is logged", "status": 500}, status=500
        )
    if api and origin and allowed and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    state.metrics.request(route, response.status)
    return response


def _error_response(exc: BadRequest) -> web.Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    return web.json_response(exc.to_dict(), status=exc.status, headers=headers)


async def _rate_limit(request: web.Request) -> None:
    state = request.app[STATE]
    wait = await state.limiter.acheck(state.clients.of(request.remote, request.headers.get("X-Forwarded-For")))
    if wait > 0:
        raise BadRequest(
            429, "rate_limited", f"too many messages from this address; retry in {wait:.1f} s", retry_after=wait
        )


async def _read_body(request: web.Request, limit: int) -> bytes:
    """Read at most `limit` bytes, refusing larger bodies before reading them where the length is known."""
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(
            413, "request_too_large", f"request body is {request.content_length} bytes; the limit is {limit}"
        )
    chunks, size = [], 0
    try:
        async with asyncio.timeout(request.app[STATE].settings.body_timeout):  # aiohttp has no body deadline
            async for chunk in request.content.iter_chunked(1 << 14):
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, "request_too_large", f"request body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BadRequest(408, "request_timeout", "the request body did not arrive in time: send it at once") from None
    return b"".join(chunks)


# -- pages and static files -------------------------------------------------------------------------------


async def _demo_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    bot = state.bot
    html = state.templates.get_template("demo.html").render(
        bot_name=bot.config.name,
        description=bot.config.description,
        questions=bot.sample_questions(4),
        base_url=f"{request.scheme}://{request.host}",
    )
    # the Host header is the client's: only a plain host[:port] may name the WebSocket source ('self'
    # covers ws: in CSP Level 3 browsers; the explicit sources are for older ones)
    host = request.host if _PLAIN_HOST.fullmatch(request.host or "") else ""
    sockets = f" ws://{host} wss://{host}" if host else ""
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; frame-ancestors 'self'; base-uri 'none'"
    )
    return web.Response(text=html, content_type="text/html", headers={"Content-Security-Policy": csp})


def _static(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    path, content_type = STATIC / name, _STATIC_FILES[name]

    async def handler(request: web.Request) -> web.Response:
        # read per request: small files, and edits show without a restart while developing a theme
        return web.Response(
            body=path.read_bytes(), content_type=content_type, headers={"Cache-Control": "public, max-age=300"}
        )

    return handler


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "bot": request.app[STATE].bot.config.name})


async def _openapi(request: web.Request) -> web.Response:
    from smallbot import __version__

    from .openapi import openapi_document

    return web.json_response(openapi_document(request.app[STATE].bot.config.name, __version__))


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[STATE].metrics.render(),
        content_type="text/plain",
        headers={"X-Prometheus-Format": "0.0.4"},
        charset="utf-8",
    )


# -- REST -------------------------------------------------------------------------------------------------


async def _post_message(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await _rate_limit(request)
    raw = decode_json(await _read_body(request, state.settings.max_request_bytes), state.settings.max_request_bytes)
    message = _require(parse(raw, state.settings.max_message_chars, new_id=_conversation_id(request, raw)))
    reply = await _answer(state, message)
    return web.json_response(render(reply, message))


async def _post_feedback(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await _rate_limit(request)
    raw = decode_json(await _read_body(request, state.settings.max_request_bytes), state.settings.max_request_bytes)
    feedback = parse_feedback(raw)
    _conversation_id(request, raw)
    store = state.bot.store
    if store is None:
        raise BadRequest(503, "feedback_unavailable", "this bot keeps no store, so feedback cannot be saved")
    try:
        await store.alog_feedback(feedback.conversation_id, feedback.message_ref, feedback.score, feedback.comment)
    except StoreError as exc:
        raise BadRequest(404, "unknown_reply", str(exc)) from exc
    state.metrics.rate(feedback.score)
    return web.json_response({"ok": True})


def _conversation_id(request: web.Request, raw: dict) -> str | None:
    """A new id when the request names no conversation; otherwise None, once the named one is known to be
    this client's: an id this server issued, or any id from a caller holding the API key."""
    state = request.app[STATE]
    auth = request.headers.get("Authorization")
    if auth is not None:
        given = auth.removeprefix("Bearer ").strip()
        if state.api_key is None or not hmac.compare_digest(given.encode(), state.api_key.encode()):
            raise BadRequest(
                401,
                "bad_api_key",
                "the Authorization header does not hold this server's API key "
                "(web.api_key in bot.yml); browsers send none",
            )
    value = raw.get("conversation_id")
    if value is None or value == "":
        return state.ids.issue()
    if auth is None and isinstance(value, str) and not state.ids.verify(value):
        raise BadRequest(
            403,
            "unknown_conversation",
            "conversation_id was not issued by this server: leave it out to start a conversation, "
            "then send back the conversation_id its reply gave you",
        )
    return None


def _require(message: Message | None) -> Message:
    if message is None:
        raise BadRequest(422, "empty_message", "message is empty: send some text")
    return message


async def _answer(state: WebState, message: Message) -> Reply:
    """The bot's reply, or the fallback when the bot fails (logged with ids, never the user's text)."""
    started = time.perf_counter()
    try:
        reply = await state.bot.ahandle(message)
    except EncodeFailed as exc:  # its batch's traceback is logged once already
        log.error("reply to conversation %s failed: %s", message.conversation_id, exc)
        reply = _failure(state, message)
    except Exception:
        log.exception("reply to conversation %s failed", message.conversation_id)
        reply = _failure(state, message)
    state.metrics.reply(reply.kind.value, time.perf_counter() - started)
    return reply


def _failure(state: WebState, message: Message) -> Reply:
    return Reply(ReplyKind.FALLBACK, state.bot.config.fallback, message.conversation_id, reason="error")


# -- WebSocket --------------------------------------------------------------------------------------------


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    """One socket per widget; messages on it are answered in order, refusals are "error" frames."""
    state = request.app[STATE]
    # a frame somewhat over the body limit still gets a JSON refusal; far over it closes with 1009
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4 * state.settings.max_request_bytes)
    await ws.prepare(request)
    state.sockets.add(ws)
    state.metrics.websocket(+1)
    try:
        await ws.send_json({"type": "ready", "bot": state.bot.config.name})
        async for frame in ws:
            if frame.type is WSMsgType.TEXT:
                try:
                    await _websocket_message(request, ws, frame.data)
                except ConnectionResetError:
                    break
                except Exception:  # an error escaping here would write an HTTP 500 into the upgraded socket
                    log.exception("websocket frame failed")
                    if not ws.closed:
                        await ws.send_json(
                            {
                                "type": "error",
                                "error": "internal_error",
                                "reason": "the server failed; it is logged",
                                "status": 500,
                            }
                        )
            elif frame.type is WSMsgType.BINARY:
                await ws.send_json(
                    {"type": "error", **BadRequest(400, "bad_json", "send JSON text frames, not binary").to_dict()}
                )
            elif frame.type is WSMsgType.ERROR:
                log.info("websocket closed with error: %s", ws.exception())
                break
    finally:
        state.sockets.discard(ws)
        state.metrics.websocket(-1)
    return ws


async def _websocket_message(request: web.Request, ws: web.WebSocketResponse, data: str) -> None:
    state = request.app[STATE]
    try:
        await _rate_limit(request)
        raw = decode_json(data, state.settings.max_request_bytes)
        if raw.get("type", "message") != "message":
            raise BadRequest(400, "bad_request", 'frames must have "type": "message"')
        message = _require(parse(raw, state.settings.max_message_chars, new_id=_conversation_id(request, raw)))
    except BadRequest as exc:
        state.metrics.refuse(exc.error)
        await ws.send_json({"type": "error", **exc.to_dict()})
        return
    started = time.perf_counter()
    reply: Reply | None = None
    try:
        async for item in state.bot.astream(message):
            if isinstance(item, Reply):
                reply = item
            elif item:
                await ws.send_json(render_chunk(item))
    except ConnectionResetError:
        return  # the widget went away mid-reply; nothing to send to
    except EncodeFailed as exc:
        log.error("streamed reply to conversation %s failed: %s", message.conversation_id, exc)
    except Exception:
        log.exception("streamed reply to conversation %s failed", message.conversation_id)
    if reply is None:
        reply = _failure(state, message)
    state.metrics.reply(reply.kind.value, time.perf_counter() - started)
    if not ws.closed:
        await ws.send_json({"type": "reply", "reply": render(reply, message)})
