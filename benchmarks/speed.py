"""The speed suite: the example bot served from ONNX (onnxruntime, no torch) and from TorchScript, side by side,
every figure against its floor in the same run, one command.

    python benchmarks/speed.py [--data benchmarks/data] [--runs 5] [--quick] [--parts train,startup,rss,latency,web]

The example bot is trained once; a copy of its build is re-exported to TorchScript (`export_serving_encoder`),
so both paths serve the very same index, calibration and intent head. Parts (each measurement a fresh process,
paths interleaved run by run so that a busy spell on a shared machine hits both):
  train    `smallbot train` of a fresh copy of examples/helpdesk, seconds
  startup  wall time of a whole `smallbot ask DIR "how do I reset my password"` process, per path, against
           the floor `python -c "import torch"`; target (ONNX) <= 0.5x the floor
  rss      peak RSS of one serving worker without the generator (the web app over loopback, answering FAQ,
           intent and small-talk messages), per path; target (ONNX) <= 300 MB
  latency  in-process `Bot.handle` p50/p99 of FAQ-style messages, per path, against a bare
           sentence-transformers `encode` of one sentence (same texts, its own process, run by run before the
           paths); target (ONNX) p50 <= 0.7x the bare encode
  web      benchmarks/web_load.py (REST, 1/16/64 closed-loop clients against `create_app` in a child process),
           per path, each with its own batched-encode floor; target: ONNX x64 replies/s >= 1.5x TorchScript's
Every figure is the median of --runs runs. Results: a table on stdout and benchmarks/out/speed.json, with the
load averages (a shared machine disturbs every figure: run it on a quiet one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, REPO, median, percentile, save  # noqa: E402

HERE = Path(__file__).resolve().parent
PARTS = ("train", "startup", "rss", "latency", "web")
PATHS = ("onnx", "torchscript")
ASK = "how do I reset my password"
SERVE_MESSAGES = ["how do I reset my password?", "can I get a refund for last month?", "hello there",
                  "what's your favourite movie?", "tell me something fun about yourself", "talk to a human"]


def _env() -> dict:
    return {**os.environ, "TOKENIZERS_PARALLELISM": "false"}


def _python(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True, timeout=timeout,
                          env=_env(), cwd=REPO)


def _child_json(*args: str) -> dict:
    """Run this script in child mode; the child's last stdout line is its JSON result."""
    return json.loads(_python(__file__, *args).stdout.strip().splitlines()[-1])


def _copy_bot(bot: Path, into: Path, with_build: bool) -> Path:
    ignore = None if with_build else shutil.ignore_patterns(".smallbot")
    root = into / bot.name
    shutil.copytree(bot, root, ignore=ignore)
    for db in root.glob(".smallbot/*.sqlite*"):
        db.unlink()
    return root


def prepare_paths(bot: Path, into: Path) -> dict[str, Path]:
    """Train `bot` once (ONNX export), then a second copy of the build re-exported to TorchScript."""
    _python("-m", "smallbot", "train", str(bot))
    roots = {path: _copy_bot(bot, into / path, with_build=True) for path in PATHS}
    _python("-c", "import sys; from smallbot.build.pipeline import export_serving_encoder; "
                  "from smallbot.project.loader import load_project; "
                  "export_serving_encoder(load_project(sys.argv[1]), 'torchscript')", str(roots["torchscript"]))
    for path, root in roots.items():  # each copy really serves the way it is named
        kind = _child_json("--_kind", str(root))["encoder"]
        want = {"onnx": "OnnxEncoder", "torchscript": "ExportedEncoder"}[path]
        if kind != want:
            raise SystemExit(f"the {path} copy serves with {kind}, not {want}")
    return roots


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


def _wall(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([*args], check=True, capture_output=True, env=_env(), cwd=REPO, timeout=600)
    return time.perf_counter() - t0


def part_startup(roots: dict[str, Path], runs: int) -> dict:
    """Whole `smallbot ask` processes against `python -c "import torch"`, interleaved run by run."""
    smallbot = str(Path(sys.executable).with_name("smallbot"))
    for root in roots.values():  # untimed: the first process after a copy pays for cold file caches
        _wall(smallbot, "ask", str(root), ASK)
    floor: list[float] = []
    times: dict[str, list[float]] = {path: [] for path in roots}
    for _ in range(runs):
        floor.append(_wall(sys.executable, "-c", "import torch"))
        for path, root in roots.items():
            times[path].append(_wall(smallbot, "ask", str(root), ASK))
    out: dict = {"floor_runs": floor, "floor_median_s": median(floor)}
    for path, values in times.items():
        out[path] = {"runs": values, "median_s": median(values), "ratio": median(values) / median(floor)}
    return out


def child_kind(root: Path) -> dict:
    from smallbot.runtime.bot import Bot

    bot = Bot.load(root, with_store=False)
    kind = type(bot.encoder).__name__
    bot.close()
    return {"encoder": kind}


def child_rss(root: Path) -> dict:
    """Child: one serving worker (the web app on loopback) answers messages of every kind; its peak RSS."""
    import asyncio
    import resource

    from aiohttp.test_utils import TestClient, TestServer

    from smallbot.connectors.web import create_app
    from smallbot.runtime.bot import Bot

    bot = Bot.load(root, with_store=True)

    async def answer() -> list[str]:
        async with TestClient(TestServer(create_app(bot), host="127.0.0.1")) as client:
            kinds = []
            for text in SERVE_MESSAGES:
                kinds.append((await (await client.post("/api/messages", json={"text": text})).json())["kind"])
            return kinds

    kinds = asyncio.run(answer())
    bot.close()
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "kinds": kinds,
            "torch_imported": "torch" in sys.modules}


