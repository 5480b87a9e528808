"""`smallbot migrate DIR`: copy the bot's SQLite conversation log into the PostgreSQL database that bot.yml now
names (`store.backend: postgres`, `store.url: ${DATABASE_URL}`), so moving to several replicas keeps the history.

The copy is one transaction (all or nothing) and idempotent: running it again copies only the rows added to the
SQLite file since, so it can run once before the switch and once more after the last SQLite replica stopped."""

from __future__ import annotations

import argparse
from pathlib import Path

from smallbot.cli import say


def register(sub) -> None:
    parser = sub.add_parser("migrate", help="copy the SQLite conversation log into PostgreSQL", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory (its bot.yml names the PostgreSQL store)")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="the SQLite log to copy (default: store.path in bot.yml, .smallbot/conversations.sqlite3)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.errors import ConfigError, StoreError
    from smallbot.project.loader import load_project
    from smallbot.store.transfer import copy_sqlite_to_postgres

    project = load_project(args.dir)
    settings = project.config.store
    if settings.backend != "postgres" or settings.url is None:
        say(
            f"bot.yml: store.backend is '{settings.backend}': set store.backend: postgres and "
            "store.url: ${DATABASE_URL} to name the database to copy into"
        )
        return 2
    source = args.source if args.source is not None else project.root / settings.path
    try:
        copied = copy_sqlite_to_postgres(source, settings.url.get())
    except (StoreError, ConfigError) as exc:
        say(f"{exc}")
        return 1
    print(
        f"copied {source} into PostgreSQL: {copied.conversations} new conversations, {copied.messages} messages, "
        f"{copied.feedback} feedback, {copied.handoffs} handoffs, {copied.pauses} pauses, "
        f"{copied.deliveries} deliveries"
    )
    if not any((copied.conversations, copied.messages, copied.feedback, copied.handoffs, copied.pauses)):
        say("nothing new: every row was copied before")
    return 0
