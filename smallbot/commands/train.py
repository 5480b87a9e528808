"""`smallbot train DIR`: validate the project and build `.smallbot/`, retraining only what changed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smallbot.cli import say


def register(sub) -> None:
    parser = sub.add_parser("train", help="train the bot's models and index", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument("--force", action="store_true", help="retrain everything even if nothing changed")
    parser.add_argument("--json", action="store_true", help="print the build summary as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.build.pipeline import train_project  # training code loads only for this verb
    from smallbot.project.loader import load_project

    project = load_project(args.dir)
    for warning in project.warnings:
        say(f"warning: {warning}")
    result = train_project(project, force=args.force, report=say)
    summary = {
        "build_dir": str(result.build_dir),
        "trained": list(result.trained),
        "skipped": list(result.skipped),
        "exported": result.exported,
        "seconds": round(result.seconds, 2),
        "metrics": result.metrics,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    elif result.trained:
        say(f"trained {', '.join(result.trained)} in {result.seconds:.1f}s -> {result.build_dir}")
    elif result.exported:
        say(f"exported the serving encoder in {result.seconds:.1f}s -> {result.build_dir}")
    else:
        say("nothing changed; the build is up to date")
    return 0
