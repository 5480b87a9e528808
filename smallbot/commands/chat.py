"""`smallbot chat DIR`: talk to the bot in the terminal (trains first if needed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .ask import load_bot


def register(sub) -> None:
    parser = sub.add_parser("chat", help="chat with the bot in this terminal", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--user", default="", help="your name, as response templates see it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.connectors.terminal import TerminalConnector

    bot = load_bot(args.dir)
    try:
        return TerminalConnector(bot, sys.stdin, sys.stdout, user=args.user).run()
    finally:
        bot.close()
