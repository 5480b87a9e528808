"""Inference settings by measurement: torch threads (1 vs 2) and dynamic int8 quantisation of the encoder.

fp32 against int8 (`smallbot.encoding.quantize`: `torch.ao.quantization.quantize_dynamic` on every Linear layer),
int8-ffn (only the feed-forward Linear layers) and int8-channel (per-row weight scales), all in the same run.
Dynamic int8 scales activations per batch, so an int8 embedding depends on its batch: messages are encoded
one at a time as served in-process (`--query-batch 1`), training phrasings in batches of 64 as `smallbot
train` does. Parts (`--parts`, comma-separated):

  - stackfaq: the FAQ target's benchmark (benchmarks/knowledge.py's StackFAQ split, seed 0): the retriever
    fine-tuned as there (30 steps, top 2 layers, lr 2e-4, in fp32), then per variant the knowledge base with
    the calibrated confidence: test hit@1 / hit@5 / MRR, and the answered / wrong-of-answered figures at the
    answer threshold chosen on VALIDATION (90% Wilson-bound rule, and the point rule) and at the train-time
    threshold. Two ways to serve int8: "int8" builds the index, calibration and queries with the int8 encoder
    (what `models.quantize: int8` does: the build quantises before indexing); "fp32 index + int8 queries"
    keeps an fp32 build and quantises only the query encoder.
  - clinc: the intent target's benchmark (benchmarks/intents.py's CLINC150 data_full): the packaged encoder per
    variant, logistic regression on its embeddings (`--intent-methods lr`, as intents.py `run_lr`) and/or the
    product's frozen head (`smallbot`, intents.py `run_smallbot`); in-scope test accuracy, accuracy with rejects
    and OOS recall at the validation-chosen threshold, AUROC.
  - helpdesk: examples/helpdesk trained end to end per variant (a copy with `models.quantize` set, in
    `--workdir`), its 84 held-out paraphrases and 28 off-topic messages through `Bot.handle` (the foundation
    target; the earlier, smaller FAQ check).
  - speed: single-message encode p50/p99 and batched sentences/s (batches of 32) of the helpdesk bot's encoder,
    1 and 2 torch threads, per variant.
Rule (decided before measuring): int8 is kept only if StackFAQ hit@1 and CLINC150 in-scope accuracy stay
within 0.5 points of fp32 (and the wrong-answer / OOS figures do not get worse by more) AND it is faster.

    python benchmarks/quantize.py [--data benchmarks/data] [--parts stackfaq,clinc] [--variants fp32,int8,int8-ffn]
Results: tables on stdout and benchmarks/out/quantize.json (or quantize-<suffix>.json).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, percentile, save  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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


def stackfaq_part(args, variants: list[str]) -> dict:
    """The FAQ target's benchmark per variant (see the module docstring)."""
    import knowledge as kbench
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.base import KnowledgeBase
    from smallbot.knowledge.calibrate import calibrate, leave_one_out_queries
    from smallbot.knowledge.entries import FaqEntry
    from smallbot.knowledge.finetune import FinetuneSettings, finetune_encoder
    from smallbot.encoding.quantize import quantized_encoder

    faqs, splits = kbench.load_stackfaq(args.data, args.seed)
    neg_train, neg_val, neg_test = kbench.load_oos(args.data, 100, args.seed)
    train_by = {f["id"]: [t for t, o in splits["train"] if o == f["id"]] for f in faqs}
    entries = [FaqEntry(f["id"], f["question"], tuple(train_by[f["id"]]), f["answer"]) for f in faqs]
    target = 0.02
    tuned = Encoder("all-MiniLM-L6-v2").load()
    t0 = time.perf_counter()
    finetune_encoder(tuned, [list(e.phrasings) for e in entries], [], None,
                     FinetuneSettings(steps=args.steps, batch_size=16, learning_rate=2e-4, train_layers=2,
                                      seed=args.seed))
    print(f"StackFAQ: retriever fine-tuned ({args.steps} steps) in {time.perf_counter() - t0:.0f}s", flush=True)
    encoders = {v: quantized_encoder(tuned, "none" if v == "fp32" else v) for v in variants}
    queries = [t for t, _ in splits["val"] + splits["test"]] + neg_val + neg_test

    def measure(name: str, build_enc, query_enc) -> dict:
        t0 = time.perf_counter()
        kb = KnowledgeBase.build(entries, build_enc.encode)
        cal = calibrate(kb, leave_one_out_queries(kb, build_enc.encode), neg_train, build_enc.encode(neg_train),
                        target, seed=args.seed, encode=build_enc.encode)
        kb.bands, kb.confidence = cal.bands, cal.confidence
        vectors = dict(zip(queries, query_enc.encode(queries, batch_size=args.query_batch)))

        def rank(q):
            hits = kb.search(q, vectors[q], k=5)
            return [h.entry_id for h in hits], hits[0].score if hits else 0.0
        row = kbench.run_method(name, rank, splits, neg_val, neg_test, target, cal.bands.answer)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        return row

    rows = {}
    for v in variants:
        rows[v] = measure(v, encoders[v], encoders[v])
        if v != "fp32" and "fp32" in encoders:
            rows[f"fp32 index + {v} queries"] = measure(f"fp32 index + {v} queries", encoders["fp32"], encoders[v])
    return rows


