"""The speed suite: every serving cost of the example bot against its floor, same run, one command.

    python benchmarks/speed.py [--data benchmarks/data] [--quick] [--parts train,latency,floor,web,startup,rss]

Parts (each a fresh process, so one part's caches do not flatter the next; the existing scripts are run
as they are and their JSON in benchmarks/out/ is read back):
  train    `smallbot train` of a fresh copy of examples/helpdesk (encoder fine-tuning included), seconds
  latency  benchmarks/latency.py: in-process `Bot.handle` p50/p99 vs a bare `Encoder.encode([text])`
  floor    the batched-encode floor: sentences/s of the bot's encoder, `Encoder.encode` in batches of 32,
           on the 320 CLINC150 messages the web load sends (a superset in --quick), 5 runs, measured both
           before and after the web load (the machine may be shared: the ratio uses the median of both)
  web      benchmarks/web_load.py (REST, 1/16/64 closed-loop clients against `create_app` in a child
           process, so the micro-batcher serves concurrent requests); msg/s as a ratio of the floor
  startup  benchmarks/startup.py: `smallbot chat` in a pty to the first answer vs `import torch, transformers`
  rss      peak RSS of a process serving the bot (FAQ, intent and small-talk messages) without and with the
           generator loaded (`generator.enabled: true`, `load: startup`)
Targets: FAQ p50 <= 1.2x bare encoder and p99 <= 20 ms; 64 web clients >= 400 msg/s and >= 0.6 of the
floor with p99 <= 250 ms; cold start <= 3 s; peak RSS with the generator <= 1.2 GB.
Results: a table on stdout and benchmarks/out/speed.json (load averages recorded: the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, REPO, median, save  # noqa: E402

HERE = Path(__file__).resolve().parent
PARTS = ("train", "latency", "floor", "web", "startup", "rss")
SERVE_MESSAGES = ["how do I reset my password?", "can I get a refund for last month?", "hello there",
                  "what's your favourite movie?", "tell me something fun about yourself", "talk to a human"]


def _python(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


def _child_json(*args: str) -> dict:
    """Run this script in child mode; the child's last stdout line is its JSON result."""
    return json.loads(_python(__file__, *args).stdout.strip().splitlines()[-1])


def _read(name: str) -> dict:
    return json.loads((OUT / f"{name}.json").read_text())


def _copy_bot(bot: Path, into: Path, with_build: bool) -> Path:
    ignore = None if with_build else shutil.ignore_patterns(".smallbot")
    root = into / bot.name
    shutil.copytree(bot, root, ignore=ignore)
    for db in root.glob(".smallbot/*.sqlite*"):
        db.unlink()
    return root


# -- parts ----------------------------------------------------------------------------------------------

def part_train(bot: Path, runs: int) -> dict:
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = _copy_bot(bot, Path(tmp), with_build=False)
            t0 = time.perf_counter()
            _python("-m", "smallbot", "train", str(root))
            seconds.append(time.perf_counter() - t0)
    return {"runs": seconds, "median_s": median(seconds)}


def part_latency(bot: Path, runs: int) -> dict:
    _python(str(HERE / "latency.py"), "--bot", str(bot), "--runs", str(runs))
    return _read("latency")


def child_floor(bot: Path, data: Path, count: int, runs: int) -> dict:
    """Child: the bot's own encoder, batches of 32, over the messages web_load sends."""
    import web_load
    from smallbot.runtime.bot import Bot

    texts = web_load.load_messages(data, count)
    from concurrent.futures import ThreadPoolExecutor

    encoder = Bot.load(bot, with_store=False).encoder
    # on one worker thread, as the server's micro-batcher runs it (a main-thread pass measured far slower
    # under CPU contention: RESULTS.md, "## Speed")
    pool = ThreadPoolExecutor(1)
    encode = lambda: pool.submit(encoder.encode, texts, 32).result()  # noqa: E731
    encode()  # warm-up: first calls at new lengths are slow
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        encode()
        rates.append(len(texts) / (time.perf_counter() - t0))
    pool.shutdown()
    return {"messages": len(texts), "runs": rates, "median_sentences_per_s": median(rates)}


def part_web(bot: Path, data: Path, quick: bool) -> dict:
    args = [str(HERE / "web_load.py"), "--data", str(data), "--bot", str(bot), "--modes", "rest",
            "--levels", "1,16,64"]
    _python(*args, *(["--quick"] if quick else []))
    return _read("web_load")


def part_startup(bot: Path, runs: int) -> dict:
    _python(str(HERE / "startup.py"), "--bot", str(bot), "--runs", str(runs))
    return _read("startup")


def child_rss(bot_copy: Path) -> dict:
    """Child: load the (copied, trained) bot, answer a few messages of every kind, report peak RSS."""
    from smallbot.runtime.bot import Bot
    from smallbot.types import Message

    bot = Bot.load(bot_copy, with_store=True)
    kinds = [bot.handle(Message(f"rss-{i}", text)).kind.value for i, text in enumerate(SERVE_MESSAGES)]
    generator_loaded = bot.generator is not None and bot.generator_error is None
    bot.close()
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "kinds": kinds,
            "generator": generator_loaded}


def part_rss(bot: Path, runs: int) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("without_generator", "with_generator"):
            root = _copy_bot(bot, Path(tmp) / variant, with_build=True)
            if variant == "with_generator":  # not part of the build hash: the copied build stays valid
                with open(root / "bot.yml", "a") as f:
                    f.write("\ngenerator:\n  enabled: true\n  load: startup\n")
            _child_json("--_rss", str(root))  # warm-up (first run converts the GGUF into the cache)
            samples = [_child_json("--_rss", str(root)) for _ in range(runs)]
            out[variant] = {"runs": [s["peak_rss_mb"] for s in samples], "kinds": samples[0]["kinds"],
                            "generator": samples[0]["generator"],
                            "median_peak_rss_mb": median([s["peak_rss_mb"] for s in samples])}
    return out


