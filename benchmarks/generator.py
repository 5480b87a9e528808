"""Benchmark the small generator and its guard.

Speed (each load in a fresh process, so caches of this process do not flatter it):
  - first load: GGUF -> safetensors conversion into an empty cache dir, then load
  - cached load: load from the converted cache (median of --runs processes); torch/transformers import
    time is reported apart
  - generation: tokens/s and time to first token of smallbot's loop vs transformers' `generate`
    (greedy, same prompts, same process: the same-run baseline), for compute dtype float32 and bfloat16
    and 1 or 2 torch threads
  - peak RSS of the generating process
Guard: the labelled replies in benchmarks/data/generator_replies.yml checked against the helpdesk
knowledge: inventions caught, harmless replies kept.

    python benchmarks/generator.py            # full
    python benchmarks/generator.py --quick    # fewer runs and tokens

`--data` is accepted for the common benchmark interface; this benchmark reads no dataset.
Results: a table on stdout and benchmarks/out/generator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
REPLIES = REPO / "benchmarks" / "data" / "generator_replies.yml"
PROMPTS = [
    "hey, how's your day going?",
    "what's your favourite movie?",
    "tell me something fun about yourself",
]
PERSONA = "You are a friendly, concise support assistant. Keep replies to one or two sentences."


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_load(cache: str) -> dict:
    """Fresh process: import, then prepare (maybe convert) and load."""
    t0 = time.perf_counter()
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from smallbot.generation.generator import LocalGenerator

    imported = time.perf_counter() - t0
    t1 = time.perf_counter()
    LocalGenerator("smollm2-135m", cache=Path(cache)).load()
    loaded = time.perf_counter() - t1
    rss = _rss_mb()
    # A second load in the same process: the weights and tokenizer alone, without transformers' lazy
    # imports of the model code that the first load pays for.
    t2 = time.perf_counter()
    LocalGenerator("smollm2-135m", cache=Path(cache)).load()
    return {"import_s": imported, "load_s": loaded, "reload_s": time.perf_counter() - t2, "peak_rss_mb": rss}


def child_generate(cache: str, dtype: str, threads: int, tokens: int, runs: int) -> dict:
    """Fresh process: smallbot's streaming loop vs transformers generate on the same prompts."""
    import torch

    from smallbot.generation.generator import LocalGenerator

    gen = LocalGenerator("smollm2-135m", cache=Path(cache), persona=PERSONA, max_new_tokens=tokens,
                         max_seconds=600, threads=threads, compute_dtype=dtype, repetition_penalty=1.0).load()
    torch.set_num_threads(threads)
    ours_rate, ours_ttft, hf_rate, texts = [], [], [], []
    for _ in range(runs):
        for prompt in PROMPTS:
            stats = gen.generate(prompt)
            if stats.tokens:
                ours_rate.append(stats.tokens / stats.seconds)
                ours_ttft.append(stats.first_token_ms)
            texts.append(stats.text)
            ids = torch.tensor([gen.prompt_ids(prompt)])
            t = time.perf_counter()
            with torch.inference_mode():
                out = gen._model.generate(ids, max_new_tokens=tokens, do_sample=False)
            n = out.shape[1] - ids.shape[1]
            if n:
                hf_rate.append(n / (time.perf_counter() - t))
    return {"dtype": dtype, "threads": threads, "tokens_per_s": statistics.median(ours_rate),
            "ttft_ms": statistics.median(ours_ttft), "hf_generate_tokens_per_s": statistics.median(hf_rate),
            "peak_rss_mb": _rss_mb(), "samples": texts[: len(PROMPTS)]}


