"""Where one in-process message's time goes beyond the encoder pass: cProfile over `Bot.handle`.

    python benchmarks/profile_message.py [--data benchmarks/data] [--bot examples/helpdesk] [--messages 300]

Messages are CLINC150 test utterances (mostly off the helpdesk's topics, so they take the full encoder path).
The bot must be trained (`smallbot train examples/helpdesk`). Prints ms per message untimed-by-profiler, then
the top functions by cumulative time; the gap between `handle` and the encoder's `_forward` is what routing,
classification, search and logging cost.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    from smallbot.runtime.bot import Bot
    from smallbot.types import Message

    texts = [text for text, _ in json.loads((args.data / "clinc150" / "data_full.json").read_text())["test"]]
    random.Random(0).shuffle(texts)
    warm, timed = texts[:100], texts[100:100 + args.messages]
    bot = Bot.load(args.bot)
    for i, text in enumerate(warm):
        bot.handle(Message(f"warm-{i}", text))
    start = time.perf_counter()
    for i, text in enumerate(timed):
        bot.handle(Message(f"t-{i}", text))
    print(f"{(time.perf_counter() - start) / len(timed) * 1000:.2f} ms per message over {len(timed)} messages")
    profile = cProfile.Profile()
    profile.enable()
    for i, text in enumerate(timed):
        bot.handle(Message(f"p-{i}", text))
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