def part_rss(roots: dict[str, Path], runs: int) -> dict:
    samples: dict[str, list[dict]] = {path: [] for path in roots}
    for _ in range(runs):
        for path, root in roots.items():
            samples[path].append(_child_json("--_rss", str(root)))
    out = {}
    for path, got in samples.items():
        peaks = [s["peak_rss_mb"] for s in got]
        out[path] = {"runs": peaks, "median_peak_rss_mb": median(peaks), "kinds": got[0]["kinds"],
                     "torch_imported": got[0]["torch_imported"]}
    return out


def _paraphrases(count: int) -> list[str]:
    import yaml

    data = yaml.safe_load((REPO / "tests" / "data" / "helpdesk_paraphrases.yml").read_text())
    return [p["text"] for p in data["paraphrases"]][:count]


def child_latency(root: Path, count: int) -> dict:
    """Child: `Bot.handle` of FAQ-style paraphrases never in the bot's files, one at a time, p50/p99."""
    from smallbot.runtime.bot import Bot
    from smallbot.types import Message

    bot = Bot.load(root, with_store=False)
    texts = _paraphrases(count)
    for text in texts[:10]:  # warm-up: first calls at new lengths are slow
        bot.handle(Message("warm", text))
    times = []
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        bot.handle(Message(f"m{i}", text))
        times.append((time.perf_counter() - t0) * 1000)
    kind = type(bot.encoder).__name__
    bot.close()
    return {"encoder": kind, "messages": len(texts), "p50": percentile(times, 50), "p99": percentile(times, 99)}


def child_bare(root: Path, count: int) -> dict:
    """Child: the floor, a bare sentence-transformers `encode` of one sentence, on the same texts. A process of
    its own: onnxruntime's pool threads, still spinning after a pass, would slow a torch floor in the same one."""
    from sentence_transformers import SentenceTransformer

    from smallbot.project.loader import load_project
    from smallbot.weights import resolve_model

    model = SentenceTransformer(str(resolve_model(load_project(root).config.models.encoder, root)), device="cpu")
    texts = _paraphrases(count)
    for text in texts[:10]:
        model.encode([text])
    times = []
    for text in texts:
        t0 = time.perf_counter()
        model.encode([text])
        times.append((time.perf_counter() - t0) * 1000)
    return {"messages": len(texts), "p50": percentile(times, 50), "p99": percentile(times, 99)}


def part_latency(roots: dict[str, Path], runs: int, count: int) -> dict:
    """Per run: the floor's process, then each path's; ratios within a run, medians over runs."""
    floor: list[dict] = []
    samples: dict[str, list[dict]] = {path: [] for path in roots}
    for _ in range(runs):
        floor.append(_child_json("--_bare", str(roots["onnx"]), "--count", str(count)))
        for path, root in roots.items():
            samples[path].append(_child_json("--_latency", str(root), "--count", str(count)))
    out: dict = {"floor": {"runs": floor, "p50": median([f["p50"] for f in floor]),
                           "p99": median([f["p99"] for f in floor])}}
    for path, got in samples.items():
        out[path] = {"runs": got, "median": {
            "msg_p50": median([s["p50"] for s in got]), "msg_p99": median([s["p99"] for s in got]),
            "floor_p50": out["floor"]["p50"], "floor_p99": out["floor"]["p99"],
            "ratio_p50": median([s["p50"] / f["p50"] for s, f in zip(got, floor)]),
            "ratio_p99": median([s["p99"] / f["p99"] for s, f in zip(got, floor)])}}
    return out


def part_web(roots: dict[str, Path], data: Path, runs: int, quick: bool) -> dict:
    """web_load.py per path, `runs` repeats each (its own median), paths one after the other, each served the
    way `smallbot serve` serves it by default on this machine (`--workers auto`: one per core, up to 2 without
    the generator)."""
    from smallbot.connectors.web.workers import auto_workers

    out = {}
    for path, root in roots.items():
        _python(str(HERE / "web_load.py"), "--data", str(data), "--bot", str(root), "--modes", "rest",
                "--levels", "1,16,64", "--repeats", str(runs), "--workers", str(auto_workers(False)),
                *(["--quick"] if quick else []))
        out[path] = json.loads((OUT / "web_load.json").read_text())
    return out


