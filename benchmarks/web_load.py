"""Loopback load test of the web connector: messages/s and p50/p99 latency at 1, 16 and 64 clients.

    python benchmarks/web_load.py [--data benchmarks/data] [--bot examples/helpdesk] [--quick]
                                  [--workers N] [--threads T] [--client raw|aiohttp]

The server runs in a child process, served as `smallbot serve --workers N` serves it (`create_app` on
127.0.0.1, rate limit lifted for the test), so the load generator does not share its interpreter. Each
client is closed-loop: it sends its next message when the previous reply arrives, over REST
(`POST /api/messages`, one keep-alive connection per client) or one WebSocket per client (`/api/ws`).
Messages are CLINC150 test utterances (mostly not about the helpdesk, so nearly all of them take the full
encoder path rather than the FAQ fast path): the expensive case.

The REST load generator is a raw HTTP/1.1 keep-alive client (request bytes built before the clock starts,
replies decoded after it stops), so it takes little of the cores the server needs; `--client aiohttp`
uses aiohttp's client instead (WebSocket mode always does). Per level the CPU time of the generator
process and of the server processes is recorded (as cores: CPU seconds per wall second), and so is
"msgs per server CPU-s": on a shared machine the server gets only its share of the cores, and messages per
CPU-second of the server is the figure that contention disturbs least.

Baselines, same run: the batched-encode floor ("floor": the bot's encoder over the same messages in
batches of 32, longest first, before and after the levels of each repeat); `Bot.handle()` called
in-process, one message at a time, with no HTTP at all ("direct"); and, per level, the bot's own time per
reply as the server measured it (`timings_ms.total`, "bot p50"), so p50 minus bot p50 is what the server,
queueing and HTTP add on top of the model work. Each level is bounded by a message count and a time
limit, whichever comes first.

WARM_UP: the encoder's first call at each new input length is slow (up to a second on this machine), so
both the direct baseline and the server get one untimed pass over all the messages before any timing.
Results: a table on stdout and benchmarks/out/web_load.json (with the load average at start and end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


def load_messages(data: Path, count: int, seed: int = 0) -> list[str]:
    path = data / "clinc150" / "data_full.json"
    if not path.exists():
        sys.exit(f"error: {path} not found; pass --data pointing at the benchmark data folder (benchmarks/data holds CLINC150 and StackFAQ)")
    texts = [text for text, _ in json.loads(path.read_text())["test"]]
    random.Random(seed).shuffle(texts)
    return texts[:count]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- the server child -------------------------------------------------------------------------------------

def serve(bot_dir: Path, port_file: Path, workers: int, threads: int) -> None:
    """Child process: serve the bot as `smallbot serve --workers N` does (rate limit lifted for the test) on
    a free loopback port, and write the port to `port_file` once every worker listens."""
    import re

    from smallbot.connectors.web.workers import serve as serve_workers

    def announce(line: str) -> None:
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if match:
            port_file.write_text(match.group(1))

    serve_workers(bot_dir, workers=workers, threads=threads or None, host="127.0.0.1", port=0,
                  report=lambda _: None, announce=announce,
                  overrides={"rate_limit_per_minute": 1e9, "rate_limit_burst": 1_000_000})


def start_server(bot_dir: Path, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port_file = OUT / f"web_load_port_{os.getpid()}"
    port_file.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, __file__, "--_serve", str(bot_dir), str(port_file), str(workers),
                              str(threads)])
    deadline = time.monotonic() + 600
    while not port_file.exists() or not port_file.read_text():
        if child.poll() is not None or time.monotonic() > deadline:
            sys.exit("error: the server child did not start")
        time.sleep(0.2)
    url = f"http://127.0.0.1:{port_file.read_text()}"
    port_file.unlink()
    return child, url


# -- the load generator -----------------------------------------------------------------------------------
#
# REST load uses a raw HTTP/1.1 keep-alive client (an asyncio.Protocol per connection, request bytes built
# before the clock starts, responses kept as bytes and decoded after the level): it sends what a browser
# would, with a fraction of aiohttp's client-side CPU, so the generator takes less of the 2 cores the
# server needs. Its own CPU time per level is recorded ("client_cpu_s", process CPU over wall).


class _HttpConnection(asyncio.Protocol):
    """One keep-alive connection: `await request(raw)` -> (status, body bytes)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("server closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _post(host: str, path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system, all threads) of this process, or of `pid` read from /proc."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_level(url: str, mode: str, clients: int, messages: list[str], max_seconds: float,
                    client_kind: str = "raw", server_pids: tuple[int, ...] = ()) -> dict:
    latencies: list[float] = []
    bodies: list[bytes | dict] = []  # decoded after the clock stops (the bot's own time per reply)
    errors = 0
    queue = list(reversed(messages))
    host = url.split("//", 1)[1]
    # the server issues conversation ids, so each message starts its own conversation (none is a follow-up)
    conversations = [f"load-{mode}-{clients}-{index:04d}" for index in range(clients)]
    # request bytes are built before the clock starts: the generator's per-message work is a write and a read
    requests = {(c, t): _post(host, "/api/messages", {"text": t})
                for c in conversations for t in messages} if mode == "rest" and client_kind == "raw" else {}
    loop = asyncio.get_running_loop()

    async def raw_client(index: int) -> None:
        nonlocal errors
        address, port = host.rsplit(":", 1)
        _, conn = await loop.create_connection(_HttpConnection, address, int(port))
        try:
            while queue and time.perf_counter() < deadline:
                text = queue.pop()
                started = time.perf_counter()
                status, body = await conn.request(requests[(conversations[index], text)])
                latencies.append(time.perf_counter() - started)
                bodies.append(body)
                errors += 0 if status == 200 else 1
        finally:
            conn.transport.close()

    async def aiohttp_client(index: int, session) -> None:
        nonlocal errors
        ws = None
        if mode == "ws":
            ws = await session.ws_connect(url + "/api/ws")
            await ws.receive_json()  # "ready"
        try:
            while queue and time.perf_counter() < deadline:
                text = queue.pop()
                started = time.perf_counter()
                if ws is None:
                    async with session.post(url + "/api/messages", json={"text": text}) as r:
                        ok = r.status == 200
                        reply = await r.json()
                else:
                    await ws.send_json({"text": text})
                    while (frame := await ws.receive_json())["type"] == "chunk":
                        pass
                    ok = frame["type"] == "reply"
                    reply = frame.get("reply", {})
                latencies.append(time.perf_counter() - started)
                bodies.append(reply)
                errors += 0 if ok else 1
        finally:
            if ws is not None:
                await ws.close()

    cpu0, server0 = _cpu_seconds(), sum(_cpu_seconds(pid) for pid in server_pids)
    started = time.perf_counter()
    deadline = started + max_seconds
    if mode == "rest" and client_kind == "raw":
        await asyncio.gather(*(raw_client(i) for i in range(clients)))
    else:
        import aiohttp

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients + 4)) as session:
            await asyncio.gather(*(aiohttp_client(i, session) for i in range(clients)))
    elapsed = time.perf_counter() - started
    client_cpu = _cpu_seconds() - cpu0
    server_cpu = sum(_cpu_seconds(pid) for pid in server_pids) - server0
    bot_ms = [(json.loads(b) if isinstance(b, bytes) else b).get("timings_ms", {}).get("total", float("nan"))
              for b in bodies]
    done = len(latencies)
    return {"mode": mode, "clients": clients, "client": client_kind if mode == "rest" else "aiohttp",
            "messages": done, "errors": errors, "seconds": elapsed,
            "msgs_per_s": done / elapsed if elapsed else 0.0,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "bot_p50_ms": percentile(bot_ms, 50), "hit_time_limit": done < len(messages),
            "client_cpu_s": client_cpu, "client_cores": client_cpu / elapsed if elapsed else 0.0,
            "server_cpu_s": server_cpu, "server_cores": server_cpu / elapsed if elapsed else 0.0,
            "msgs_per_cpu_s": done / server_cpu if server_cpu else float("nan")}