# -- report ---------------------------------------------------------------------------------------------

def report(results: dict) -> list[str]:
    rows = ["| measure | figure | same-run baseline | ratio | target | met |", "|---|---|---|---|---|---|"]

    def row(name, figure, base="", ratio="", target="", met=None):
        rows.append(f"| {name} | {figure} | {base} | {ratio} | {target} | {'' if met is None else ('yes' if met else 'NO')} |")

    if "train" in results:
        row("train examples/helpdesk", f"{results['train']['median_s']:.1f} s")
    if "latency" in results:
        m = results["latency"]["median"]
        row("in-process FAQ message p50", f"{m['msg_p50']:.2f} ms", f"bare encoder p50 {m['bare_p50']:.2f} ms",
            f"{m['ratio_p50']:.2f}x", "<= 1.2x", m["ratio_p50"] <= 1.2)
        row("in-process FAQ message p99", f"{m['msg_p99']:.2f} ms", f"bare encoder p99 {m['bare_p99']:.2f} ms",
            f"{m['msg_p99'] / m['bare_p99']:.2f}x", "<= 20 ms", m["msg_p99"] <= 20)
    floor_runs = results.get("floor", {}).get("runs", []) + results.get("floor_after", {}).get("runs", [])
    floor = median(floor_runs) if floor_runs else None
    if floor:
        row("batched-encode floor (batch 32)", f"{floor:.0f} sentences/s",
            f"runs {min(floor_runs):.0f}-{max(floor_runs):.0f}"
            + (", before and after the web load" if "floor_after" in results else ""))
    if "web" in results:
        for s in results["web"]["summary"]:
            if s["mode"] != "rest":
                continue
            ratio = f"{s['msgs_per_s'] / floor:.2f}x floor" if floor else ""
            base = f"floor {floor:.0f}/s" if floor else ""
            if s["clients"] == 64:
                ok = s["msgs_per_s"] >= 400 and (not floor or s["msgs_per_s"] >= 0.6 * floor) and s["p99_ms"] <= 250
                row("web x64 msg/s, p50/p99", f"{s['msgs_per_s']:.0f}/s, {s['p50_ms']:.0f}/{s['p99_ms']:.0f} ms",
                    base, ratio, ">= 400/s, >= 0.6x, p99 <= 250 ms", ok)
            else:
                row(f"web x{s['clients']} msg/s, p50/p99",
                    f"{s['msgs_per_s']:.0f}/s, {s['p50_ms']:.1f}/{s['p99_ms']:.1f} ms", base, ratio)
    if "startup" in results:
        st = results["startup"]
        chat, imp = st["median_chat_to_first_answer_s"], st["median_import_floor_s"]
        row("cold start to first answer", f"{chat:.2f} s", f"import torch+transformers {imp:.2f} s",
            f"{chat / imp:.2f}x", "<= 3 s", chat <= 3)
    if "rss" in results:
        without = results["rss"]["without_generator"]["median_peak_rss_mb"]
        with_gen = results["rss"]["with_generator"]["median_peak_rss_mb"]
        row("peak RSS serving, no generator", f"{without:.0f} MB")
        row("peak RSS serving, generator loaded", f"{with_gen:.0f} MB", f"no generator {without:.0f} MB",
            f"{with_gen / without:.2f}x", "<= 1.2 GB", with_gen <= 1200 and results["rss"]["with_generator"]["generator"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--quick", action="store_true", help="fewer runs and messages")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--_floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_rss", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 5
    if args._rss:
        print(json.dumps(child_rss(args._rss)))
        return 0
    if args._floor:
        print(json.dumps(child_floor(args.bot, args.data, 320, 5)))
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    command = " ".join(["python", "benchmarks/speed.py", *(argv if argv is not None else sys.argv[1:])])
    results: dict = {"command": command, "quick": args.quick, "load_avg": {"start": os.getloadavg()}}
    if "train" in parts:
        results["train"] = part_train(args.bot, 1 if args.quick else 3)
        print(f"train: {results['train']['median_s']:.1f} s", file=sys.stderr, flush=True)
    _python("-m", "smallbot", "train", str(args.bot))  # the other parts serve the trained example bot
    steps = {"latency": lambda: part_latency(args.bot, runs),
             "floor": lambda: _child_json("--_floor", "--bot", str(args.bot), "--data", str(args.data)),
             "web": lambda: part_web(args.bot, args.data, args.quick),
             "floor_after": lambda: _child_json("--_floor", "--bot", str(args.bot), "--data", str(args.data)),
             "startup": lambda: part_startup(args.bot, runs),
             "rss": lambda: part_rss(args.bot, 1 if args.quick else 3)}
    for name, step in steps.items():
        if name in parts or (name == "floor_after" and {"floor", "web"} <= set(parts)):
            results[name] = step()
            results["load_avg"][name] = os.getloadavg()
            print(f"{name}: done, load avg {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    rows = report(results)
    results["table"] = rows
    path = save("speed", results)
    load = results["load_avg"]
    print(f"\nspeed suite{' (quick)' if args.quick else ''}: {os.cpu_count()} cores, load avg 1m "
          f"{load['start'][0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print("\n".join(rows))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
