"""The store's write path, SQLite against PostgreSQL, in one run on one machine: latency per acknowledged turn
(p50 / p99, from `alog_turn` called to its future resolved, i.e. after COMMIT returned) and turns/s, with a fixed
number of turns in flight (16 by default, a busy replica's event loop).

Both stores are opened the way a bot opens them (`open_store` with `store.backend` set): SQLite in a temporary
directory (WAL, synchronous=NORMAL, the default), PostgreSQL either at --database-url or in a throwaway server
this script starts on loopback (tests/support/postgres.py) with fsync on, so its commits cost what a real
server's do. Each case runs --repeats times on a fresh store; the table shows medians.

    python benchmarks/store.py                        # 2000 turns x 5 repeats, 16 in flight
    python benchmarks/store.py --turns 100 --repeats 1 # a smoke run: checks it works, its figures mean nothing

Run it on a quiet machine for figures worth recording (other processes on the cores distort both backends).
Results: a table on stdout and benchmarks/out/store.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import percentile, save  # noqa: E402

from smallbot.project.config import Secret, StoreConfig  # noqa: E402
from smallbot.store import Store, open_store  # noqa: E402
from smallbot.types import Message, Reply, ReplyKind, Source, Suggestion  # noqa: E402

URL_VAR = "SMALLBOT_BENCH_DATABASE_URL"


def load_texts(data: Path) -> list[str]:
    """CLINC150 validation utterances when the benchmark data is there (realistic lengths), else a fixed set."""
    path = data / "clinc150" / "data_full.json"
    if path.exists():
        return [text for text, _ in json.loads(path.read_text())["val"]]
    return [f"how do I change the billing address on invoice number {i} for my team account" for i in range(100)]


def workload(texts: list[str], n: int) -> list[tuple[Message, Reply]]:
    reply = Reply(ReplyKind.SUGGEST, "Did you mean one of these? " * 4, sources=(Source("some-entry", "q"),),
                  suggestions=(Suggestion("a", "A question?"), Suggestion("b", "Another question?")),
                  confidence=0.6, intent="faq", reason="faq score 0.60 in suggest band",
                  timings={"encode": 6.5, "retrieve": 0.2, "total": 7.1})
    return [(Message(f"c{i % 200}", texts[i % len(texts)], channel="web"), reply) for i in range(n)]


async def drive(store: Store, work: list[tuple[Message, Reply]], in_flight: int) -> tuple[list[float], float]:
    """Keep `in_flight` turns outstanding until all are acknowledged; per-turn latencies (ms) and wall seconds."""
    latencies: list[float] = []
    queue = iter(work)

    async def lane() -> None:
        for message, reply in queue:
            started = time.perf_counter()
            await store.alog_turn(message, reply)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    return latencies, time.perf_counter() - started


def run_case(opener: Callable[[Path], Store], work: list[tuple[Message, Reply]], in_flight: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = opener(Path(tmp))
        try:
            before = len(store.turns())
            latencies, wall = asyncio.run(drive(store, work, in_flight))
            stored = len(store.turns()) - before
        finally:
            store.close()
    if stored != len(work):
        raise SystemExit(f"{stored} turns stored of {len(work)} acknowledged: the store lost writes")
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "turns_per_s": len(work) / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="an existing, empty PostgreSQL database to use")
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    args = parser.parse_args()
    work = workload(load_texts(args.data), args.turns)

    server = None
    if args.database_url is None:
        from tests.support.postgres import start_postgres

        server = start_postgres("127.0.0.1", fsync=True)
    try:
        databases = iter(range(10_000))

        def postgres(_: Path) -> Store:
            if server is not None:
                os.environ[URL_VAR] = server.create_database(f"bench_{next(databases)}")
            else:
                os.environ[URL_VAR] = args.database_url
            return open_store(REPO, StoreConfig(backend="postgres", url=Secret(URL_VAR)))

        cases: dict[str, Callable[[Path], Store]] = {
            "sqlite": lambda tmp: open_store(tmp, StoreConfig(backend="sqlite")),
            "postgres": postgres,
        }
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, opener in cases.items():  # interleaved, so drifts in machine load hit both
                runs[name].append(run_case(opener, work, args.in_flight))
    finally:
        if server is not None:
            server.stop()

    results = {
        name: {key: statistics.median(r[key] for r in rs) for key in ("p50_ms", "p99_ms", "turns_per_s")} | {"runs": rs}
        for name, rs in runs.items()
    }
    print(f"{args.turns} turns, {args.in_flight} in flight, median of {args.repeats} runs; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| store | p50 per acknowledged turn (ms) | p99 (ms) | turns/s |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['turns_per_s']:.0f} |")
    path = save("store", {"turns": args.turns, "in_flight": args.in_flight, "repeats": args.repeats,
                          "postgres": "throwaway server, fsync on" if server else "--database-url", "results": results})
    print(f"\n{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
