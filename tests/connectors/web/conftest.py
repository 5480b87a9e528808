"""Fixtures for the web connector: the trained helpdesk bot, and a real server on a loopback port that
runs in its own thread (so blocking browser calls in a test never stall it) and can be restarted."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from aiohttp import web

from smallbot.connectors.web import WebSettings, create_app


@pytest.fixture(scope="session")
def helpdesk_bot(trained_helpdesk: Path, encoder):
    """The trained helpdesk bot with its SQLite store, sharing the session's encoder."""
    from smallbot.runtime.bot import Bot
    from smallbot.project.loader import load_project

    bot = Bot.from_build(load_project(trained_helpdesk), encoder=encoder)
    yield bot
    bot.close()


class LiveServer:
    """`create_app(bot, settings)` served on 127.0.0.1 from a background thread with its own loop.

    >>> server = LiveServer(bot, settings).start(); server.url
    'http://127.0.0.1:40123'
    """

    def __init__(self, bot, settings: WebSettings):
        self.bot = bot
        self.settings = settings
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._runner = web.AppRunner(create_app(self.bot, self.settings), shutdown_timeout=2.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await site.start()
            self.port = self._runner.addresses[0][1]

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="smallbot-web-test", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("test web server did not start")
        return self

    def stop(self) -> None:
        """Shut down like a real restart: open WebSockets are closed, the port is freed."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
        self._loop = None


@pytest.fixture
def start_server():
    """Start more servers in a test: `start_server(bot, settings)`; all are stopped afterwards."""
    started: list[LiveServer] = []

    def start(bot, settings: WebSettings) -> LiveServer:
        server = LiveServer(bot, settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server(helpdesk_bot):
    """A started LiveServer for the helpdesk bot; the test may stop and start it again."""
    server = LiveServer(helpdesk_bot, WebSettings.from_config(helpdesk_bot.config, port=0,
                                                             rate_limit_per_minute=600, rate_limit_burst=100))
    server.start()
    yield server
    server.stop()
