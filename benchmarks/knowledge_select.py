"""Choose the retriever fine-tuning settings of a bot on VALIDATION data only: held-out alternates.

For each fold, one alternate of every entry (3+ phrasings) is removed from both fine-tuning and the
index; the fine-tuned encoder must then find its entry. The bot's test paraphrases are never read.

    python benchmarks/knowledge_select.py [--bot examples/helpdesk] [--folds 2] [--grid 0:2 40:2 40:0 80:0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--grid", nargs="*", default=["0:2", "40:2", "40:0", "80:0"], help="steps:layers pairs")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    from smallbot.build.pipeline import negative_examples
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.base import KnowledgeBase
    from smallbot.knowledge.entries import FaqEntry
    from smallbot.knowledge.evaluation import evaluate_knowledge
    from smallbot.knowledge.finetune import FinetuneSettings, finetune_encoder, hold_out_split
    from smallbot.project.loader import load_project

    project = load_project(args.bot)
    base = Encoder(project.config.models.encoder, project.root).load()
    negatives = negative_examples(project)
    rows = []
    for spec in args.grid:
        steps, layers = (int(x) for x in spec.split(":"))
        scores, seconds = [], 0.0
        for fold in range(args.folds):
            groups, held = hold_out_split(project.knowledge, seed=1000 + fold)
            entries = [FaqEntry(e.id, g[0], tuple(g[1:]), e.answer) for e, g in zip(project.knowledge, groups)]
            encoder = base.clone() if steps else base
            t0 = time.perf_counter()
            if steps:
                finetune_encoder(encoder, groups, negatives, None, FinetuneSettings(
                    steps=steps, batch_size=args.batch, train_layers=layers, seed=project.config.seed))
            seconds += time.perf_counter() - t0
            kb = KnowledgeBase.build(entries, encoder.encode)
            result = evaluate_knowledge(kb, encoder.encode, queries=[(text, eid) for eid, text in held])
            scores.append(result.hit_at_1)
        row = {"steps": steps, "layers": layers, "batch": args.batch, "val_hit1": sum(scores) / len(scores),
               "folds": scores, "finetune_s_per_fold": seconds / args.folds}
        rows.append(row)
        print(f"steps {steps:3d} layers {layers} batch {args.batch}: validation hit@1 {row['val_hit1']:.3f} "
              f"(folds {[round(s, 3) for s in scores]}), fine-tune {row['finetune_s_per_fold']:.0f} s/fold", flush=True)
    best = max(rows, key=lambda r: r["val_hit1"])
    save("knowledge_select", {"bot": str(args.bot), "rows": rows, "best": best})
    print(f"best on validation: steps {best['steps']} layers {best['layers']} (hit@1 {best['val_hit1']:.3f})")


if __name__ == "__main__":
    main()