def clinc_part(args, variants: list[str]) -> dict:
    """The intent target's benchmark per variant (see the module docstring)."""
    import intents as ibench
    from smallbot.encoding.encoder import Encoder
    from smallbot.encoding.quantize import quantized_encoder

    data = ibench.load(args.data, "data_full.json", args.quick, None, args.seed)
    base = Encoder("all-MiniLM-L6-v2").load()
    rows: dict = {}
    fp32_train: dict = {}
    for v in variants:
        enc = quantized_encoder(base, "none" if v == "fp32" else v)
        cache: dict[str, object] = {}

        def encode(texts, e=enc, c=cache):
            import numpy as np

            texts = list(texts)
            return np.stack([c[t] for t in texts]) if texts else np.zeros((0, e.dim), np.float32)
        t0 = time.perf_counter()
        # training examples in batches of 64 as `smallbot train` does; messages as served (`--query-batch`)
        train = sorted(set(data["train"][0]) | set(data["oos_train"]))
        cache.update(zip(train, enc.encode(train, batch_size=64)))
        served = sorted({t for k in ("val", "test") for t in data[k][0]} | set(data["oos_val"]) | set(data["oos_test"]))
        served = [t for t in served if t not in cache]
        cache.update(zip(served, enc.encode(served, batch_size=args.query_batch)))
        encode_s = time.perf_counter() - t0
        if v == "fp32":
            fp32_train = {t: cache[t] for t in train}
        # the variant as served by an fp32 build: head fitted on fp32 training embeddings, messages in `v`
        arms = [(v, cache)] + ([(f"fp32 head + {v} queries", {**cache, **fp32_train})] if v != "fp32" and fp32_train else [])
        for name, vectors in arms:
            for method in args.intent_methods:
                lookup = lambda texts, c=vectors: encode(texts, c=c)  # noqa: E731
                if method == "lr":
                    result = ibench.run_lr(data, lookup)
                else:
                    result, _ = ibench.run_smallbot(data, lookup, args.seed)
                    result.pop("weights", None)
                result["encode_s"] = round(encode_s, 1)
                rows[f"{name} {method}"] = result
                print(f"  CLINC150 {name} {method}: accuracy {result['accuracy']:.4f}, balanced "
                      f"{result['balanced']}, auroc {result['auroc']:.4f}", flush=True)
    return rows


