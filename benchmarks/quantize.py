"""Inference settings by measurement: torch threads (1 vs 2) and dynamic int8 quantisation of the encoder.

For fp32 and int8 (`torch.ao.quantization.quantize_dynamic` on the encoder's Linear layers), same process:
  - speed: single-message encode p50/p99 (helpdesk paraphrases, one at a time: the in-process path) and
    batched throughput (sentences/s, batches of 32: the loaded-server floor), with 1 and 2 torch threads
  - FAQ accuracy: hit@1 of the trained examples/helpdesk bot on its held-out paraphrases
    (tests/data/helpdesk_paraphrases.yml), queries encoded by the bot's own (fine-tuned) encoder in fp32
    or int8 against the same fp32 index (what a `quantize` switch at load time would do)
  - intent accuracy: CLINC150 `--quick` subset (20 intents, benchmarks/intents.py `load` and `run_lr`),
    the packaged encoder in fp32 or int8; accuracy on the in-scope test split and AUROC in/out of scope
Rule (decided before measuring): keep int8 only if both accuracies stay within 0.5 points AND it is faster.

    python benchmarks/quantize.py [--data ../shared/data] [--quick]
Results: a table on stdout and benchmarks/out/quantize.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, percentile, save  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quantized(encoder):
    """A twin of a loaded encoder with int8 dynamic-quantised Linear layers."""
    import torch

    twin = encoder.clone()
    twin._model = torch.ao.quantization.quantize_dynamic(twin._model, {torch.nn.Linear}, dtype=torch.qint8)
    return twin


def speed(encoder, texts: list[str], runs: int, batch_texts: list[str]) -> dict:
    """Single-message latency and batched throughput, medians over runs."""
    for text in texts[:10]:
        encoder.encode([text])
    single_p50, single_p99, rate = [], [], []
    for _ in range(runs):
        times = []
        for text in texts:
            t0 = time.perf_counter()
            encoder.encode([text])
            times.append((time.perf_counter() - t0) * 1000)
        single_p50.append(percentile(times, 50))
        single_p99.append(percentile(times, 99))
        t0 = time.perf_counter()
        encoder.encode(batch_texts, batch_size=32)
        rate.append(len(batch_texts) / (time.perf_counter() - t0))
    return {"single_p50_ms": median(single_p50), "single_p99_ms": median(single_p99),
            "batch32_sentences_per_s": median(rate)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="fewer timing runs")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    args = parser.parse_args(argv)
    import torch

    import intents as intents_bench
    from smallbot.bot import Bot
    from smallbot.encoder import Encoder
    from smallbot.knowledge.evaluation import evaluate_knowledge

    runs = 2 if args.quick else 5
    load_start = os.getloadavg()
    test = yaml.safe_load((REPO / "tests" / "data" / "helpdesk_paraphrases.yml").read_text())
    queries = [(p["text"], p["faq"]) for p in test["paraphrases"]]
    texts = [t for t, _ in queries] + list(test["off_topic"])
    clinc = intents_bench.load(args.data, "data_full.json", True, None, 0)
    batch_texts = clinc["test"][0][:320]

    bot = Bot.load(args.bot, train=True, with_store=False)
    base = Encoder("all-MiniLM-L6-v2").load()
    variants = {"fp32": (bot.encoder, base), "int8": (quantized(bot.encoder), quantized(base))}
    results: dict = {"load_avg_start": load_start, "runs": runs, "variants": {}}
    for name, (bot_encoder, base_encoder) in variants.items():
        row: dict = {}
        ev = evaluate_knowledge(bot.knowledge, bot_encoder.encode, None, queries=queries,
                                negatives=list(test["off_topic"]))
        row["faq_hit@1"] = ev.as_dict()["hit@1"]
        lr = intents_bench.run_lr(clinc, lambda xs, e=base_encoder: e.encode(list(xs), batch_size=128))
        row["intent_accuracy"], row["intent_auroc"] = lr["accuracy"], lr["auroc"]
        for threads in (1, 2):
            torch.set_num_threads(threads)
            row[f"threads{threads}"] = speed(bot_encoder, texts, runs, batch_texts)
        results["variants"][name] = row
        print(f"{name}: {row}", file=sys.stderr, flush=True)
    torch.set_num_threads(os.cpu_count() or 1)
    fp, q8 = results["variants"]["fp32"], results["variants"]["int8"]
    faster = q8["threads2"]["single_p50_ms"] < fp["threads2"]["single_p50_ms"] and \
        q8["threads2"]["batch32_sentences_per_s"] > fp["threads2"]["batch32_sentences_per_s"]
    close = abs(q8["faq_hit@1"] - fp["faq_hit@1"]) <= 0.005 and abs(q8["intent_accuracy"] - fp["intent_accuracy"]) <= 0.005
    results["int8_keeps_accuracy"], results["int8_faster"] = close, faster
    results["load_avg_end"] = os.getloadavg()
    save("quantize", results)
    print(f"\nencoder settings, median of {runs} runs; load avg {load_start[0]:.2f} -> {results['load_avg_end'][0]:.2f}")
    print("| encoder | threads | single p50 ms | single p99 ms | batch-32 sent/s | FAQ hit@1 | CLINC quick acc | AUROC |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in results["variants"].items():
        for threads in (1, 2):
            s = row[f"threads{threads}"]
            print(f"| {name} | {threads} | {s['single_p50_ms']:.2f} | {s['single_p99_ms']:.2f} | "
                  f"{s['batch32_sentences_per_s']:.0f} | {100 * row['faq_hit@1']:.1f} | "
                  f"{100 * row['intent_accuracy']:.1f} | {row['intent_auroc']:.3f} |")
    print(f"\nint8 within 0.5 points on both: {close}; int8 faster (2 threads, single and batched): {faster}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
