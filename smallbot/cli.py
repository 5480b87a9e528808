"""`smallbot` command line: one module per verb under `smallbot.commands`, registered here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from smallbot import __version__
from smallbot.errors import ProjectError, SmallbotError

COMMANDS = ["init", "train", "ask", "chat", "eval", "slack", "forget", "report", "learn", "serve", "migrate"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallbot", description="Chatbots and FAQ bots on small models.")
    parser.add_argument("--version", action="version", version=f"smallbot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"smallbot.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SmallbotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


def say(text: str) -> None:
    """Progress lines for people go to stderr, so stdout stays clean for --json."""
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