# -- report ---------------------------------------------------------------------------------------------

def _web64(result: dict) -> dict:
    return next(s for s in result["summary"] if s["mode"] == "rest" and s["clients"] == 64)


def report(results: dict) -> list[str]:
    rows = ["| measure | path | figure | same-run floor | ratio | target | met |", "|---|---|---|---|---|---|---|"]

    def row(name, path, figure, base="", ratio="", target="", met=None):
        rows.append(f"| {name} | {path} | {figure} | {base} | {ratio} | {target} | "
                    f"{'' if met is None else ('yes' if met else 'NO')} |")

    if "train" in results:
        row("train examples/helpdesk", "", f"{results['train']['median_s']:.1f} s")
    if "startup" in results:
        st = results["startup"]
        for path in PATHS:
            ratio = st[path]["ratio"]
            row("cold start, whole `smallbot ask`", path, f"{st[path]['median_s']:.2f} s",
                f"import torch {st['floor_median_s']:.2f} s", f"{ratio:.2f}x",
                "<= 0.5x" if path == "onnx" else "", ratio <= 0.5 if path == "onnx" else None)
    if "rss" in results:
        for path in PATHS:
            mb = results["rss"][path]["median_peak_rss_mb"]
            torch_note = ", torch imported" if results["rss"][path]["torch_imported"] else ", no torch"
            row("peak RSS, one serving worker, no generator", path, f"{mb:.0f} MB{torch_note}", "", "",
                "<= 300 MB" if path == "onnx" else "", mb <= 300 if path == "onnx" else None)
    if "latency" in results:
        for path in PATHS:
            m = results["latency"][path]["median"]
            row("in-process FAQ message p50", path, f"{m['msg_p50']:.2f} ms",
                f"bare ST encode p50 {m['floor_p50']:.2f} ms", f"{m['ratio_p50']:.2f}x",
                "<= 0.7x" if path == "onnx" else "", m["ratio_p50"] <= 0.7 if path == "onnx" else None)
            row("in-process FAQ message p99", path, f"{m['msg_p99']:.2f} ms",
                f"bare ST encode p99 {m['floor_p99']:.2f} ms", f"{m['ratio_p99']:.2f}x")
    if "web" in results:
        web = results["web"]
        for path in PATHS:
            s = _web64(web[path])
            floor = web[path]["floor_msgs_per_s"]
            row("web x64 replies/s, p50/p99", path, f"{s['msgs_per_s']:.0f}/s, {s['p50_ms']:.0f}/{s['p99_ms']:.0f} ms",
                f"batched-encode floor {floor:.0f}/s", f"{s['msgs_per_s'] / floor:.2f}x floor")
        onnx, ts = _web64(web["onnx"])["msgs_per_s"], _web64(web["torchscript"])["msgs_per_s"]
        row("web x64 replies/s, ONNX vs TorchScript", "both", f"{onnx:.0f}/s vs {ts:.0f}/s", "", f"{onnx / ts:.2f}x",
            ">= 1.5x", onnx / ts >= 1.5)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (medians reported)")
    parser.add_argument("--quick", action="store_true", help="2 runs, fewer messages: a smoke run, not figures")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--count", type=int, default=120, help=argparse.SUPPRESS)
    parser.add_argument("--_rss", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_kind", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_latency", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_bare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._rss:
        print(json.dumps(child_rss(args._rss)))
        return 0
    if args._kind:
        print(json.dumps(child_kind(args._kind)))
        return 0
    if args._latency:
        print(json.dumps(child_latency(args._latency, args.count)))
        return 0
    if args._bare:
        print(json.dumps(child_bare(args._bare, args.count)))
        return 0
    runs = min(args.runs, 2) if args.quick else args.runs
    count = 20 if args.quick else args.count
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    command = " ".join(["python", "benchmarks/speed.py", *(argv if argv is not None else sys.argv[1:])])
    results: dict = {"command": command, "quick": args.quick, "runs": runs, "load_avg": {"start": os.getloadavg()}}
    if "train" in parts:
        results["train"] = part_train(args.bot, 1 if args.quick else 3)
        print(f"train: {results['train']['median_s']:.1f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        roots = prepare_paths(args.bot, Path(tmp))
        steps = {"startup": lambda: part_startup(roots, runs),
                 "rss": lambda: part_rss(roots, runs),
                 "latency": lambda: part_latency(roots, runs, count),
                 "web": lambda: part_web(roots, args.data, runs, args.quick)}
        for name, step in steps.items():
            if name in parts:
                results[name] = step()
                results["load_avg"][name] = os.getloadavg()
                print(f"{name}: done, load avg {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    rows = report(results)
    results["table"] = rows
    path = save("speed", results)
    load = results["load_avg"]
    print(f"\nspeed suite{' (quick: not figures)' if args.quick else ''}: {os.cpu_count()} cores, load avg 1m "
          f"{load['start'][0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print("\n".join(rows))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