def helpdesk_part(args, variants: list[str]) -> dict:
    """examples/helpdesk trained end to end per variant (`models.quantize` in a copy's bot.yml), then its 84
    held-out paraphrases and 28 off-topic messages through `Bot.handle`, one at a time (the foundation target:
    right FAQ first >= 90%, off-topic never answered). The trained copies stay in `--workdir`."""
    import shutil

    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import train_project
    from smallbot.project.loader import load_project
    from smallbot.types import Message, ReplyKind

    test = yaml.safe_load((REPO / "tests" / "data" / "helpdesk_paraphrases.yml").read_text())

    def top_faq(reply):
        if reply.kind is ReplyKind.ANSWER:
            return reply.sources[0].entry_id
        return reply.suggestions[0].entry_id if reply.kind is ReplyKind.SUGGEST else None
    rows = {}
    for v in variants:
        root = args.workdir / f"helpdesk-{v}"
        if not root.exists():
            shutil.copytree(args.bot, root, ignore=shutil.ignore_patterns(".smallbot"))
            mode = "none" if v == "fp32" else v
            (root / "bot.yml").write_text((root / "bot.yml").read_text() + f"models:\n  quantize: {mode}\n")
        t0 = time.perf_counter()
        train_project(load_project(root))
        train_s = time.perf_counter() - t0
        bot = Bot.load(root, with_store=False)
        try:
            replies = [(p["faq"], bot.handle(Message(f"p{i}", p["text"]))) for i, p in enumerate(test["paraphrases"])]
            off = [bot.handle(Message(f"o{i}", t)) for i, t in enumerate(test["off_topic"])]
        finally:
            bot.close()
        rows[v] = {"hit@1": sum(top_faq(r) == faq for faq, r in replies) / len(replies),
                   "answered": sum(r.kind is ReplyKind.ANSWER for _, r in replies),
                   "wrong_answers": sum(r.kind is ReplyKind.ANSWER and top_faq(r) != faq for faq, r in replies),
                   "off_topic_answered": sum(r.kind is ReplyKind.ANSWER for r in off),
                   "paraphrases": len(replies), "train_s": round(train_s, 1)}
        print(f"  helpdesk {v}: {rows[v]}", flush=True)
    return rows


def speed_part(args, variants: list[str], bot) -> dict:
    import torch

    import intents as ibench
    from smallbot.encoding.quantize import quantized_encoder

    test = yaml.safe_load((REPO / "tests" / "data" / "helpdesk_paraphrases.yml").read_text())
    texts = [p["text"] for p in test["paraphrases"]] + list(test["off_topic"])
    batch_texts = ibench.load(args.data, "data_full.json", False, None, 0)["test"][0][:320]
    runs = 2 if args.quick else 5
    rows: dict = {}
    for v in variants:
        enc = quantized_encoder(bot.encoder, "none" if v == "fp32" else v)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rows[f"{v} threads{threads}"] = speed(enc, texts, runs, batch_texts)
            print(f"  speed {v} threads {threads}: {rows[f'{v} threads{threads}']}", flush=True)
    torch.set_num_threads(os.cpu_count() or 1)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--parts", default="stackfaq,clinc", help="stackfaq, clinc, helpdesk, speed")
    parser.add_argument("--variants", default="fp32,int8,int8-ffn")
    parser.add_argument("--intent-methods", default="lr", help="lr and/or smallbot (the product's frozen head)")
    parser.add_argument("--quick", action="store_true", help="CLINC150 20 intents; fewer timing runs")
    parser.add_argument("--steps", type=int, default=30, help="StackFAQ retriever fine-tuning steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--query-batch", type=int, default=1,
                        help="batch size for test/val messages (1 = one at a time, as served in-process; int8 "
                             "activations are scaled per batch, so its embeddings depend on the batch)")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--out-suffix", default="")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "smallbot-quantize",
                        help="where the helpdesk part trains its copies (kept, reused when present)")
    args = parser.parse_args(argv)
    args.intent_methods = args.intent_methods.split(",")
    parts = args.parts.split(",")
    variants = args.variants.split(",")
    results: dict = {"load_avg_start": os.getloadavg(), "parts": parts, "variants": variants}
    if "stackfaq" in parts:
        results["stackfaq"] = stackfaq_part(args, variants)
    if "clinc" in parts:
        results["clinc"] = clinc_part(args, variants)
    if "helpdesk" in parts:
        results["helpdesk"] = helpdesk_part(args, variants)
    if "speed" in parts:
        from smallbot.runtime.bot import Bot
        from smallbot.encoding.encoder import Encoder

        bot = Bot.load(args.bot, train=True, with_store=False)
        if not isinstance(bot.encoder, Encoder):  # a traced serving encoder cannot be re-quantised: load it eager
            tuned = args.bot / ".smallbot" / "knowledge" / "encoder"
            bot.encoder = Encoder(tuned if tuned.is_dir() else "all-MiniLM-L6-v2").load()
        results["speed"] = speed_part(args, variants, bot)
    results["load_avg_end"] = os.getloadavg()
    name = "quantize" + (f"-{args.out_suffix}" if args.out_suffix else "")
    save(name, results)
    report(results)
    return 0


