"""The example bot's FAQ retrieval on its held-out TEST paraphrases (tests/data/helpdesk_paraphrases.yml).

Trains a copy of examples/helpdesk with the packaged encoder (frozen) and with the encoder fine-tuned
for each `--steps` value, then measures hit@1/5, MRR and the answered / wrong rates at the calibrated
answer threshold on the paraphrases, and how many off-topic messages would be answered. Nothing is
chosen on this file: it is the test set, read only here, after training.

    python benchmarks/knowledge_helpdesk.py [--steps 0 -1] [--quick]
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data", help="unused (no dataset needed)")
    parser.add_argument("--steps", type=int, nargs="*", default=[0, -1],
                        help="fine-tuning steps to compare; 0 = frozen encoder, -1 = as configured in the bot's bot.yml")
    parser.add_argument("--quick", action="store_true", help="frozen encoder only")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import train_project
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.evaluation import evaluate_knowledge
    from smallbot.project.loader import load_project

    test = yaml.safe_load((REPO / "tests" / "data" / "helpdesk_paraphrases.yml").read_text())
    queries = [(p["text"], p["faq"]) for p in test["paraphrases"]]
    off_topic = list(test["off_topic"])
    base = Encoder("all-MiniLM-L6-v2").load()
    results = {"command": " ".join(["python", "benchmarks/knowledge_helpdesk.py", *(argv or sys.argv[1:])]),
               "load_average_at_start": os.getloadavg()}
    for steps in ([0] if args.quick else args.steps):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "helpdesk"
            shutil.copytree(REPO / "examples" / "helpdesk", root, ignore=shutil.ignore_patterns(".smallbot"))
            if steps >= 0:
                config = yaml.safe_load((root / "bot.yml").read_text()) or {}
                config.setdefault("knowledge", {})["finetune_steps"] = steps
                (root / "bot.yml").write_text(yaml.safe_dump(config))
            t0 = time.perf_counter()
            build = train_project(load_project(root), encoder=base)
            seconds = time.perf_counter() - t0
            bot = Bot.load(root, with_store=False)
            ev = evaluate_knowledge(bot.knowledge, bot.encoder.encode, OUT / f"helpdesk-{steps}", queries=queries,
                                    negatives=off_topic)
            row = {**ev.as_dict(), "train_seconds": round(seconds, 1), "calibration": build.metrics["knowledge"]}
            results[f"steps={steps}"] = row
            print(f"steps={steps}: {row}", flush=True)
    results["load_average_at_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "knowledge_helpdesk.json").write_text(json.dumps(results, indent=2))
    print("\n| encoder | hit@1 | hit@5 | MRR | answer threshold | answered | wrong/answered | off-topic answered | train s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, r in results.items():
        if key.startswith("steps="):
            print(f"| {'frozen' if key == 'steps=0' else 'as configured in bot.yml' if key == 'steps=-1' else 'fine-tuned ' + key} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | "
                  f"{r['mrr']:.3f} | {r['answer_threshold']:.3f} | {r['answered_rate']:.3f} | {r['wrong_rate']:.3f} | "
                  f"{r['negatives_answered']:.3f} | {r['train_seconds']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