class DirectBaseline:
    """`Bot.handle` in-process, sequential: what the model work costs with no server around it."""

    def __init__(self, bot_dir: Path, messages: list[str]):
        from smallbot.runtime.bot import Bot

        self.bot = Bot.load(bot_dir, train=True, with_store=True)
        self.messages = messages
        # one worker thread, as `Bot.ahandle` uses in the server: calls from this process's main thread
        # measured several times slower here (two torch threads on busy cores; RESULTS.md, "Threads")
        self.pool = ThreadPoolExecutor(1)
        self.run("warm-up")  # untimed pass: see WARM_UP in the module docstring

    def run(self, tag: str) -> dict:
        from smallbot.types import Message

        latencies = []
        cpu0, started = _cpu_seconds(), time.perf_counter()
        for i, text in enumerate(self.messages):
            t0 = time.perf_counter()
            self.pool.submit(self.bot.handle, Message(f"direct-{tag}-{i:06d}", text)).result()
            latencies.append(time.perf_counter() - t0)
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu0
        return {"mode": "direct", "clients": 1, "messages": len(self.messages), "errors": 0, "seconds": elapsed,
                "msgs_per_s": len(self.messages) / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000, "bot_p50_ms": percentile(latencies, 50) * 1000,
                "hit_time_limit": False, "server_cpu_s": cpu, "server_cores": cpu / elapsed,
                "msgs_per_cpu_s": len(self.messages) / cpu}

    def floor(self, tag: str) -> dict:
        """The batched-encode floor: the bot's encoder over the same messages in batches of 32 (longest
        first), on the worker thread; what a server that did nothing but encode could reach."""
        cpu0, started = _cpu_seconds(), time.perf_counter()
        self.pool.submit(self.bot.encoder.encode, self.messages, 32).result()
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu0
        return {"mode": "floor", "clients": 0, "messages": len(self.messages), "errors": 0, "seconds": elapsed,
                "msgs_per_s": len(self.messages) / elapsed, "p50_ms": float("nan"), "p99_ms": float("nan"),
                "bot_p50_ms": float("nan"), "hit_time_limit": False, "tag": tag, "server_cpu_s": cpu,
                "server_cores": cpu / elapsed, "msgs_per_cpu_s": len(self.messages) / cpu}

    def close(self) -> None:
        self.pool.shutdown()
        self.bot.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data",
                        help="benchmark data folder (CLINC150 supplies the message texts)")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk", help="bot project to serve")
    parser.add_argument("--quick", action="store_true", help="fewer messages per level (smoke run)")
    parser.add_argument("--messages", type=int, default=None, help="messages per level (default 320, quick 64)")
    parser.add_argument("--max-seconds", type=float, default=90.0, help="time limit per level")
    parser.add_argument("--repeats", type=int, default=None, help="runs per level, median reported (default 3, quick 1)")
    parser.add_argument("--levels", default="1,16,64", help="concurrent clients per level")
    parser.add_argument("--modes", default="rest,ws", help="rest, ws or both")
    parser.add_argument("--workers", type=int, default=1, help="server processes (smallbot serve --workers)")
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw",
                        help="REST load generator: raw keep-alive HTTP/1.1 (cheap) or aiohttp's client")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per server worker (default: models.threads, else cores / workers)")
    parser.add_argument("--_serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._serve:
        serve(Path(args._serve[0]), Path(args._serve[1]), int(args._serve[2]), int(args._serve[3]))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    count = args.messages or (64 if args.quick else 320)
    repeats = args.repeats or (1 if args.quick else 3)
    levels = [int(x) for x in args.levels.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    messages = load_messages(args.data, count)

    load_start = os.getloadavg()[0]
    runs: list[dict] = []
    direct = DirectBaseline(args.bot, messages)
    child, url = start_server(args.bot, args.workers, args.threads)
    pids = server_pids(child.pid)
    try:
        asyncio.run(run_level(url, "rest", 1, messages, 600, args.client))  # warm-up, not recorded: see WARM_UP
        for repeat in range(repeats):
            # the baseline is re-measured next to the levels in every repeat: the machine is shared
            runs.append({**direct.run(str(repeat)), "repeat": repeat})
            runs.append({**direct.floor("before"), "repeat": repeat})
            for mode in modes:
                for clients in levels:
                    result = asyncio.run(run_level(url, mode, clients, messages, args.max_seconds, args.client, pids))
                    runs.append({**result, "repeat": repeat})
                    print(f"  repeat {repeat} {mode:>4} x{clients:<3} {result['msgs_per_s']:7.1f} msg/s "
                          f"p50 {result['p50_ms']:7.1f} ms p99 {result['p99_ms']:7.1f} ms, CPU cores: client "
                          f"{result['client_cores']:.2f} server {result['server_cores']:.2f}", file=sys.stderr)
            runs.append({**direct.floor("after"), "repeat": repeat})
    finally:
        child.terminate()
        child.wait(30)
        direct.close()

    summary = summarise(runs)
    base = next(s for s in summary if s["mode"] == "direct")
    floor = next(s for s in summary if s["mode"] == "floor")
    print(f"\nweb load, {count} messages per level, median of {repeats} run(s), {args.workers} server worker(s) "
          f"({args.threads or 'default'} torch threads each), "
          f"{args.client} REST client; {os.cpu_count()} CPU cores, load average {load_start:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end; {platform.python_implementation()} {platform.python_version()}")
    print("| mode | clients | msgs/s | p50 ms | p99 ms | bot p50 ms | errors | vs direct | vs floor "
          "| client CPU cores | server CPU cores | msgs per server CPU-s | vs floor per CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summary:
        print(f"| {s['mode']} | {s['clients']} | {s['msgs_per_s']:.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
              f"{s['bot_p50_ms']:.1f} | {s['errors']} | {s['msgs_per_s'] / base['msgs_per_s']:.2f}x | "
              f"{s['msgs_per_s'] / floor['msgs_per_s']:.2f}x | {s['client_cores']:.2f} | {s['server_cores']:.2f} | "
              f"{s['msgs_per_cpu_s']:.0f} | {s['msgs_per_cpu_s'] / floor['msgs_per_cpu_s']:.2f}x |")
    (OUT / "web_load.json").write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "messages_per_level": count,
        "repeats": repeats, "cpu_count": os.cpu_count(), "workers": args.workers, "threads": args.threads,
        "client": args.client, "load_avg_start": load_start, "load_avg_end": os.getloadavg()[0],
        "floor_msgs_per_s": floor["msgs_per_s"], "summary": summary, "runs": runs}, indent=2))
    print(f"\nwrote {OUT / 'web_load.json'}")
    return 0


def server_pids(pid: int) -> tuple[int, ...]:
    """The server child and its worker processes (their CPU time is the server's)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(x) for x in children.read_text().split()] if children.exists() else []
    return (pid, *found)


def summarise(runs: list[dict]) -> list[dict]:
    order = {"floor": 0, "direct": 1, "rest": 2, "ws": 3}
    keys = sorted({(r["mode"], r["clients"]) for r in runs}, key=lambda k: (order.get(k[0], 9), k[1]))
    out = []
    for mode, clients in keys:
        group = [r for r in runs if (r["mode"], r["clients"]) == (mode, clients)]
        out.append({"mode": mode, "clients": clients, "runs": len(group),
                    "messages": group[0]["messages"], "errors": sum(r["errors"] for r in group),
                    **{k: statistics.median(r[k] for r in group)
                       for k in ("msgs_per_s", "p50_ms", "p99_ms", "bot_p50_ms")},
                    **{k: statistics.median(r.get(k, float("nan")) for r in group)
                       for k in ("client_cores", "server_cores", "msgs_per_cpu_s")},
                    "hit_time_limit": any(r["hit_time_limit"] for r in group)})
    return out


if __name__ == "__main__":
    sys.exit(main())
