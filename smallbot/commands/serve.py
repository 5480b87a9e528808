"""`smallbot serve DIR`: serve the web widget, REST and WebSocket API (and Slack when enabled).

Trains first when needed, like `ask`. Host and port default to `web.host` / `web.port` in bot.yml.
`--workers N` serves from N processes on one port (see `smallbot.connectors.web.workers`); the default,
`--workers auto`, is 2 with 2 or more cores and the generator off, else 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smallbot.cli import say


def register(sub) -> None:
    parser = sub.add_parser("serve", help="serve the web chat widget and API", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--host", default=None, help="address to listen on (default: web.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: web.port, 8080; 0 picks a free one)")
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N|auto",
        help="server processes sharing the port (SO_REUSEPORT), each with its share of the cores "
        "and its own copy of the models (default auto: 2 with 2 or more cores and the "
        "generator off, else 1)",
    )
    parser.set_defaults(func=run)


def _workers(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None


def run(args: argparse.Namespace) -> int:
    from smallbot.connectors.web.workers import serve

    # aiohttp's "Running on http://host:port" line goes to stderr; tests and scripts read it (port 0 included)
    return serve(args.dir, workers=args.workers, host=args.host, port=args.port, report=say, announce=say)
