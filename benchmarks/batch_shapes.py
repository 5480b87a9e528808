"""How a gathered micro-batch should be cut into encoder passes: sentences per CPU-second of the bot's serving
encoder for batches as the web server gathers them (arrival order, mixed lengths) against the floor.

    python benchmarks/batch_shapes.py [--data benchmarks/data] [--bot examples/helpdesk] [--threads 1,2] [--runs 3]

"floor": all 320 CLINC150 messages (the web load's) sorted longest-first, passes of 32 (little padding).
"gather G, passes of P": the messages in arrival order cut into gathered batches of G; each is encoded with
`encoder.encode(batch, batch_size=P)` (sorted by length inside the batch, passes of P): G = P is one padded
pass per batch, as the server did before. CPU time (process_time), not wall time, so the figures hold on a
shared machine; medians of --runs. Results: a table on stdout and benchmarks/out/batch_shapes.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, REPO, median, save  # noqa: E402

SHAPES = [(32, 32), (32, 16), (32, 8), (64, 64), (64, 32), (64, 16)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--threads", default="1,2", help="torch threads to measure, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    import web_load
    from smallbot.runtime.bot import Bot

    texts = web_load.load_messages(args.data, 320)
    encoder = Bot.load(args.bot, train=True, with_store=False).encoder
    pool = ThreadPoolExecutor(1)  # one worker thread, as the server's micro-batcher runs the encoder

    def rate(work) -> float:
        t0 = time.process_time()
        pool.submit(work).result()
        return len(texts) / (time.process_time() - t0)

    results: dict = {"load_avg_start": os.getloadavg()[0], "threads": {}}
    for threads in [int(t) for t in args.threads.split(",")]:
        encoder.set_threads(threads)
        rate(lambda: encoder.encode(texts, 32))  # warm-up at these thread settings
        for gather, passes in SHAPES:  # every shape once untimed: TorchScript's first call per shape is slow
            rate(lambda: [encoder.encode(texts[i:i + gather], passes) for i in range(0, len(texts), gather)])
        runs: dict[str, list[float]] = {"floor": []}
        for _ in range(args.runs):
            runs["floor"].append(rate(lambda: encoder.encode(texts, 32)))
            for gather, passes in SHAPES:
                runs.setdefault(f"gather {gather}, passes of {passes}", []).append(rate(
                    lambda: [encoder.encode(texts[i:i + gather], passes) for i in range(0, len(texts), gather)]))
        results["threads"][threads] = {name: median(values) for name, values in runs.items()}
    pool.shutdown()
    results["load_avg_end"] = os.getloadavg()[0]
    print(f"sentences per CPU-second, median of {args.runs}; load average {results['load_avg_start']:.2f} at start, "
          f"{results['load_avg_end']:.2f} at end")
    print("| threads | batches | sentences per CPU-s | vs floor |\n|---|---|---|---|")
    for threads, rows in results["threads"].items():
        for name, value in rows.items():
            print(f"| {threads} | {name} | {value:.0f} | {value / rows['floor']:.2f}x |")
    print(f"wrote {save('batch_shapes', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
