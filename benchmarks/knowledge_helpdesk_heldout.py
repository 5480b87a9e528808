"""Why the example bot answers few messages directly: its own held-out evidence (no test data read here).

Frozen encoder, examples/helpdesk: every phrasing searched with its own row left out, plus the bot's small-talk
and out-of-scope examples, scored by the calibrated confidence out-of-fold (as `smallbot train` does). Prints
how many of the N most confident held-out messages have a wrong top entry, and the wrong ones in the top 40.

    python benchmarks/knowledge_helpdesk_heldout.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from smallbot.build.pipeline import negative_examples
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.base import KnowledgeBase
    from smallbot.knowledge.calibrate import held_out_candidates, leave_one_out_queries, out_of_fold, typo_copies
    from smallbot.knowledge.prior import load_prior
    from smallbot.project.loader import load_project

    project = load_project(REPO / "examples" / "helpdesk")
    encoder = Encoder("all-MiniLM-L6-v2").load()
    kb = KnowledgeBase.build(list(project.knowledge), encoder.encode)
    queries = leave_one_out_queries(kb, encoder.encode)
    negatives = negative_examples(project)
    items = held_out_candidates(kb, queries, negatives, encoder.encode(negatives))
    measured = len(items)
    items += typo_copies(kb, queries, encoder.encode)
    scored = out_of_fold(items, load_prior())[:measured]
    top = np.array([hits[0].score for hits in scored])
    right = np.array([hits[0].entry_id == item.truth for hits, item in zip(scored, items)])
    off_topic = np.array([item.truth is None for item in items[:measured]])
    order = np.argsort(-top)
    print(f"{len(queries)} held-out phrasings + {len(negatives)} off-topic examples")
    for n in (10, 20, 40, 60, 80, 120, 160, 200):
        chosen = order[:n]
        print(f"top {n}: confidence >= {top[chosen[-1]]:.3f}, wrong {int((~right[chosen]).sum())}, "
              f"off-topic {int(off_topic[chosen].sum())}")
    for i in order[:40]:
        if not right[i]:
            print(f"  wrong: {items[i].text!r} (truth {items[i].truth}) -> {scored[i][0].entry_id} {top[i]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
