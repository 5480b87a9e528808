"""`smallbot slack DIR`: serve the bot to Slack alone: the Events API endpoints on HOST:PORT, or Socket
Mode when bot.yml says `slack.socket_mode: true` (trains first if needed). The web server can mount the
same endpoints next to the widget with `smallbot.connectors.slack.setup`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from smallbot.cli import say
from smallbot.errors import ConfigError
from smallbot.plugins import BotService

from .ask import load_bot


def register(sub) -> None:
    parser = sub.add_parser("slack", help="serve the bot to Slack (Events API or Socket Mode)", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on; 0 picks a free one (default: 3000)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bot = load_bot(args.dir)
    try:
        if not bot.config.connector("slack").enabled:
            raise ConfigError(
                f"{args.dir}/bot.yml: slack.enabled is false; set `slack: {{enabled: true, ...}}` "
                "(see the README's Slack section)"
            )
        asyncio.run(_serve(bot, args.host, args.port))
    finally:
        bot.close()
    return 0


async def _serve(bot: BotService, host: str, port: int) -> None:
    from aiohttp import web

    from smallbot.connectors.slack import setup
    from smallbot.connectors.web.settings import WebSettings

    config = bot.config.connector("slack")
    app = web.Application()
    setup(app, bot, config)
    # the same bounded keep-alive / header deadline as `smallbot serve` (AppRunner's default is 3,630 s)
    runner = web.AppRunner(app, handle_signals=False, **WebSettings.from_config(bot.config).server_options())
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        mode = "Socket Mode and " if config.socket_mode else ""
        print(
            f"{bot.config.name}: {mode}Slack endpoints on http://{bound_host}:{bound_port}/slack/events "
            "(/slack/interactions, /slack/commands); Ctrl-C stops",
            flush=True,
        )
        await stop.wait()
        say("stopping")
    finally:
        await runner.cleanup()
