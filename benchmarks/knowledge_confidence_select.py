"""Choose how the FAQ confidence is fitted, on StackFAQ VALIDATION only (the test split is never read here).

Frozen MiniLM + rapidfuzz fusion, indexing each FAQ's question + train rephrasings (as benchmarks/knowledge.py).
Variants: the fused score itself; the calibrated confidence fitted on held-out train phrasings + CLINC150
oos_train, without and with typo'd copies. For each, the answered rate and wrong rate on the validation
rephrasings + oos_val at the validation threshold chosen by the point rule and by the 90% Wilson-bound rule.

    python benchmarks/knowledge_confidence_select.py [--data benchmarks/data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from knowledge import OUT, REPO, choose_threshold, load_oos, load_stackfaq  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-wrong-rate", type=float, default=0.02)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.base import KnowledgeBase
    from smallbot.knowledge.calibrate import calibrate, leave_one_out_queries
    from smallbot.knowledge.entries import FaqEntry

    faqs, splits = load_stackfaq(args.data, args.seed)
    neg_train, neg_val, _ = load_oos(args.data, 100, args.seed)
    train_by = {f["id"]: [t for t, o in splits["train"] if o == f["id"]] for f in faqs}
    entries = [FaqEntry(f["id"], f["question"], tuple(train_by[f["id"]]), f["answer"]) for f in faqs]
    encoder = Encoder("all-MiniLM-L6-v2").load()
    kb = KnowledgeBase.build(entries, encoder.encode)
    val = splits["val"]
    val_vectors = encoder.encode([t for t, _ in val])
    neg_vectors = encoder.encode(neg_val)
    loo = leave_one_out_queries(kb, encoder.encode)
    neg_train_vectors = encoder.encode(neg_train)
    results = {"command": " ".join(["python", "benchmarks/knowledge_confidence_select.py", *(argv or sys.argv[1:])]),
               "load_average_at_start": os.getloadavg()}
    for name, typos in (("fused score", None), ("confidence, no typo copies", False),
                        ("confidence + typo copies", True)):
        kb.confidence = None
        if typos is not None:
            cal = calibrate(kb, loo, neg_train, neg_train_vectors, args.target_wrong_rate, seed=args.seed,
                            encode=encoder.encode if typos else None)
            kb.confidence = cal.confidence
        scores, right = [], []
        for (text, truth), vector in zip(val, val_vectors):
            hits = kb.search(text, vector)
            scores.append(hits[0].score)
            right.append(hits[0].entry_id == truth)
        neg = [kb.search(text, vector)[0].score for text, vector in zip(neg_val, neg_vectors)]
        row = {}
        for rule, bound in (("point", False), ("bound", True)):
            t = choose_threshold(scores, right, neg, args.target_wrong_rate, bound)
            pos, r, n = np.array(scores), np.array(right), np.array(neg)
            answered = int((pos >= t).sum() + (n >= t).sum())
            wrong = int(((pos >= t) & ~r).sum() + (n >= t).sum())
            row[rule] = {"threshold": round(t, 4), "val_answered": round(float((pos >= t).mean()), 4),
                         "val_wrong_of_answered": round(wrong / max(answered, 1), 4),
                         "val_oos_answered": round(float((n >= t).mean()), 4)}
        results[name] = row
        print(f"{name}: {row}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "knowledge_confidence_select.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