def _run_child(args: list[str]) -> dict:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_guard() -> dict:
    import yaml

    from smallbot.generation.factcheck import build_support, find_unsupported
    from smallbot.errors import Problem
    from smallbot.knowledge.loaders import load_knowledge
    from smallbot.project.loader import load_project

    project = load_project(REPO / "examples" / "helpdesk")
    problems: list[Problem] = []
    entries = load_knowledge(project.knowledge_files, problems, project.root)
    support = build_support([p for e in entries for p in (e.question, e.answer, *e.links)])
    rows = yaml.safe_load(REPLIES.read_text())["replies"]
    by_kind: dict[str, list[int]] = {}
    kept = harmless = 0
    missed, false_alarms = [], []
    t = time.perf_counter()
    for row in rows:
        flagged = bool(find_unsupported(row["text"], support))
        if row["label"] == "harmless":
            harmless += 1
            kept += not flagged
            if flagged:
                false_alarms.append(row["text"])
        else:
            caught = by_kind.setdefault(row["kind"], [0, 0])
            caught[0] += flagged
            caught[1] += 1
            if not flagged:
                missed.append(row["text"])
    per_reply_us = (time.perf_counter() - t) / len(rows) * 1e6
    invented = sum(v[1] for v in by_kind.values())
    caught_all = sum(v[0] for v in by_kind.values())
    in_scope = {k: v for k, v in by_kind.items() if k != "words"}
    return {
        "replies": len(rows), "harmless": harmless, "harmless_kept": kept, "invented": invented,
        "invented_caught": caught_all,
        "in_scope_invented": sum(v[1] for v in in_scope.values()),
        "in_scope_caught": sum(v[0] for v in in_scope.values()),
        "by_kind": {k: {"caught": v[0], "total": v[1]} for k, v in sorted(by_kind.items())},
        "missed": missed, "false_alarms": false_alarms, "check_us_per_reply": per_reply_us,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO / "benchmarks" / "data"), help="unused; common interface")
    parser.add_argument("--quick", action="store_true", help="fewer runs and tokens")
    parser.add_argument("--runs", type=int, default=None, help="cached-load processes / generation rounds")
    parser.add_argument("--tokens", type=int, default=None, help="max new tokens per generation")
    parser.add_argument("--threads", type=lambda v: [int(x) for x in v.split(",")], default=[1],
                        help="torch thread counts to measure, e.g. 1,2 (2 threads crawl on a busy 2-core machine)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_load(*rest) if kind == "load" else child_generate(rest[0], rest[1], int(rest[2]),
                                                                         int(rest[3]), int(rest[4]))
        print(json.dumps(result))
        return 0

    runs = args.runs or (1 if args.quick else 3)
    tokens = args.tokens or (16 if args.quick else 32)
    results: dict = {"machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
                     "runs": runs, "tokens": tokens}
    print("guard: checking labelled replies ...", flush=True)
    results["guard"] = bench_guard()
    with tempfile.TemporaryDirectory(prefix="smallbot-bench-cache-") as cache:
        print("first load (conversion) ...", flush=True)
        results["first_load"] = _run_child(["load", cache])
        cached = [_run_child(["load", cache]) for _ in range(runs)]
        results["cached_load"] = {k: statistics.median(c[k] for c in cached) for k in cached[0]}
        # Configurations interleaved round by round, each in a fresh process, so the load of a shared
        # machine drifting over minutes does not favour whichever ran first; medians over rounds.
        configs = [(dtype, n) for n in args.threads for dtype in ("float32", "bfloat16")]
        samples: dict[tuple[str, int], list[dict]] = {c: [] for c in configs}
        for round_ in range(runs):
            for dtype, threads in configs:
                print(f"generation round {round_ + 1}/{runs}: {dtype} threads={threads} ...", flush=True)
                samples[(dtype, threads)].append(_run_child(["gen", cache, dtype, str(threads), str(tokens), "1"]))
        results["generation"] = [
            {"dtype": dtype, "threads": threads, "samples": rs[0]["samples"],
             **{k: statistics.median(r[k] for r in rs)
                for k in ("tokens_per_s", "ttft_ms", "hf_generate_tokens_per_s", "peak_rss_mb")}}
            for (dtype, threads), rs in samples.items()]
    results["load_average_end"] = os.getloadavg()[0]

    g = results["guard"]
    print(f"\nmachine: {results['machine']}, {results['load_average_end']:.1f} at end")
    print(f"first load (GGUF conversion + load): {results['first_load']['load_s']:.1f} s, "
          f"peak RSS {results['first_load']['peak_rss_mb']:.0f} MB")
    print(f"cached load (median of {runs} processes): {results['cached_load']['load_s']:.2f} s "
          f"(+ {results['cached_load']['import_s']:.1f} s importing torch/transformers; "
          f"{results['cached_load']['reload_s']:.2f} s for a second load in the same process), "
          f"peak RSS {results['cached_load']['peak_rss_mb']:.0f} MB")
    print(f"\n| compute dtype | threads | tokens/s (smallbot loop) | tokens/s (transformers generate) | ratio | "
          f"first token ms | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in results["generation"]:
        print(f"| {r['dtype']} | {r['threads']} | {r['tokens_per_s']:.1f} | {r['hf_generate_tokens_per_s']:.1f} | "
              f"{r['tokens_per_s'] / r['hf_generate_tokens_per_s']:.2f} | {r['ttft_ms']:.0f} | {r['peak_rss_mb']:.0f} |")
    print(f"\nguard on {g['replies']} labelled replies: harmless kept {g['harmless_kept']}/{g['harmless']}, "
          f"inventions caught {g['in_scope_caught']}/{g['in_scope_invented']} of the kinds it checks "
          f"({g['invented_caught']}/{g['invented']} counting facts in words), {g['check_us_per_reply']:.0f} µs/reply")
    for kind, v in g["by_kind"].items():
        print(f"  {kind}: {v['caught']}/{v['total']}")
    for text in g["missed"]:
        print(f"  missed: {text}")
    for text in g["false_alarms"]:
        print(f"  false alarm: {text}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "generator.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {OUT / 'generator.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