def report(results: dict) -> None:
    la0, la1 = results["load_avg_start"][0], results["load_avg_end"][0]
    print(f"\nload average {la0:.2f} -> {la1:.2f}")
    if "stackfaq" in results:
        print("\nStackFAQ test (fine-tuned retriever, calibrated confidence; thresholds from validation / train time)")
        print("| variant | hit@1 | hit@5 | MRR | val 90%-bound rule: answered / wrong | val point rule: answered / wrong "
              "| train-time threshold: answered / wrong | oos answered (bound rule) |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in results["stackfaq"].items():
            print(f"| {name} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | {r['mrr']:.3f} | "
                  f"{100 * r['bound_test_answered']:.1f}% / {100 * r['bound_test_wrong_of_answered']:.1f}% | "
                  f"{100 * r['test_answered']:.1f}% / {100 * r['test_wrong_of_answered']:.1f}% | "
                  f"{100 * r['train_test_answered']:.1f}% / {100 * r['train_test_wrong_of_answered']:.1f}% | "
                  f"{100 * r['bound_test_oos_answered']:.0f}% |")
    if "clinc" in results:
        print("\nCLINC150 (packaged encoder; thresholds from validation)")
        print("| variant | in-scope accuracy | acc. with rejects (balanced) | OOS recall (balanced) "
              "| acc. with rejects (90% OOS recall on val) | OOS recall | AUROC |")
        print("|---|---|---|---|---|---|---|")
        for name, r in results["clinc"].items():
            b, q = r["balanced"], r["recall90"]
            print(f"| {name} | {100 * r['accuracy']:.1f} | {100 * b['accuracy_with_rejects']:.1f} | "
                  f"{100 * b['oos_recall']:.1f} | {100 * q['accuracy_with_rejects']:.1f} | {100 * q['oos_recall']:.1f} | "
                  f"{r['auroc']:.3f} |")
    if "helpdesk" in results:
        print("\nexamples/helpdesk trained per variant, held-out paraphrases through Bot.handle")
        print("| variant | right FAQ first | answered | wrong answers | off-topic answered |\n|---|---|---|---|---|")
        for name, r in results["helpdesk"].items():
            print(f"| {name} | {100 * r['hit@1']:.1f}% | {r['answered']} of {r['paraphrases']} | {r['wrong_answers']} | "
                  f"{r['off_topic_answered']} |")
    if "speed" in results:
        print("\n| encoder | single p50 ms | single p99 ms | batch-32 sent/s |\n|---|---|---|---|")
        for name, s in results["speed"].items():
            print(f"| {name} | {s['single_p50_ms']:.2f} | {s['single_p99_ms']:.2f} | {s['batch32_sentences_per_s']:.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
