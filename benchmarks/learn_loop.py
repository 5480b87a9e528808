"""What the learning loop buys, on StackFAQ (125 FAQ questions, ~1250 user rephrasings).

Simulation, per FAQ entry the rephrasings are split (seed 0) into a *log* half (what users asked the bot)
and a held-out *test* half. The bot starts with the FAQ questions only (no alternates). Log questions
whose best fused score is under the default answer band (0.75, not tuned) are written to a real
SQLiteStore as fallback / suggest turns; `smallbot.analytics.learn.propose` (the code behind `smallbot learn`, with
its default thresholds) turns them into proposals. Then:

- proposal precision: share of FAQ proposals whose target is the rephrasing's true entry;
- the held-out test half is searched with knowledge bases built from
  (a) questions only (same-run baseline), (b) + the proposals a reviewer accepts (the correct ones),
  (c) + every proposal accepted blindly, (d) + every log rephrasing under its true entry (oracle);
  hit@1 and "answered correctly" (top-1 right and score >= the answer band) are reported for each.

    python benchmarks/learn_loop.py [--data benchmarks/data] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from smallbot.project.config import BotConfig  # noqa: E402
from smallbot.encoding.encoder import Encoder  # noqa: E402
from smallbot.intents.dataset import IntentDataset  # noqa: E402
from smallbot.knowledge.base import Bands, KnowledgeBase  # noqa: E402
from smallbot.knowledge.entries import FaqEntry  # noqa: E402
from smallbot.analytics.learn import FAQ, propose  # noqa: E402
from smallbot.project.loader import Project  # noqa: E402
from smallbot.store import SQLiteStore  # noqa: E402
from smallbot.types import Message, Reply, ReplyKind, Suggestion  # noqa: E402


def load_stackfaq(data: Path, quick: bool) -> tuple[list[FaqEntry], list[tuple[str, str]], list[tuple[str, str]]]:
    path = data / "stackfaq" / "stackExchange-FAQ.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: pass --data pointing at the benchmark data folder (benchmarks/data holds CLINC150 and StackFAQ)")
    pairs = json.loads(path.read_text())["root"]["qapair"]
    rng = random.Random(0)
    entries, log, test = [], [], []
    for number, pair in enumerate(pairs):
        question = " ".join(str(pair["question"]).split())
        rephrasings = [" ".join(str(r).split()) for r in pair.get("rephr") or []]
        rephrasings = [r for r in dict.fromkeys(rephrasings) if len(r) > 3 and r.casefold() != question.casefold()]
        entry_id = f"faq-{number}"
        entries.append(FaqEntry(entry_id, question, (), "(answer)"))
        rng.shuffle(rephrasings)
        half = len(rephrasings) // 2
        log += [(text, entry_id) for text in rephrasings[:half]]
        test += [(text, entry_id) for text in rephrasings[half:]]
    if quick:
        keep = {e.id for e in entries[:40]}
        entries = [e for e in entries if e.id in keep]
        log = [x for x in log if x[1] in keep]
        test = [x for x in test if x[1] in keep]
    return entries, log, test


def evaluate(entries: list[FaqEntry], test: list[tuple[str, str]], encode, test_vectors, bands: Bands) -> dict:
    kb = KnowledgeBase.build(entries, encode, bands)
    hit, answered = 0, 0
    for (text, truth), vector in zip(test, test_vectors):
        hits = kb.search(text, vector, k=1)
        if hits and hits[0].entry_id == truth:
            hit += 1
            answered += hits[0].score >= bands.answer
    return {"hit@1": hit / len(test), "answered_correctly": answered / len(test),
            "phrasings": sum(len(e.phrasings) for e in entries)}


def with_alternates(entries: list[FaqEntry], additions: list[tuple[str, str]]) -> list[FaqEntry]:
    extra: dict[str, list[str]] = {}
    for text, entry_id in additions:
        extra.setdefault(entry_id, []).append(text)
    return [replace(e, alternates=tuple(dict.fromkeys([*e.alternates, *extra.get(e.id, [])]))) for e in entries]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--quick", action="store_true", help="40 FAQ entries instead of 125")
    args = parser.parse_args()
    started = time.perf_counter()
    entries, log, test = load_stackfaq(args.data, args.quick)
    encoder = Encoder("all-MiniLM-L6-v2").load()
    encode = lambda texts: encoder.encode(list(texts))  # noqa: E731
    bands = Bands()
    truth = dict(log)

    # 1. the bot (questions only) meets the log; what it does not answer confidently goes into the store
    kb = KnowledgeBase.build(entries, encode, bands)
    log_vectors = encode([text for text, _ in log])
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "log.sqlite3")
        unanswered = 0
        for i, ((text, _), vector) in enumerate(zip(log, log_vectors)):
            top = kb.search(text, vector, k=3)
            if top and top[0].score >= bands.answer:
                kind, suggestions = ReplyKind.ANSWER, ()
            elif top and top[0].score >= bands.suggest:
                kind, suggestions = ReplyKind.SUGGEST, tuple(Suggestion(h.entry_id, h.question) for h in top)
            else:
                kind, suggestions = ReplyKind.FALLBACK, ()
            unanswered += kind is not ReplyKind.ANSWER
            store.log_turn(Message(f"c{i}", text), Reply(kind, "...", f"c{i}", suggestions=suggestions))
        project = Project(REPO, BotConfig(), IntentDataset(()), tuple(entries))
        proposals = propose(project, store, encode)
        store.close()

    faq = [p for p in proposals if p.add_to == FAQ]
    correct = [p for p in faq if truth.get(p.text) == p.target]
    test_vectors = encode([text for text, _ in test])
    runs = {
        "questions only (baseline)": entries,
        "+ reviewed proposals (correct ones accepted)": with_alternates(entries, [(p.text, p.target) for p in correct]),
        "+ every proposal accepted blindly": with_alternates(entries, [(p.text, p.target) for p in faq]),
        "+ every log rephrasing (oracle)": with_alternates(entries, log),
    }
    results = {name: evaluate(e, test, encode, test_vectors, bands) for name, e in runs.items()}
    summary = {
        "entries": len(entries), "log_questions": len(log), "test_questions": len(test),
        "unanswered_in_log": unanswered, "proposals": len(proposals), "faq_proposals": len(faq),
        "new_entry_proposals": sum(p.add_to == "new" for p in proposals),
        "proposal_precision": len(correct) / len(faq) if faq else 0.0,
        "answer_band": bands.answer, "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"StackFAQ{' (quick: 40 entries)' if args.quick else ''}: {len(entries)} entries, {len(log)} log / "
          f"{len(test)} test rephrasings; {unanswered} log questions under the answer band {bands.answer}")
    print(f"proposals: {len(proposals)} ({len(faq)} to existing entries, precision {summary['proposal_precision']:.3f}; "
          f"{summary['new_entry_proposals']} as new entries)\n")
    base = results["questions only (baseline)"]
    print("| knowledge base | phrasings | test hit@1 | test answered correctly | vs baseline |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['phrasings']} | {r['hit@1']:.3f} | {r['answered_correctly']:.3f} | "
              f"{r['answered_correctly'] / base['answered_correctly']:.2f}x |")
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "learn_loop.json").write_text(json.dumps({"summary": summary, "results": results,
                                                     "machine": platform.platform()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
