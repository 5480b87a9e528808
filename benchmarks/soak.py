"""Soak test of `smallbot serve`: mixed REST and WebSocket traffic with bad inputs sprinkled in, for minutes.

    python benchmarks/soak.py --bot <trained bot dir> [--minutes 30] [--clients 8] [--workers 2]

The trained bot is copied (build included) and served with `smallbot serve COPY --workers N --port 0`, as a user
would. `--clients` REST clients and as many WebSocket clients ask the speed suite's serving messages in new
conversations and follow-ups, and one in ten requests is hostile: a lone surrogate, JSON nested 5,000 deep, a
guessed conversation id, a body that is not JSON. Every minute it records, over all server processes: resident
memory (RSS), open file descriptors, the p99 latency of good replies that minute, and how many replies were
acknowledged (200) and how many bad requests were refused with a JSON 4xx. At the end it counts the turns in the
store: every acknowledged message must be there.

Slack traffic is not part of it yet (it needs the Web API stand-in running next to the server).
Linux only (/proc). Results: one line per minute on stdout and benchmarks/out/soak.json. Run it on a quiet
machine for figures worth recording.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentile, save  # noqa: E402
from speed import SERVE_MESSAGES, _copy_bot  # noqa: E402

BAD_BODIES = [
    b'{"text": "hi \\ud800 there"}',
    b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"text": "1", "conversation_id": "aaaaaaaa"}',
    b"{not json",
]


def _processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _fds(pids: list[int]) -> int:
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.acknowledged = 0
        self.refused = 0
        self.broken = 0  # a good message answered with an error, or a bad one not refused with a JSON 4xx

    def minute(self) -> dict:
        out = {"replies": len(self.latencies), "p99_ms": round(1000 * percentile(self.latencies, 99), 1)
               if self.latencies else None, "refused": self.refused, "broken": self.broken}
        self.latencies, self.refused, self.broken = [], 0, 0
        return out


async def rest_client(url: str, deadline: float, tally: Tally, rng: random.Random) -> None:
    async with aiohttp.ClientSession() as session:
        conversation = None
        while time.monotonic() < deadline:
            if rng.random() < 0.1:
                async with session.post(url + "/api/messages", data=rng.choice(BAD_BODIES),
                                        headers={"Content-Type": "application/json"}) as response:
                    ok = 400 <= response.status < 500 and "error" in await response.json()
                    tally.refused += ok
                    tally.broken += not ok
                continue
            body = {"text": rng.choice(SERVE_MESSAGES)}
            if conversation and rng.random() < 0.5:
                body["conversation_id"] = conversation
            started = time.perf_counter()
            async with session.post(url + "/api/messages", json=body) as response:
                reply = await response.json()
            if response.status == 200 and reply.get("reason") != "error":
                tally.latencies.append(time.perf_counter() - started)
                tally.acknowledged += 1
                conversation = reply["conversation_id"]
            elif response.status != 429:
                tally.broken += 1


async def ws_client(url: str, deadline: float, tally: Tally, rng: random.Random) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url + "/api/ws") as ws:
            await ws.receive_json()
            while time.monotonic() < deadline:
                bad = rng.random() < 0.1
                started = time.perf_counter()
                if bad:
                    await ws.send_str(rng.choice(BAD_BODIES).decode("utf-8", "replace"))
                else:
                    await ws.send_json({"type": "message", "text": rng.choice(SERVE_MESSAGES)})
                while (frame := await ws.receive_json())["type"] == "chunk":
                    pass
                if bad:
                    tally.refused += frame["type"] == "error"
                    tally.broken += frame["type"] != "error"
                elif frame["type"] == "reply" and frame["reply"].get("reason") != "error":
                    tally.latencies.append(time.perf_counter() - started)
                    tally.acknowledged += 1
                elif frame.get("error") != "rate_limited":
                    tally.broken += 1


async def soak(url: str, pid: int, minutes: float, clients: int, seed: int) -> list[dict]:
    tally = Tally()
    deadline = time.monotonic() + 60 * minutes
    rng = random.Random(seed)
    tasks = [asyncio.create_task(rest_client(url, deadline, tally, random.Random(rng.random()))) for _ in range(clients)]
    tasks += [asyncio.create_task(ws_client(url, deadline, tally, random.Random(rng.random()))) for _ in range(clients)]
    rows = []
    started = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
        pids = _processes(pid)
        row = {"minute": round((time.monotonic() - started) / 60, 2), "rss_mb": round(_rss_mb(pids), 1),
               "fds": _fds(pids), **tally.minute(), "acknowledged_so_far": tally.acknowledged}
        print(json.dumps(row), flush=True)
        rows.append(row)
    await asyncio.gather(*tasks, return_exceptions=True)
    rows.append({"acknowledged": tally.acknowledged})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bot", type=Path, required=True, help="a trained bot directory (copied, never changed)")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8, help="REST clients; as many WebSocket clients again")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = _copy_bot(args.bot, Path(tmp), with_build=True)
        with open(root / "bot.yml", "a") as config:  # every client is 127.0.0.1: lift the per-address limit
            config.write("\nweb:\n  rate_limit_per_minute: 1000000\n  rate_limit_burst: 100000\n")
        process = subprocess.Popen([sys.executable, "-m", "smallbot", "serve", str(root), "--port", "0",
                                    "--workers", args.workers], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        try:
            for line in process.stderr:
                match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
                if match:
                    break
            else:
                raise SystemExit("serve exited before listening")
            # keep reading the server's log (one access line per request): a full pipe would stall the server
            errors: list[str] = []
            drain = threading.Thread(target=lambda: errors.extend(
                line for line in process.stderr if not line.startswith("INFO smallbot.access")), daemon=True)
            drain.start()
            rows = asyncio.run(soak(match.group(1), process.pid, args.minutes, args.clients, args.seed))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        with sqlite3.connect(root / ".smallbot" / "conversations.sqlite3") as db:
            stored = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    acknowledged = rows[-1]["acknowledged"]
    summary = {"minutes": args.minutes, "clients": args.clients, "workers": args.workers, "acknowledged": acknowledged,
               "stored": stored, "missing": acknowledged - stored, "server_errors_logged": len(errors),
               "per_minute": rows[:-1]}
    print(json.dumps({k: v for k, v in summary.items() if k != "per_minute"}))
    save("soak", summary)
    return 0 if stored >= acknowledged else 1


if __name__ == "__main__":
    sys.exit(main())
