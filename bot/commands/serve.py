"""`smallbot serve DIR`: serve the web widget, REST and WebSocket API (and Slack when enabled).

Trains first when needed, like `ask`. Host and port default to `web.host` / `web.port` in bot.yml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smallbot.cli import say

from .ask import load_bot


def register(sub) -> None:
    parser = sub.add_parser("serve", help="serve the web chat widget and API", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--host", default=None, help="address to listen on (default: web.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: web.port, 8080; 0 picks a free one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from smallbot.connectors.web import WebSettings, create_app

    bot = load_bot(args.dir)
    try:
        settings = WebSettings.from_config(bot.config, host=args.host, port=args.port)
        app = create_app(bot, settings)
        # print() of run_app announces the bound address, port 0 included; tests and scripts read that line
        web.run_app(app, host=settings.host, port=settings.port, print=say, access_log=None,
                    shutdown_timeout=5.0)
    finally:
        bot.close()
    return 0
