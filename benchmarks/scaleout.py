"""Replies/s through nginx with 1 and with 2 replica hosts, in the same run, on this one machine.

    sudo .venv/bin/python benchmarks/scaleout.py [--bot examples/helpdesk] [--messages 400] [--concurrency 16]
                                                 [--seconds 60] [--repeats 2] [--workers 1] [--quick]

The hosts are Linux network namespaces (tests/support/netns.py, the same harness as the multi-host test):
a client host, an nginx balancer host with deploy/nginx/nginx.conf as shipped, a PostgreSQL host (fsync on,
as users run it) and two replica hosts running `smallbot serve` with the PostgreSQL store. Needs root,
iproute2, nginx and PostgreSQL's server (Debian packages). Nothing leaves the benchmark's namespaces.

Per configuration the balancer is pointed at r1 alone, or at r1 and r2 (`nginx -s reload`), the replicas get
an untimed warm-up pass over every message, then a closed loop of `--concurrency` clients sends `--messages`
messages (each starting a conversation, so each is logged in PostgreSQL), bounded by `--seconds`. The two
configurations alternate `--repeats` times in one run, so both see the same machine.

Both replica hosts share this machine's cores, so two hosts here show that the balancer and the shared store
cost nothing (no regression), not scaling. On separate machines each host brings its own cores: the
per-host figure (1 replica) times N is what N hosts would give while PostgreSQL and nginx keep up; the
"store turns/s" line (turns PostgreSQL committed per second during the 2-host runs) shows how far that is
from the store's side.

Messages are CLINC150 test utterances (benchmarks/data): mostly off-topic for the helpdesk bot, so nearly
all take the full encoder path, the expensive case. Output: a table on stdout and benchmarks/out/scaleout.json.
Timings need a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from tests.support import netns  # noqa: E402
from tests.support.multihost import (  # noqa: E402
    PORT,
    STORE_SETTINGS,
    Client,
    missing,
    reload_balancer,
    start_balancer,
    start_database,
    start_replicas,
)
from web_load import load_messages, percentile  # noqa: E402

OUT = REPO / "benchmarks" / "out"
SUBNET = "10.78.0"


def prepare_bot(source: Path, workdir: Path) -> Path:
    """A trained copy of `source` on the shared store, with the per-client rate limit out of the way (every
    benchmark client comes from one address)."""
    root = workdir / "bot"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    text = (root / "bot.yml").read_text()
    for section in ("store:", "web:"):
        if f"\n{section}" in f"\n{text}":
            sys.exit(f"error: {source}/bot.yml already has a {section} section; pass a bot without one")
    with open(root / "bot.yml", "a") as f:
        f.write("\n" + STORE_SETTINGS.read_text())
        f.write(f"web:\n  rate_limit_per_minute: 1000000\n  rate_limit_burst: 100000\n"
                f"  trusted_proxies: [{SUBNET}.0/24]\n  reload_seconds: 0\n")
    trained = subprocess.run([sys.executable, "-m", "smallbot", "train", str(root)], capture_output=True, text=True,
                             timeout=1800)
    if trained.returncode != 0:
        sys.exit(f"error: training {root} failed:\n{trained.stderr}")
    return root


def measure(client: Client, url: str, messages: list[str], concurrency: int, seconds: float) -> dict:
    result = client.call(op="load", url=url, texts=messages, count=len(messages), concurrency=concurrency,
                         seconds=seconds, seconds_to_answer=seconds + 60)
    latencies = [a["latency_ms"] for a in result["acked"]]
    replicas = sorted({a["replica"].split(",")[-1].strip() for a in result["acked"]})
    return {
        "replies": len(latencies),
        "failed": len(result["failed"]),
        "seconds": result["seconds"],
        "replies_per_s": len(latencies) / result["seconds"] if result["seconds"] > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "replicas": replicas,
    }


def stored_turns(root: Path, local_url: str) -> int:
    """Turns in the shared store, read through the store's own API (the Unix socket of the database host)."""
    from smallbot.project.loader import load_project
    from smallbot.store import open_store

    os.environ["DATABASE_URL"] = local_url
    store = open_store(root, load_project(root).config.store)
    try:
        return len(store.turns())
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--messages", type=int, default=400, help="messages per measured pass")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="time bound of each measured pass")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of 1 and 2 replica hosts")
    parser.add_argument("--workers", type=int, default=1, help="`smallbot serve --workers` on each replica host")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 24 messages, 4 clients, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.concurrency, args.repeats, args.seconds = 24, 4, 1, 30.0
    why = missing()
    if why:
        sys.exit(f"error: {why}")
    messages = load_messages(args.data, args.messages)
    workdir = Path(tempfile.mkdtemp(prefix="smallbot-scaleout-"))
    os.chmod(workdir, 0o755)
    postgres = None
    runs: list[dict] = []
    load_start = os.getloadavg()
    try:
        root = prepare_bot(args.bot, workdir)
        with netns.Network(f"sbso{os.getpid()}", SUBNET) as network:
            client_host, balancer, database = (network.add_host(n) for n in ("client", "lb", "db"))
            r1, r2 = network.add_host("r1"), network.add_host("r2")
            client = Client(client_host)
            postgres, replicas_url, local_url = start_database(database, fsync=True)
            start_replicas([r1, r2], root, replicas_url, workers=args.workers)
            for replica in (r1, r2):  # untimed: the encoder's first call at each input length is slow
                measure(client, f"http://{replica.address}:{PORT}/api/messages", messages, args.concurrency,
                        args.seconds)
            conf = start_balancer(balancer, workdir, [r1])
            lb = f"http://{balancer.address}/api/messages"
            client.wait_healthy(f"http://{balancer.address}")
            for repeat in range(args.repeats):
                for hosts in ([r1], [r1, r2]):
                    reload_balancer(balancer, conf, hosts)
                    before = stored_turns(root, local_url)
                    run = measure(client, lb, messages, args.concurrency, args.seconds)
                    run.update(repeat=repeat, replica_hosts=len(hosts),
                               store_turns_per_s=(stored_turns(root, local_url) - before) / run["seconds"])
                    runs.append(run)
                    print(f"{len(hosts)} replica host(s), repeat {repeat}: {run['replies_per_s']:.1f} replies/s, "
                          f"p50 {run['p50_ms']:.0f} ms, p99 {run['p99_ms']:.0f} ms, {run['failed']} failed, "
                          f"answered by {', '.join(run['replicas'])}", flush=True)
            client.send(op="quit")
            if postgres is not None:
                postgres.stop()
                postgres = None
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {}
    for hosts in (1, 2):
        mine = [r for r in runs if r["replica_hosts"] == hosts]
        summary[hosts] = {
            "replies_per_s": statistics.median(r["replies_per_s"] for r in mine),
            "p50_ms": statistics.median(r["p50_ms"] for r in mine),
            "p99_ms": statistics.median(r["p99_ms"] for r in mine),
            "store_turns_per_s": statistics.median(r["store_turns_per_s"] for r in mine),
        }
    print("\nreplica hosts | replies/s (median) | p50 ms | p99 ms | store turns/s")
    for hosts, s in summary.items():
        print(f"{hosts:>13} | {s['replies_per_s']:>18.1f} | {s['p50_ms']:>6.0f} | {s['p99_ms']:>6.0f} | "
              f"{s['store_turns_per_s']:>13.1f}")
    per_host = summary[1]["replies_per_s"]
    print(f"\non paper, N hosts with their own cores: about N x {per_host:.1f} replies/s while PostgreSQL and "
          "nginx keep up (both replica hosts here share one machine's cores)")
    OUT.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "runs": runs,
        "summary": summary,
    }
    (OUT / "scaleout.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
