"""`smallbot learn DIR`: turn unanswered questions from the log into proposals in DIR/learn/review.yml;
`smallbot learn DIR --apply` adds the accepted ones to the FAQ alternates and intent examples."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from smallbot.cli import say


def register(sub) -> None:
    parser = sub.add_parser(
        "learn", help="propose new alternates and examples from unanswered questions", description=__doc__
    )
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--apply", action="store_true", help="merge the accepted proposals into the project files")
    parser.add_argument("--review", type=Path, default=None, help="review file (default: DIR/learn/review.yml)")
    parser.add_argument(
        "--min-similarity",
        type=float,
        default=0.5,
        help="unused by the command (kept for scripts): the trained bot's out-of-scope check, "
        "intent classifier and calibrated FAQ confidence decide what is off-topic",
    )
    parser.add_argument(
        "--cluster-threshold",
        type=float,
        default=0.7,
        help="cosine similarity for two questions to count as one (default: 0.7)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.analytics.learn import REVIEW_FILE, apply_review, propose, write_review
    from smallbot.project.loader import load_project

    project = load_project(args.dir)
    review = args.review or project.root / REVIEW_FILE
    if args.apply:
        applied = apply_review(project.root, review)
        for reason in applied.skipped:
            say(f"skipped {reason}")
        print(
            f"added {applied.faq_alternates} FAQ alternates and {applied.intent_examples} intent examples"
            + (f" to {', '.join(applied.files)}" if applied.files else "")
        )
        if applied.files:
            say(f"run `smallbot train {args.dir}` so the bot learns them")
        return 0
    from smallbot.runtime.bot import Bot
    from smallbot.analytics.learn import bot_judge
    from smallbot.store import open_store

    # the trained bot judges what is off-topic (its out-of-scope check) and which entry fits (its calibrated
    # FAQ confidence), on its own serving encoder
    bot = Bot.load(project, train=True, report=say, with_store=False)
    store = open_store(project.root, dataclasses.replace(project.config.store, retention_days=0))
    try:
        proposals = propose(
            project,
            store,
            bot.encoder.encode,
            cluster_threshold=args.cluster_threshold,
            min_similarity=args.min_similarity,
            judge=bot_judge(bot),
            intent_threshold=bot.config.thresholds.intent,
        )
    finally:
        store.close()
        bot.close()
    if not proposals:
        print("nothing to learn: every logged question was answered or is already known")
        return 0
    write_review(review, proposals)
    by_kind = {kind: sum(p.add_to == kind for p in proposals) for kind in ("faq", "intent", "new")}
    print(
        f"{len(proposals)} proposals ({by_kind['faq']} FAQ alternates, {by_kind['intent']} intent examples, "
        f"{by_kind['new']} without a match) in {review}"
    )
    say("set `accept: true` on the right ones, then run `smallbot learn DIR --apply`")
    return 0
