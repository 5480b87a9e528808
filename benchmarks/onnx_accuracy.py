"""Does serving from ONNX move any accuracy figure? The same builds, queried through the eager encoder, its
TorchScript trace and its ONNX export, in one run.

  StackFAQ     a knowledge base trained as `smallbot train` trains one (question + train rephrasings, the
               shipped prior, default settings, untuned encoder); test rephrasings ranked with query vectors
               from each runtime: hit@1, and answered / wrong at the trained answer threshold.
  example bot  examples/helpdesk trained once (ONNX export); a copy re-exported to TorchScript; and the eager
               encoder: right entry first, answered, wrong answers and off-topic answers on the hand-written
               validation set (benchmarks/data) and the test set (tests/data).

    python benchmarks/onnx_accuracy.py [--data benchmarks/data] [--quick]

Accuracy only, no timings: safe to run on a shared machine. Results: a table on stdout and
benchmarks/out/onnx_accuracy.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save  # noqa: E402

RUNTIMES = ("eager", "torchscript", "onnx")


def runtimes(encoder, scratch: Path, check_texts: list[str]) -> dict:
    """The eager encoder and its two exports (both verified against it as `smallbot train` does)."""
    from smallbot.encoding.onnx_encoder import OnnxEncoder
    from smallbot.encoding.onnx_export import export_onnx
    from smallbot.encoding.torchscript import ExportedEncoder, export_encoder

    if not export_encoder(encoder, scratch / "ts", check_texts):
        raise SystemExit("the TorchScript trace disagrees with the eager encoder")
    export_onnx(encoder, scratch / "onnx", np.zeros((0, encoder.dim), dtype=np.float32), [])
    return {"eager": encoder, "torchscript": ExportedEncoder(scratch / "ts").load(),
            "onnx": OnnxEncoder(scratch / "onnx").load()}


def stackfaq(data: Path, quick: bool, scratch: Path) -> dict:
    from knowledge import load_oos, load_stackfaq

    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.entries import FaqEntry
    from smallbot.knowledge.finetune import FinetuneSettings
    from smallbot.knowledge.train import train_knowledge_base

    faqs, splits = load_stackfaq(data, 0)
    neg_train, _, neg_test, _ = load_oos(data, 100, 0)
    if quick:
        keep = {f["id"] for f in faqs[:40]}
        faqs = [f for f in faqs if f["id"] in keep]
        splits = {k: [(t, f) for t, f in v if f in keep] for k, v in splits.items()}
        neg_test = neg_test[:40]
    train_by = {f["id"]: [t for t, o in splits["train"] if o == f["id"]] for f in faqs}
    entries = [FaqEntry(f["id"], f["question"], tuple(train_by[f["id"]]), f["answer"]) for f in faqs]
    encoder = Encoder("all-MiniLM-L6-v2").load()
    kb = train_knowledge_base(entries, neg_train, encoder, finetune=FinetuneSettings(steps=0),
                              target_wrong_rate=0.02, calibration="held_out", index_answers=True).kb
    test = splits["test"]
    queries = [t for t, _ in test] + neg_test
    out = {}
    for name, enc in runtimes(encoder, scratch / "stackfaq", queries[:200]).items():
        vectors = enc.encode(queries)
        hits = [kb.search(q, v, k=5) for q, v in zip(queries, vectors)]
        firsts = [h[0] if h else None for h in hits]
        right = [f is not None and f.entry_id == truth for f, (_, truth) in zip(firsts, test)]
        answered = [f is not None and f.score >= kb.bands.answer for f in firsts]
        n = len(test)
        answered_test = sum(answered[:n])
        wrong = sum(a and not r for a, r in zip(answered[:n], right))
        out[name] = {
            "hit@1": round(sum(right) / n, 4),
            "answered": round(answered_test / n, 4),
            "wrong_of_answered": round(wrong / max(1, answered_test), 4),
            "offtopic_answered": round(sum(answered[n:]) / max(1, len(neg_test)), 4),
            "top1_ids": [f.entry_id if f else None for f in firsts],
        }
    base = out["eager"]["top1_ids"]
    for name in RUNTIMES:
        out[name]["top1_differs_from_eager"] = sum(a != b for a, b in zip(out[name].pop("top1_ids"), base))
    return {"faqs": len(faqs), "test_rephrasings": len(test), "offtopic": len(neg_test), **out}


def example_bot(scratch: Path) -> dict:
    from smallbot.build.pipeline import export_serving_encoder, train_project
    from smallbot.encoding.encoder import Encoder
    from smallbot.project.loader import load_project
    from smallbot.runtime.bot import Bot
    from smallbot.types import Message, ReplyKind

    onnx_root = scratch / "onnx" / "helpdesk"
    shutil.copytree(REPO / "examples" / "helpdesk", onnx_root, ignore=shutil.ignore_patterns(".smallbot"))
    train_project(load_project(onnx_root))
    ts_root = scratch / "torchscript" / "helpdesk"
    shutil.copytree(onnx_root, ts_root)
    export_serving_encoder(load_project(ts_root), "torchscript")
    eager = Encoder("all-MiniLM-L6-v2").load()
    bots = {"eager": Bot.from_build(load_project(onnx_root), encoder=eager, with_store=False),
            "torchscript": Bot.from_build(load_project(ts_root), with_store=False),
            "onnx": Bot.from_build(load_project(onnx_root), with_store=False)}
    assert type(bots["torchscript"].encoder).__name__ == "ExportedEncoder"
    assert type(bots["onnx"].encoder).__name__ == "OnnxEncoder"
    sets = {"validation": REPO / "benchmarks" / "data" / "helpdesk_validation.yml",
            "test": REPO / "tests" / "data" / "helpdesk_paraphrases.yml"}
    out: dict = {}
    for set_name, path in sets.items():
        data = yaml.safe_load(path.read_text())
        for name, bot in bots.items():
            replies = [bot.handle(Message(f"p{i}", p["text"])) for i, p in enumerate(data["paraphrases"])]
            first = [r.sources[0].entry_id if r.kind is ReplyKind.ANSWER else
                     (r.suggestions[0].entry_id if r.kind is ReplyKind.SUGGEST else None) for r in replies]
            truth = [p["faq"] for p in data["paraphrases"]]
            answered = [r.kind is ReplyKind.ANSWER for r in replies]
            off = [bot.handle(Message(f"o{i}", t)).kind is ReplyKind.ANSWER for i, t in enumerate(data["off_topic"])]
            n = len(replies)
            out.setdefault(set_name, {})[name] = {
                "right_first": round(sum(f == t for f, t in zip(first, truth)) / n, 4),
                "answered": round(sum(answered) / n, 4),
                "wrong_answers": sum(a and f != t for a, f, t in zip(answered, first, truth)),
                "offtopic_answered": f"{sum(off)} of {len(off)}",
                "replies": [(r.kind.value, f) for r, f in zip(replies, first)],
            }
        base = out[set_name]["eager"]["replies"]
        for name in RUNTIMES:
            out[set_name][name]["replies_differ_from_eager"] = sum(
                a != b for a, b in zip(out[set_name][name].pop("replies"), base))
    for bot in bots.values():
        bot.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--quick", action="store_true", help="40 StackFAQ entries: a smoke run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = {"stackfaq": stackfaq(args.data, args.quick, Path(tmp)), "example_bot": example_bot(Path(tmp))}
    command = " ".join(["python", "benchmarks/onnx_accuracy.py", *(argv if argv is not None else sys.argv[1:])])
    path = save("onnx_accuracy", {"command": command, **results})
    s = results["stackfaq"]
    print(f"\nStackFAQ ({s['faqs']} FAQs, {s['test_rephrasings']} test rephrasings, {s['offtopic']} off-topic)")
    print("| runtime | hit@1 | answered | wrong of answered | off-topic answered | top-1 differs from eager |")
    print("|---|---|---|---|---|---|")
    for name in RUNTIMES:
        r = s[name]
        print(f"| {name} | {r['hit@1']:.4f} | {r['answered']:.4f} | {r['wrong_of_answered']:.4f} | "
              f"{r['offtopic_answered']:.4f} | {r['top1_differs_from_eager']} |")
    for set_name, by in results["example_bot"].items():
        print(f"\nexample bot, {set_name} set")
        print("| runtime | right first | answered | wrong answers | off-topic answered | replies differ from eager |")
        print("|---|---|---|---|---|---|")
        for name in RUNTIMES:
            r = by[name]
            print(f"| {name} | {r['right_first']:.4f} | {r['answered']:.4f} | {r['wrong_answers']} | "
                  f"{r['offtopic_answered']} | {r['replies_differ_from_eager']} |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
