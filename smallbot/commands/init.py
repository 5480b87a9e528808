"""`smallbot init DIR`: scaffold a new bot project that trains and answers out of the box."""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

from smallbot.errors import ConfigError


def register(sub) -> None:
    parser = sub.add_parser("init", help="create a new bot project", description=__doc__)
    parser.add_argument("dir", type=Path, help="directory to create (must be empty or absent)")
    parser.add_argument("--name", default=None, help="bot name (default: the directory name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target: Path = args.dir
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not empty: choose a new directory")
    scaffold = resources.files("smallbot") / "scaffold"
    with resources.as_file(scaffold) as source:
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    config = target / "bot.yml"
    config.write_text(config.read_text().replace("{{name}}", args.name or target.resolve().name))
    print(f"created {target}: edit intents/*.yml and knowledge/*.yml, then run `smallbot chat {target}`")
    return 0
