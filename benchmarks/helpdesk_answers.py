"""What a customer of the example bot gets: every message through the whole Bot (fast path, intents, FAQ
confidence, decide), counted by what the reply does.

Trains a copy of examples/helpdesk (with each `--steps` value of knowledge fine-tuning; -1 = as bot.yml says)
and sends it the hand-written VALIDATION paraphrases and off-topic messages (benchmarks/data/
helpdesk_validation.yml), where settings are chosen. `--test` adds the test set (tests/data/
helpdesk_paraphrases.yml), read only to report.

    python benchmarks/helpdesk_answers.py [--steps 0 -1] [--test]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
SETS = {"validation": REPO / "benchmarks" / "data" / "helpdesk_validation.yml",
        "test": REPO / "tests" / "data" / "helpdesk_paraphrases.yml"}


def measure(bot, data: dict) -> dict:
    """Answered directly / wrong among answered / right entry first / suggested with the right entry among the
    suggestions / fallback, for the paraphrases; answered and suggested for the off-topic messages."""
    from smallbot.types import Message, ReplyKind

    counts = {"answered": 0, "wrong": 0, "right_first": 0, "suggested": 0, "suggested_right": 0, "fallback": 0,
              "related_right": 0}
    misses = []
    for i, item in enumerate(data["paraphrases"]):
        reply = bot.handle(Message(f"p{i}", item["text"]))
        ids = [s.entry_id for s in reply.suggestions]
        if reply.kind is ReplyKind.ANSWER:
            counts["answered"] += 1
            right = reply.sources[0].entry_id == item["faq"]
            counts["right_first"] += right
            counts["wrong"] += not right
            counts["related_right"] += (not right) and item["faq"] in ids
            if not right:
                misses.append((item["text"], item["faq"], reply.sources[0].entry_id))
        elif reply.kind is ReplyKind.SUGGEST:
            counts["suggested"] += 1
            counts["right_first"] += ids[0] == item["faq"]
            counts["suggested_right"] += item["faq"] in ids
        else:
            counts["fallback"] += 1
    n = len(data["paraphrases"])
    off = [bot.handle(Message(f"o{i}", text)) for i, text in enumerate(data["off_topic"])]
    # the intent classifier's own out-of-scope verdict (what routes respond / handoff / small talk)
    flags = {}
    for name, texts in (("paraphrases", [p["text"] for p in data["paraphrases"]]), ("off_topic", data["off_topic"])):
        flags[name] = [p.out_of_scope for p in bot.classifier.predict(bot.encoder.encode(texts))]
    answered_off = [t for t, r in zip(data["off_topic"], off) if r.kind is ReplyKind.ANSWER]
    return {"paraphrases": n, "answered": round(counts["answered"] / n, 4),
            "wrong_of_answered": round(counts["wrong"] / max(counts["answered"], 1), 4),
            "right_first": round(counts["right_first"] / n, 4),
            "suggested": round(counts["suggested"] / n, 4),
            "right_among_suggestions": round(counts["suggested_right"] / max(counts["suggested"], 1), 4),
            "fallback": round(counts["fallback"] / n, 4),
            "wrong_answers_with_the_right_entry_related": counts["related_right"],
            "off_topic": len(off), "off_topic_answered": len(answered_off),
            "off_topic_suggested": sum(r.kind is ReplyKind.SUGGEST for r in off),
            "intent_in_scope_kept": round(1 - sum(flags["paraphrases"]) / n, 4),
            "intent_oos_recall": round(sum(flags["off_topic"]) / len(off), 4),
            "off_topic_answered_texts": answered_off, "wrong_answers": misses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="*", default=[-1],
                        help="knowledge fine-tuning steps; 0 = frozen encoder, -1 = as the bot's bot.yml says")
    parser.add_argument("--layers", type=int, default=0, help="with --steps > 0: top layers that learn (0 = all)")
    parser.add_argument("--batch", type=int, default=32, help="with --steps > 0: entries per step")
    parser.add_argument("--calibration", default="held_out", help="with --steps > 0: knowledge.calibration")
    parser.add_argument("--offtopic-margin", type=float, default=None,
                        help="replace knowledge.base.OFFTOPIC_MARGIN (-1 turns the off-topic gate off)")
    parser.add_argument("--test", action="store_true", help="also report the test set")
    parser.add_argument("--sweep", type=float, nargs="*", default=[],
                        help="answer thresholds to try on the validation set after training (the curve behind "
                             "thresholds.target_wrong_answer_rate)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import train_project
    from smallbot.encoding.encoder import Encoder
    from smallbot.project.loader import load_project

    if args.offtopic_margin is not None:
        import smallbot.knowledge.base

        smallbot.knowledge.base.OFFTOPIC_MARGIN = args.offtopic_margin
    sets = {name: yaml.safe_load(path.read_text()) for name, path in SETS.items() if name == "validation" or args.test}
    base = Encoder("all-MiniLM-L6-v2").load()
    results: dict = {"command": " ".join(["python", "benchmarks/helpdesk_answers.py", *(argv or sys.argv[1:])]),
                     "load_average_at_start": os.getloadavg()}
    for steps in args.steps:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "helpdesk"
            shutil.copytree(REPO / "examples" / "helpdesk", root, ignore=shutil.ignore_patterns(".smallbot"))
            if steps >= 0:
                config = yaml.safe_load((root / "bot.yml").read_text()) or {}
                config.setdefault("knowledge", {})["finetune_steps"] = steps
                if steps > 0:
                    config["knowledge"].update(finetune_layers=args.layers, finetune_batch=args.batch,
                                               calibration=args.calibration)
                (root / "bot.yml").write_text(yaml.safe_dump(config))
            t0 = time.perf_counter()
            build = train_project(load_project(root), encoder=base, report=lambda m: print("  " + m, flush=True))
            row: dict = {"train_seconds": round(time.perf_counter() - t0, 1), "build": build.metrics.get("knowledge")}
            bot = Bot.load(root, with_store=False)
            for name, data in sets.items():
                row[name] = measure(bot, data)
                brief = {k: v for k, v in row[name].items() if not isinstance(v, list)}
                print(f"steps={steps} {name}: {brief}", flush=True)
            trained = bot.policy
            for threshold in args.sweep:
                bot.policy = dataclasses.replace(trained, faq_answer=threshold,
                                                 faq_suggest=min(trained.faq_suggest, threshold))
                brief = {k: v for k, v in measure(bot, sets["validation"]).items() if not isinstance(v, list)}
                row.setdefault("sweep", {})[str(threshold)] = brief
                print(f"steps={steps} validation at answer threshold {threshold}: {brief}", flush=True)
            bot.policy = trained
            bot.close()
            results[f"steps={steps}"] = row
    results["load_average_at_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "helpdesk_answers.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
