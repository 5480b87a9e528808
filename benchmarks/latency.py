"""In-process message latency of a trained bot against the floor of one bare encoder call.

For each run: N FAQ-style messages (paraphrases never in the bot's files, tests/data) through
`Bot.handle`, and the same texts through `Encoder.encode([text])` alone. Reports p50/p99 of both and
the p50 ratio; medians over runs.

    python benchmarks/latency.py [--bot examples/helpdesk] [--runs 5] [--threads N] [--quantize]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, percentile, save  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from smallbot.runtime.bot import Bot
    from smallbot.types import Message

    bot = Bot.load(args.bot, train=True, with_store=False)
    data = yaml.safe_load((REPO / "tests" / "data" / "helpdesk_paraphrases.yml").read_text())
    texts = [p["text"] for p in data["paraphrases"]] + list(data["off_topic"])
    for text in texts[:10]:  # warm-up
        bot.handle(Message("warm", text))
        bot.encoder.encode([text])
    runs = []
    for run in range(args.runs):
        bare, full, encode_share = [], [], []
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            bot.encoder.encode([text])
            bare.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            reply = bot.handle(Message(f"r{run}-{i}", text))
            full.append((time.perf_counter() - t0) * 1000)
            encode_share.append(reply.timings.get("encode", 0.0))
        runs.append({"bare_p50": percentile(bare, 50), "bare_p99": percentile(bare, 99),
                     "msg_p50": percentile(full, 50), "msg_p99": percentile(full, 99),
                     "ratio_p50": percentile(full, 50) / percentile(bare, 50)})
    summary = {key: median([r[key] for r in runs]) for key in runs[0]}
    save("latency", {"messages_per_run": len(texts), "runs": runs, "median": summary,
                     "threads": torch.get_num_threads()})
    print(f"{len(texts)} messages x {args.runs} runs, torch threads {torch.get_num_threads()}")
    print(f"bare encoder call : p50 {summary['bare_p50']:.2f} ms  p99 {summary['bare_p99']:.2f} ms")
    print(f"Bot.handle message: p50 {summary['msg_p50']:.2f} ms  p99 {summary['msg_p99']:.2f} ms")
    print(f"ratio p50 message / bare encoder: {summary['ratio_p50']:.2f}x  (target <= 1.2x, p99 <= 20 ms)")


if __name__ == "__main__":
    main()
