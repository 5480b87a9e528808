"""`smallbot report DIR`: an HTML report of the conversation log at DIR/.smallbot/report/report.html."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from smallbot.cli import say


def register(sub) -> None:
    parser = sub.add_parser(
        "report", help="write an HTML report of what the bot answered and missed", description=__doc__
    )
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: DIR/.smallbot/report)")
    parser.add_argument(
        "--cluster-threshold",
        type=float,
        default=0.7,
        help="cosine similarity for two questions to count as one (default: 0.7)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.project.loader import load_project
    from smallbot.analytics.log_report import REPORT_DIR, collect, write_report
    from smallbot.store import open_store

    project = load_project(args.dir)
    from smallbot.encoding.serving import serving_encoder

    encoder = serving_encoder(project)  # clusters by the meaning the bot itself sees
    store = open_store(project.root, dataclasses.replace(project.config.store, retention_days=0))  # read, never purge
    try:
        if not store.conversations():
            say(f"the conversation log ({project.config.store.backend}) is empty yet: the report will be empty")
        data = collect(store, encoder.encode, project.config.name, threshold=args.cluster_threshold)
    finally:
        store.close()
    path = write_report(data, args.out or project.root / REPORT_DIR)
    say(f"{data.turns} messages, {len(data.unanswered)} unanswered question clusters")
    print(path)
    return 0
