"""`smallbot forget DIR CONVERSATION_ID`: erase one conversation (messages, feedback, handoffs) from the log,
for erasure requests, and its questions from the `smallbot learn` review file (DIR/learn/review.yml)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from smallbot.cli import say


def register(sub) -> None:
    parser = sub.add_parser("forget", help="erase one conversation from the log", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("conversation_id", help="the conversation to erase")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.errors import StoreError
    from smallbot.analytics.learn import REVIEW_FILE, forget_texts
    from smallbot.project.loader import load_project
    from smallbot.store import open_store

    project = load_project(args.dir)
    settings = dataclasses.replace(project.config.store, retention_days=0)  # erase one, never purge others
    try:
        store = open_store(project.root, settings, create=False)
    except StoreError as exc:
        say(f"{exc}: nothing to erase")
        return 1
    try:
        texts = {turn.text for turn in store.turns(args.conversation_id)}
        erased = store.forget(args.conversation_id)
        still_asked = {turn.text for turn in store.turns()} & texts  # another conversation asked it too
    finally:
        store.close()
    if not erased.conversations:
        say(f"no conversation {args.conversation_id!r} in the conversation log ({settings.backend})")
        return 1
    review = project.root / REVIEW_FILE
    proposals = forget_texts(review, sorted(texts - still_asked))
    print(
        f"erased conversation {args.conversation_id}: {erased.messages} messages, {erased.feedback} feedback, "
        f"{erased.handoffs} handoffs" + (f", {proposals} proposals in {REVIEW_FILE}" if proposals else "")
    )
    return 0
