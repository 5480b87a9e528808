"""Memory of `smallbot serve --workers N`: peak RSS and PSS of every worker process, and their totals.

    python benchmarks/serve_memory.py --bot <trained bot dir> [--workers 1,2] [--generator off,on]

For each combination the trained bot is copied (build included), `generator: {enabled: true, load: startup}`
appended for "on" (not part of the build hash: the copied build stays valid), and `smallbot serve COPY --workers N
--port 0` started as a user would. Then the speed suite's serving messages (FAQ, small talk, out of scope,
handoff) are sent over fresh connections, so the kernel spreads them over the workers, and each process's
/proc figures are read while it still runs:

  peak RSS   VmHWM: the most resident memory the process ever had (what speed.py's rss part reports for one
             process); summed over workers it counts pages the processes share (libraries) once per process
  PSS        Pss from smaps_rollup: resident memory with each shared page divided among its sharers; summed over
             workers it is the memory the server really holds (at the moment of reading, not the peak)

Linux only (/proc). Results: a table on stdout and benchmarks/out/serve_memory.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402
from speed import SERVE_MESSAGES, _copy_bot  # noqa: E402

ROUNDS = 6  # each message is sent this many times, each time on a new connection


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise KeyError("Pss")


def _post(port: int, text: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:  # no conversation_id: each message starts a conversation with an id the server issues
        conn.request("POST", "/api/messages", json.dumps({"text": text}),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {body}")
        return body["kind"]
    finally:
        conn.close()


def measure(bot: Path, workers: int, generator: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = _copy_bot(bot, Path(tmp), with_build=True)
        with open(root / "bot.yml", "a") as f:
            f.write("\nweb:\n  rate_limit_per_minute: 100000\n  rate_limit_burst: 1000\n")
            if generator:
                f.write("generator:\n  enabled: true\n  load: startup\n")
        process = subprocess.Popen([sys.executable, "-m", "smallbot", "serve", str(root), "--port", "0",
                                    "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        try:
            port = None
            for line in process.stderr:
                match = re.search(r"Running on http://127\.0\.0\.1:(\d+)", line)
                if match:
                    port = int(match.group(1))
                    break
            if port is None:
                raise RuntimeError(f"serve exited with status {process.wait()} before listening")
            pids = [process.pid, *(int(x) for x in Path(f"/proc/{process.pid}/task/{process.pid}/children")
                                   .read_text().split())]
            kinds: dict[str, int] = {}
            for round_ in range(ROUNDS):
                for i, text in enumerate(SERVE_MESSAGES):
                    kind = _post(port, text)
                    kinds[kind] = kinds.get(kind, 0) + 1
            time.sleep(0.5)
            per_process = [{"pid": pid, "peak_rss_mb": _status_kb(pid, "VmHWM") / 1024.0,
                            "rss_mb": _status_kb(pid, "VmRSS") / 1024.0, "pss_mb": _pss_kb(pid) / 1024.0}
                           for pid in pids]
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stderr.close()
    return {"workers": workers, "generator": generator, "processes": per_process, "reply_kinds": kinds,
            "total_peak_rss_mb": sum(p["peak_rss_mb"] for p in per_process),
            "max_peak_rss_mb": max(p["peak_rss_mb"] for p in per_process),
            "total_pss_mb": sum(p["pss_mb"] for p in per_process)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bot", type=Path, required=True, help="a trained bot directory (smallbot train DIR)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--generator", default="off,on")
    args = parser.parse_args()
    results = []
    print("| workers | generator | peak RSS per process MB | sum of peak RSS MB | PSS total MB | reply kinds |")
    print("|---|---|---|---|---|---|")
    for generator in [g == "on" for g in args.generator.split(",")]:
        for workers in [int(w) for w in args.workers.split(",")]:
            result = measure(args.bot, workers, generator)
            results.append(result)
            peaks = ", ".join(f"{p['peak_rss_mb']:.0f}" for p in result["processes"])
            print(f"| {workers} | {'on' if generator else 'off'} | {peaks} | {result['total_peak_rss_mb']:.0f} | "
                  f"{result['total_pss_mb']:.0f} | {result['reply_kinds']} |", flush=True)
    print(f"written {save('serve_memory', {'results': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
