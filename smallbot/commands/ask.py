"""`smallbot ask DIR "text"`: answer one message (trains first if needed); `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

from smallbot.cli import say
from smallbot.types import Message


def register(sub) -> None:
    parser = sub.add_parser("ask", help="answer one message and exit", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("text", help="the message")
    parser.add_argument("--json", action="store_true", help="print the whole reply as JSON")
    parser.add_argument("--conversation", default=None, help="conversation id (default: a new one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bot = load_bot(args.dir)
    try:
        reply = bot.handle(Message(args.conversation or uuid.uuid4().hex, args.text, channel="cli"))
    finally:
        bot.close()
    if args.json:
        print(json.dumps(reply.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(reply.text)
    return 0


def load_bot(directory: Path):
    """Load a bot, training first (and saying so) when it is untrained or its files changed."""
    from smallbot.runtime.bot import Bot

    return Bot.load(directory, train=True, report=say)
