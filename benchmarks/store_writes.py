"""Conversation-store write throughput and event-loop blocking.

Compares, in one run on one machine:
- baseline: the first release's store (one transaction per turn on the caller's thread, under a lock),
  reproduced here verbatim as `FirstReleaseStore`, with the same SQLite settings (WAL, synchronous=NORMAL);
- `SQLiteStore.log_turn` from 1 and 8 threads (one writer thread, group commit);
- `SQLiteStore.alog_turn` from an event loop with 16 and 64 writes in flight;
- the same with synchronous=FULL (fsync per commit group).
Also the event loop's worst stall while it logs turns: calling the blocking baseline inside a coroutine
versus awaiting `alog_turn`.

Message texts are CLINC150 validation utterances (realistic lengths). Run:
    python benchmarks/store_writes.py [--data benchmarks/data] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from smallbot.store.sqlite import SQLiteStore  # noqa: E402
from smallbot.types import Message, Reply, ReplyKind, Source  # noqa: E402


class FirstReleaseStore:
    """The store as it shipped before this change: a lock and one committed transaction per call."""

    def __init__(self, path: Path, synchronous: str = "NORMAL"):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript("""
            CREATE TABLE conversations (id TEXT PRIMARY KEY, channel TEXT, user TEXT, started_at REAL, updated_at REAL);
            CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT, text TEXT,
                reply_kind TEXT, reply_text TEXT, intent TEXT, confidence REAL, sources TEXT, timings TEXT,
                created_at REAL);""")

    def log_turn(self, message: Message, reply: Reply) -> int:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                             "updated_at=excluded.updated_at", (message.conversation_id, message.channel,
                                                                message.user, now, now))
            cursor = self._db.execute(
                "INSERT INTO messages(conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
                "timings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message.conversation_id, message.text, reply.kind.value, reply.text, reply.intent,
                 reply.confidence, json.dumps([s.entry_id for s in reply.sources]), json.dumps(dict(reply.timings)),
                 now))
            self._db.execute("COMMIT")
            return int(cursor.lastrowid)

    def close(self) -> None:
        self._db.close()


def turns(texts: list[str], n: int) -> list[tuple[Message, Reply]]:
    reply = Reply(ReplyKind.ANSWER, "An answer of typical length, returned verbatim from the FAQ. " * 3,
                  sources=(Source("some-entry", "q"),), confidence=0.8, intent="faq",
                  timings={"encode": 6.5, "retrieve": 0.2, "total": 7.1})
    return [(Message(f"c{i % 50}", texts[i % len(texts)], channel="web"), reply) for i in range(n)]


def run_threads(store, work: list[tuple[Message, Reply]], threads: int) -> float:
    chunks = [work[i::threads] for i in range(threads)]
    started = time.perf_counter()
    pool = [threading.Thread(target=lambda c=c: [store.log_turn(m, r) for m, r in c]) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(work) / (time.perf_counter() - started)


def run_async(store: SQLiteStore, work: list[tuple[Message, Reply]], in_flight: int) -> tuple[float, float]:
    """Throughput, and the loop's worst stall (ms) measured by a 1 ms ticker running alongside."""
    async def main() -> tuple[float, float]:
        stall = await _with_ticker(_drain(work, in_flight, lambda m, r: store.alog_turn(m, r)))
        return stall

    started = time.perf_counter()
    stall = asyncio.run(main())
    return len(work) / (time.perf_counter() - started), stall


def run_blocking_in_loop(store, work: list[tuple[Message, Reply]]) -> tuple[float, float]:
    async def write(m, r):
        return store.log_turn(m, r)  # what a connector would do without an async API

    started = time.perf_counter()
    stall = asyncio.run(_with_ticker(_drain(work, 16, write)))
    return len(work) / (time.perf_counter() - started), stall


async def _drain(work, in_flight: int, write) -> None:
    for start in range(0, len(work), in_flight):
        await asyncio.gather(*(write(m, r) for m, r in work[start:start + in_flight]))


async def _with_ticker(job) -> float:
    worst = 0.0
    done = False

    async def ticker():
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, (now - last) * 1000 - 1.0)
            last = now

    task = asyncio.create_task(ticker())
    await job
    done = True
    await task
    return worst


def load_texts(data: Path) -> list[str]:
    path = data / "clinc150" / "data_full.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: pass --data pointing at the benchmark data folder (benchmarks/data holds CLINC150 and StackFAQ)")
    return [text for text, _ in json.loads(path.read_text())["val"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--quick", action="store_true", help="fewer writes and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n = 300 if args.quick else 2000
    repeats = args.repeats or (1 if args.quick else 5)
    texts = load_texts(args.data)
    work = turns(texts, n)

    cases = {
        "baseline: first-release store, 1 thread": lambda d: run_threads(FirstReleaseStore(d / "a.db"), work, 1),
        "baseline: first-release store, 8 threads": lambda d: run_threads(FirstReleaseStore(d / "a.db"), work, 8),
        "SQLiteStore.log_turn, 1 thread": lambda d: _closing(d, lambda s: run_threads(s, work, 1)),
        "SQLiteStore.log_turn, 8 threads": lambda d: _closing(d, lambda s: run_threads(s, work, 8)),
        "SQLiteStore.log_turn, 8 threads, FULL": lambda d: _closing(d, lambda s: run_threads(s, work, 8), "FULL"),
        "baseline: first-release store, 8 threads, FULL":
            lambda d: run_threads(FirstReleaseStore(d / "a.db", "FULL"), work, 8),
        "SQLiteStore.alog_turn, 16 in flight": lambda d: _closing(d, lambda s: run_async(s, work, 16)),
        "SQLiteStore.alog_turn, 64 in flight": lambda d: _closing(d, lambda s: run_async(s, work, 64)),
        "SQLiteStore.alog_turn, 64 in flight, FULL": lambda d: _closing(d, lambda s: run_async(s, work, 64), "FULL"),
        "baseline store called inside the loop, 16": lambda d: run_blocking_in_loop(FirstReleaseStore(d / "a.db"), work),
        "baseline store called inside the loop, 16, FULL":
            lambda d: run_blocking_in_loop(FirstReleaseStore(d / "a.db", "FULL"), work),
    }
    results: dict[str, dict] = {}
    for name, case in cases.items():
        rates, stalls = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                out = case(Path(tmp))
            rate, stall = out if isinstance(out, tuple) else (out, None)
            rates.append(rate)
            if stall is not None:
                stalls.append(stall)
        results[name] = {"writes_per_s": statistics.median(rates), "runs": rates,
                         "worst_loop_stall_ms": statistics.median(stalls) if stalls else None}
    base = results["baseline: first-release store, 1 thread"]["writes_per_s"]
    print(f"{n} turns per run, median of {repeats} runs; ratio vs the first-release store on 1 thread\n")
    print(f"| case | writes/s | ratio | worst event-loop stall (ms) |\n|---|---|---|---|")
    for name, r in results.items():
        stall = "" if r["worst_loop_stall_ms"] is None else f"{r['worst_loop_stall_ms']:.1f}"
        print(f"| {name} | {r['writes_per_s']:.0f} | {r['writes_per_s'] / base:.2f}x | {stall} |")
    out_dir = REPO / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "store_writes.json").write_text(json.dumps({
        "turns": n, "repeats": repeats, "machine": platform.platform(), "results": results}, indent=2))
    return 0


def _closing(directory: Path, run, synchronous: str = "NORMAL"):
    store = SQLiteStore(directory / "b.db", synchronous=synchronous)
    try:
        return run(store)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
