"""FAQ retrieval benchmark: StackFAQ quality (fine-tuned vs same-run baselines) and a synthetic FAISS index.

StackFAQ: each FAQ's rephrasings are split (seeded) into train / validation / test. Every method indexes
the FAQ question plus its train rephrasings; thresholds are calibrated on validation rephrasings (and
CLINC150 oos_val as off-topic negatives) and reported on test rephrasings (and oos_test).

Synthetic: N clustered 384-d unit vectors (perturbed copies of random centres, like paraphrase
embeddings), built with `FaissIndex.build` (exact or IVF by size), single-query p50/p99 latency and
recall@10 against exact search on perturbed held-out queries. benchmarks/index_scale.py is the fuller
scale benchmark (a set grown from real sentence embeddings too, delete / update cost, cached builds).

    python benchmarks/knowledge.py [--data benchmarks/data] [--quick] [--skip-synthetic] [--skip-stackfaq]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


# -- data -------------------------------------------------------------------------------------------

def load_stackfaq(data: Path, seed: int, split=(0.5, 0.2)) -> tuple[list[dict], dict[str, list[tuple[str, str]]]]:
    """FAQs (id, question, answer) and {train, val, test}: (rephrasing, faq id), split within each FAQ."""
    raw = json.loads((data / "stackfaq" / "stackExchange-FAQ.json").read_text())["root"]["qapair"]
    rng = random.Random(seed)
    faqs, splits = [], {"train": [], "val": [], "test": []}
    for i, pair in enumerate(raw):
        faq_id = f"faq-{i}"
        answers = pair["answer"] if isinstance(pair["answer"], list) else [pair["answer"]]
        answer = next((a for a in answers if isinstance(a, str) and a.strip()), "")
        faqs.append({"id": faq_id, "question": pair["question"].strip(), "answer": answer})
        rephr = [r.strip() for r in pair["rephr"] if isinstance(r, str) and r.strip() not in ("", "*")]
        rng.shuffle(rephr)
        n_train = int(round(len(rephr) * split[0]))
        n_val = int(round(len(rephr) * split[1]))
        splits["train"] += [(r, faq_id) for r in rephr[:n_train]]
        splits["val"] += [(r, faq_id) for r in rephr[n_train:n_train + n_val]]
        splits["test"] += [(r, faq_id) for r in rephr[n_train + n_val:]]
    return faqs, splits


def load_oos(data: Path, n: int, seed: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """Off-topic messages: CLINC150 oos_train (fine-tuning negatives), oos_val (calibration), oos_test (evaluation:
    `n` of them join the test mix; all 1000, last, give a steadier off-topic answered rate on their own)."""
    raw = json.loads((data / "clinc150" / "data_full.json").read_text())
    rng = random.Random(seed)
    val = [t for t, _ in raw["oos_val"]]
    test = [t for t, _ in raw["oos_test"]]
    train = [t for t, _ in raw["oos_train"]]
    rng.shuffle(val)
    rng.shuffle(test)
    rng.shuffle(train)
    return train[:n], val[:n], test[:n], test


# -- baselines ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75) over documents grouped by FAQ id (best document per FAQ)."""

    def __init__(self, docs: list[str], owners: list[str], k1: float = 1.5, b: float = 0.75):
        self.tokens = [_TOKEN.findall(d.lower()) for d in docs]
        self.owners = owners
        self.k1, self.b = k1, b
        self.avg = float(np.mean([len(t) for t in self.tokens])) or 1.0
        df = Counter(w for t in self.tokens for w in set(t))
        n = len(self.tokens)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self.tf = [Counter(t) for t in self.tokens]

    def rank(self, query: str) -> tuple[list[str], float]:
        q = _TOKEN.findall(query.lower())
        best: dict[str, float] = {}
        for tf, tokens, owner in zip(self.tf, self.tokens, self.owners):
            s = 0.0
            for w in q:
                f = tf.get(w)
                if f:
                    s += self.idf[w] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * len(tokens) / self.avg))
            if s > best.get(owner, -1.0):
                best[owner] = s
        ranked = sorted(best, key=lambda o: -best[o])
        return ranked[:5], best[ranked[0]] if ranked else 0.0


def fuzz_rank(query: str, docs: list[str], owners: list[str]) -> tuple[list[str], float]:
    from rapidfuzz import fuzz, process, utils

    found = process.extract(query, docs, scorer=fuzz.token_set_ratio, processor=utils.default_process, limit=50)
    best: dict[str, float] = {}
    for _, score, i in found:
        best[owners[i]] = max(best.get(owners[i], 0.0), score / 100.0)
    ranked = sorted(best, key=lambda o: -best[o])
    return ranked[:5], best[ranked[0]] if ranked else 0.0


# -- metrics -----------------------------------------------------------------------------------------

def rank_summary(ranked: list[list[str]], truth: list[str]) -> dict:
    from smallbot.knowledge.evaluation import rank_metrics

    hit1, hit5, mrr = rank_metrics(ranked, truth)
    return {"hit@1": round(hit1, 4), "hit@5": round(hit5, 4), "mrr": round(mrr, 4)}


def apply_threshold(threshold: float, scores, right, neg, neg_all=None) -> dict:
    """Answered rate, wrong answers among answered (negatives count as wrong), the same among answered rephrasings
    alone (the target's own measure, no off-topic mixed in) and negatives answered at a threshold; with
    `neg_all` (every oos_test message), the off-topic answered rate on those too."""
    tp, tr, tn = np.array(scores), np.array(right, dtype=bool), np.array(neg)
    answered = (tp >= threshold).sum() + (tn >= threshold).sum()
    wrong = ((tp >= threshold) & ~tr).sum() + (tn >= threshold).sum()
    out = {"threshold": round(threshold, 4), "test_answered": round(float((tp >= threshold).mean()), 4),
           "test_wrong_of_answered": round(float(wrong / max(answered, 1)), 4),
           "test_rephrasings_wrong_of_answered": round(float(((tp >= threshold) & ~tr).sum()
                                                             / max((tp >= threshold).sum(), 1)), 4),
           "test_oos_answered": round(float((tn >= threshold).mean()), 4) if len(tn) else None}
    if neg_all is not None and len(neg_all):
        out["test_oos_all_answered"] = round(float((np.array(neg_all) >= threshold).mean()), 4)
    return out


def choose_threshold(scores, right, neg, target: float, bound: bool) -> float:
    """Lowest validation threshold whose wrong-answer rate (negatives count as wrong) is <= target; with `bound`,
    whose one-sided 90% Wilson upper bound is (the rule `smallbot train` uses)."""
    from smallbot.knowledge.calibrate import wilson_upper

    pos, right, neg = np.array(scores), np.array(right, dtype=bool), np.array(neg)
    threshold = float(max(pos.max(initial=0), neg.max(initial=0))) + 1e-6
    for t in sorted(set(np.concatenate([pos, neg]).tolist()), reverse=True):
        answered = int((pos >= t).sum() + (neg >= t).sum())
        wrong = int(((pos >= t) & ~right).sum() + (neg >= t).sum())
        rate = wilson_upper(wrong, answered) if bound else wrong / max(answered, 1)
        if answered and rate <= target:
            threshold = float(t)
    return threshold


def calibrated(val_scores, val_right, val_neg, test_scores, test_right, test_neg, target: float,
               train_threshold: float | None = None, test_neg_all=None) -> dict:
    """Thresholds chosen on validation (point rule; upper-bound rule) and at train time, each applied to test."""
    out = apply_threshold(choose_threshold(val_scores, val_right, val_neg, target, False),
                          test_scores, test_right, test_neg)
    bound = apply_threshold(choose_threshold(val_scores, val_right, val_neg, target, True),
                            test_scores, test_right, test_neg, test_neg_all)
    out.update({f"bound_{k}": v for k, v in bound.items()})
    if train_threshold is not None:
        train = apply_threshold(train_threshold, test_scores, test_right, test_neg, test_neg_all)
        out.update({f"train_{k}": v for k, v in train.items()})
        # the same threshold on validation: where the train-time method was chosen, before test was read
        val = apply_threshold(train_threshold, val_scores, val_right, val_neg)
        out.update({f"train_val_{k.removeprefix('test_')}": v for k, v in val.items() if k != "threshold"})
    return out


def suggest_band(kb, vectors: dict, test: list[tuple[str, str]], neg_test: list[str]) -> dict:
    """At the knowledge base's own bands: share of test rephrasings suggested, and of those how often the right
    entry is among the (up to 3) suggestions; share of off-topic messages given suggestions."""
    suggested, found, neg_suggested = 0, 0, 0
    for text, truth in test:
        hits = kb.search(text, vectors[text], k=5)
        if hits and kb.bands.suggest <= hits[0].score < kb.bands.answer:
            suggested += 1
            found += truth in [h.entry_id for h in hits if h.score >= kb.bands.suggest][:3]
    for text in neg_test:
        hits = kb.search(text, vectors[text], k=5)
        neg_suggested += bool(hits) and kb.bands.suggest <= hits[0].score < kb.bands.answer
    return {"test_suggested": round(suggested / max(len(test), 1), 4),
            "suggested_right_in_top3": round(found / max(suggested, 1), 4),
            "test_oos_suggested": round(neg_suggested / max(len(neg_test), 1), 4)}


def run_method(name: str, rank_fn, splits, neg_val, neg_test, target, train_threshold: float | None = None,
               neg_test_all: list[str] | None = None) -> dict:
    t0 = time.perf_counter()
    out = {}
    scored = {}
    for split, items in (("val", splits["val"]), ("test", splits["test"])):
        ranked, tops = zip(*[rank_fn(text) for text, _ in items])
        truth = [faq for _, faq in items]
        scored[split] = ([s for s in tops], [bool(r) and r[0] == t for r, t in zip(ranked, truth)])
        if split == "test":
            out.update(rank_summary(list(ranked), truth))
    negs = {k: [rank_fn(t)[1] for t in v] for k, v in (("val", neg_val), ("test", neg_test),
                                                       ("test_all", neg_test_all or []))}
    out.update(calibrated(*scored["val"], negs["val"], *scored["test"], negs["test"], target, train_threshold,
                          negs["test_all"] or None))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"  {name}: {out}", flush=True)
    return out


def stackfaq(args) -> dict:
    from smallbot.project.config import KnowledgeConfig
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.base import KnowledgeBase
    from smallbot.knowledge.entries import FaqEntry
    from smallbot.knowledge.finetune import FinetuneSettings
    from smallbot.knowledge.train import train_knowledge_base

    faqs, splits = load_stackfaq(args.data, args.seed)
    neg_train, neg_val, neg_test, neg_test_all = load_oos(args.data, 100, args.seed)
    if args.quick:
        keep = {f["id"] for f in faqs[:40]}
        faqs = [f for f in faqs if f["id"] in keep]
        splits = {k: [(t, f) for t, f in v if f in keep] for k, v in splits.items()}
        neg_val, neg_test, neg_test_all = neg_val[:40], neg_test[:40], neg_test_all[:200]
    print(f"StackFAQ: {len(faqs)} FAQs, rephrasings train/val/test = "
          f"{len(splits['train'])}/{len(splits['val'])}/{len(splits['test'])}, oos {len(neg_val)}/{len(neg_test)}")
    train_by = {f["id"]: [t for t, o in splits["train"] if o == f["id"]] for f in faqs}
    entries = [FaqEntry(f["id"], f["question"], tuple(train_by[f["id"]]), f["answer"]) for f in faqs]
    docs = [p for e in entries for p in e.phrasings]
    owners = [e.id for e in entries for _ in e.phrasings]
    results: dict = {}
    target = args.target_wrong_rate
    results["rapidfuzz token_set_ratio"] = run_method(
        "rapidfuzz", lambda q: fuzz_rank(q, docs, owners), splits, neg_val, neg_test, target)
    bm25 = BM25(docs, owners)
    results["BM25 (question + train rephrasings)"] = run_method("BM25", bm25.rank, splits, neg_val, neg_test, target)
    bm25a = BM25(docs + [e.answer for e in entries], owners + [e.id for e in entries])
    results["BM25 (+ answer)"] = run_method("BM25+answer", bm25a.rank, splits, neg_val, neg_test, target)

    encoder = Encoder("all-MiniLM-L6-v2").load()

    def evaluate_kb(name: str, kb, enc, train_threshold: float | None = None) -> dict:
        """Rank val/test through the knowledge base; its score is the fused score, or the calibrated P(right)
        when the knowledge base carries a confidence (then `train_threshold` is its train-time answer threshold)."""
        queries = list(dict.fromkeys([t for t, _ in splits["val"] + splits["test"]] + neg_val + neg_test_all))
        vectors = dict(zip(queries, enc.encode(queries)))

        def rank(q):
            hits = kb.search(q, vectors[q], k=5)
            return [h.entry_id for h in hits], hits[0].score if hits else 0.0
        result = run_method(name, rank, splits, neg_val, neg_test, target, train_threshold, neg_test_all)
        if kb.confidence is not None:  # the suggest band: is the right entry among the offered suggestions
            band = suggest_band(kb, vectors, splits["test"], neg_test)
            result.update(band)
            val_band = suggest_band(kb, vectors, splits["val"], neg_val)
            result.update({f"val_{k.removeprefix('test_')}": v for k, v in val_band.items()})
            print(f"  {name}: suggest band at the train-time bands: test {band}, val {val_band}", flush=True)
        return result

    def fused_only(name: str, enc, index_entries) -> dict:
        t0 = time.perf_counter()
        result = evaluate_kb(name, KnowledgeBase.build(index_entries, enc.encode), enc)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        return result

    def as_trained(name: str, finetune: FinetuneSettings | None) -> tuple[dict, dict]:
        """What `smallbot train` builds (knowledge.train.train_knowledge_base, CLINC150 oos_train as the bot's
        negatives): its fused score, then its calibrated confidence at the train-time threshold."""
        t0 = time.perf_counter()
        training = train_knowledge_base(entries, neg_train, encoder, finetune=finetune, target_wrong_rate=target,
                                        seed=args.seed, progress=False, say=lambda m: print("  " + m, flush=True),
                                        calibration=args.calibration, index_answers=KnowledgeConfig.index_answers)
        cal, kb = training.calibration, training.kb
        train_s = time.perf_counter() - t0
        print(f"  {name}: train-time calibration: answer {cal.bands.answer:.4f}, suggest {cal.bands.suggest:.4f}, "
              f"held-out answered {cal.answered_rate}, wrong {cal.wrong_rate}, off-topic answered "
              f"{cal.offtopic_answered}; {cal.positives} phrasings + {cal.negatives} negatives",
              flush=True)
        confidence, kb.confidence = kb.confidence, None
        fused = evaluate_kb(name, kb, training.serving)
        kb.confidence = confidence
        calibrated_ = evaluate_kb(name + " + confidence", kb, training.serving, cal.bands.answer)
        for r in (fused, calibrated_):
            r["train_seconds"] = round(train_s, 1)
            if training.finetune is not None:
                r["loss"] = [training.finetune.first_loss, training.finetune.last_loss]
        return fused, calibrated_

    results["frozen MiniLM + rapidfuzz fusion"], results["frozen MiniLM + fusion, calibrated confidence"] = \
        as_trained("frozen", None)
    if not args.quick:
        results["frozen MiniLM + fusion, answers indexed"] = fused_only("frozen+answers", encoder, [
            FaqEntry(e.id, e.question, (*e.alternates, e.answer[:500]), e.answer) for e in entries])
    for steps in args.steps:
        label = f"fine-tuned MiniLM ({steps} steps, top {args.layers or 'all'} layers) + fusion"
        results[label], results[label + ", calibrated confidence"] = as_trained(
            f"fine-tuned {steps} steps", FinetuneSettings(steps=steps, batch_size=args.batch, learning_rate=args.lr,
                                                          train_layers=args.layers, seed=args.seed))
    return results


# -- plain FAQ list ------------------------------------------------------------------------------------

def oos_plus_extras(data: Path) -> list[str]:
    """CLINC150's oos_plus out-of-scope messages that are neither shipped (oos_train, oos_val) nor in oos_test:
    the off-topic VALIDATION messages."""
    full = json.loads((data / "clinc150" / "data_full.json").read_text())
    plus = json.loads((data / "clinc150" / "data_oos_plus.json").read_text())
    shipped = {t for t, _ in full["oos_train"]} | {t for t, _ in full["oos_val"]}
    return [t for t, _ in plus["oos_train"] if t not in shipped]


def threshold_on(scores, right, neg, target: float) -> float:
    """Lowest threshold whose wrong share among answered (off-topic answered counts as wrong) is <= target."""
    return choose_threshold(scores, right, neg, target, False)


def at_threshold(threshold: float, scores, right, neg) -> dict:
    tp, tr, tn = np.array(scores), np.array(right, dtype=bool), np.array(neg)
    answered = tp >= threshold
    return {"threshold": round(float(threshold), 4), "answered": round(float(answered.mean()), 4),
            "wrong_of_answered": round(float((answered & ~tr).sum() / max(answered.sum(), 1)), 4),
            "offtopic_answered": round(float((tn >= threshold).mean()), 4) if len(tn) else None}


def plain_faq(args) -> dict:
    """A plain FAQ list (questions only, no alternates) as a support team starts: StackFAQ's questions and
    answers, searched by rephrasings (validation: the train + val split, test: the test split) and off-topic
    messages (validation: CLINC150 oos_plus extras, test: all 1000 of oos_test). smallbot as `smallbot train`
    builds it, with and without the answers indexed, beside a cosine threshold and BM25 (question + answer),
    each threshold chosen on validation for the same target."""
    from smallbot.encoding.encoder import Encoder
    from smallbot.knowledge.entries import FaqEntry
    from smallbot.knowledge.train import train_knowledge_base

    faqs, splits = load_stackfaq(args.data, args.seed)
    val, test = splits["train"] + splits["val"], splits["test"]
    neg_val, neg_test = oos_plus_extras(args.data), [t for t, _ in json.loads(
        (args.data / "clinc150" / "data_full.json").read_text())["oos_test"]]
    entries = [FaqEntry(f["id"], f["question"], (), f["answer"]) for f in faqs]
    print(f"plain FAQ list: {len(entries)} questions, rephrasings val/test {len(val)}/{len(test)}, "
          f"off-topic val/test {len(neg_val)}/{len(neg_test)}", flush=True)
    encoder = Encoder("all-MiniLM-L6-v2").load()
    texts = list(dict.fromkeys([t for t, _ in val + test] + neg_val + neg_test))
    vectors = dict(zip(texts, encoder.encode(texts)))
    target = args.target_wrong_rate
    results: dict = {}
    curves: dict = {}

    def report(name: str, rank, own_threshold: float | None = None, kb=None) -> None:
        """`rank(text)` -> (entry ids best first, top score); threshold chosen on validation unless the method
        brings its own (smallbot's train-time bands)."""
        scored = {}
        for split, items, negs in (("val", val, neg_val), ("test", test, neg_test)):
            ranked = [rank(t) for t, _ in items]
            scored[split] = ([s for _, s in ranked], [bool(r) and r[0] == f for (r, _), (_, f) in zip(ranked, items)],
                             [rank(t)[1] for t in negs], ranked)
        chosen = own_threshold if own_threshold is not None else threshold_on(*scored["val"][:3], target)
        row = {**rank_summary([r for r, _ in scored["test"][3]], [f for _, f in test]),
               "val": at_threshold(chosen, *scored["val"][:3]), "test": at_threshold(chosen, *scored["test"][:3])}
        if kb is not None:  # what the rest get: the right entry among the suggestions, or the fallback
            band = [(r, f) for (r, s), (_, f) in zip(scored["test"][3], test) if kb.bands.suggest <= s < kb.bands.answer]
            row["test"]["suggested"] = round(len(band) / len(test), 4)
            row["test"]["right_among_suggestions"] = round(sum(f in r[:3] for r, f in band) / max(len(band), 1), 4)
            row["test"]["offtopic_suggested"] = round(float(np.mean(
                [kb.bands.suggest <= s < kb.bands.answer for s in scored["test"][2]])), 4)
        results[name] = row
        curves[name] = scored["test"][:3]
        print(f"  {name}: {row}", flush=True)

    for name, index_answers in (("smallbot, questions only", False), ("smallbot, questions + answers", True)):
        training = train_knowledge_base(entries, [], encoder, finetune=None, target_wrong_rate=target,
                                        calibration="held_out", seed=args.seed, progress=False,
                                        index_answers=index_answers)
        kb = training.kb

        def rank(text, kb=kb):
            hits = kb.search(text, vectors[text], k=5)
            return [h.entry_id for h in hits], hits[0].score if hits else 0.0
        report(name, rank, kb.bands.answer, kb)

    question_vectors = encoder.encode([e.question for e in entries])

    def cosine(text):
        sims = question_vectors @ vectors[text]
        order = np.argsort(-sims)[:5]
        return [entries[i].id for i in order], float(sims[order[0]])
    report("cosine threshold (questions)", cosine)
    bm25 = BM25([e.question for e in entries] + [e.answer for e in entries], [e.id for e in entries] * 2)
    report("BM25 (question + answer)", bm25.rank)
    plot_curves(curves, REPO / "benchmarks" / "figures" / "plain_faq_curves.png",
                "Plain FAQ list (StackFAQ questions, test rephrasings)")
    return results


def plot_curves(curves: dict, path: Path, title: str) -> None:
    """Answered share against wrong share among answered, one line per method, over every threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, (scores, right, _) in curves.items():
        scores, right = np.array(scores), np.array(right, dtype=bool)
        order = np.argsort(-scores)
        answered = np.arange(1, len(scores) + 1) / len(scores)
        wrong = np.cumsum(~right[order]) / np.arange(1, len(scores) + 1)
        ax.plot(answered, wrong, label=name)
    ax.set_xlabel("rephrasings answered directly")
    ax.set_ylabel("wrong among answered")
    ax.set_ylim(0, 0.1)
    ax.axhline(0.03, color="grey", linestyle=":", linewidth=1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- synthetic index ---------------------------------------------------------------------------------

def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic(args) -> dict:
    import faiss

    from smallbot.knowledge.index import FaissIndex, exact_top_k, recall_at

    n = 100_000 if args.quick else args.n
    dim, rng = 384, np.random.default_rng(args.seed)
    print(f"synthetic: {n} x {dim} clustered unit vectors, faiss threads {faiss.omp_get_max_threads()}", flush=True)
    centres = rng.standard_normal((max(1, n // 100), dim), dtype=np.float32)
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        end = min(n, start + 100_000)
        vectors[start:end] = centres[rng.integers(0, len(centres), end - start)]
        vectors[start:end] += 1.0 * rng.standard_normal((end - start, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(n, 500, replace=False)] + 0.04 * rng.standard_normal((500, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = FaissIndex.build(np.arange(n), vectors, seed=args.seed)
    build_s = time.perf_counter() - t0
    rss_build = rss_mb() - rss0
    truth = exact_top_k(vectors, queries, 10)
    latencies, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q, 10)
        latencies.append((time.perf_counter() - t) * 1000)
        found.append(ids[0])
    # same-run baseline: exact flat search on the same vectors (a sample of queries; it is slow)
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    flat_lat = []
    for q in queries[:50]:
        t = time.perf_counter()
        flat.search(q[None, :], 10)
        flat_lat.append((time.perf_counter() - t) * 1000)
    out = {"n": n, "kind": index.kind, "nprobe": index.nprobe, "ef_search": index.ef_search, "build_s": round(build_s, 1),
           "index_mb": round(n * dim * 4 / 2**20, 1), "peak_rss_growth_mb": round(rss_build, 1),
           "p50_ms": round(float(np.percentile(latencies, 50)), 3), "p99_ms": round(float(np.percentile(latencies, 99)), 3),
           "recall@10": round(recall_at(np.array(found), truth, 10), 4),
           "exact_flat_p50_ms": round(float(np.percentile(flat_lat, 50)), 3),
           "exact_flat_p99_ms": round(float(np.percentile(flat_lat, 99)), 3)}
    out["p50_speedup_vs_flat"] = round(out["exact_flat_p50_ms"] / max(out["p50_ms"], 1e-9), 1)
    print(f"  {out}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from smallbot.project.config import KnowledgeConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--quick", action="store_true", help="40 FAQs, 100k synthetic vectors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, nargs="*", default=[30])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--target-wrong-rate", type=float, default=0.02)
    parser.add_argument("--calibration", choices=("held_out", "cross_validation"), default=KnowledgeConfig.calibration,
                        help="how the fine-tuned arms calibrate (bot.yml knowledge.calibration; default as there)")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-stackfaq", action="store_true")
    parser.add_argument("--plain", action="store_true", help="only the plain FAQ list scenario")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = {"command": " ".join(["python", "benchmarks/knowledge.py", *(argv or sys.argv[1:])]),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
               "load_average_at_start": os.getloadavg()}
    if args.plain:
        args.skip_stackfaq = args.skip_synthetic = True
        results["plain_faq"] = plain_faq(args)
    if not args.skip_stackfaq:
        results["stackfaq"] = stackfaq(args)
    if not args.skip_synthetic:
        results["synthetic"] = synthetic(args)
    results["load_average_at_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"knowledge{'-plain' if args.plain else '-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2))
    if "plain_faq" in results:
        print("\n| method | hit@1 | threshold | val answered / wrong / off-topic | test answered | test wrong/answered |"
              " test off-topic answered (1000) |")
        print("|---|---|---|---|---|---|---|")
        for name, r in results["plain_faq"].items():
            v, t = r["val"], r["test"]
            print(f"| {name} | {r['hit@1']:.3f} | {t['threshold']:.3f} | {v['answered']:.3f} / "
                  f"{v['wrong_of_answered']:.3f} / {v['offtopic_answered']:.3f} | {t['answered']:.3f} | "
                  f"{t['wrong_of_answered']:.3f} | {t['offtopic_answered']:.3f} |")
    if "stackfaq" in results:
        print("\n| method | hit@1 | hit@5 | MRR | rule | threshold | test answered | test wrong/answered | "
              "rephrasings only wrong/answered | oos answered | oos answered of all 1000 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, r in results["stackfaq"].items():
            for rule, prefix in (("val, point", ""), ("val, 90% bound", "bound_"), ("train time", "train_")):
                if prefix + "threshold" in r:
                    print(f"| {name} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | {r['mrr']:.3f} | {rule} | "
                          f"{r[prefix + 'threshold']:.3f} | {r[prefix + 'test_answered']:.3f} | "
                          f"{r[prefix + 'test_wrong_of_answered']:.3f} | "
                          f"{r[prefix + 'test_rephrasings_wrong_of_answered']:.3f} | {r[prefix + 'test_oos_answered']} | "
                          f"{r.get(prefix + 'test_oos_all_answered', '')} |")
        trained = {name: r for name, r in results["stackfaq"].items() if "train_val_answered" in r}
        if trained:
            print("\nTrain-time thresholds on VALIDATION (where the calibration method was chosen):")
            for name, r in trained.items():
                print(f"- {name}: threshold {r['train_threshold']:.3f}, val answered {r['train_val_answered']:.3f}, "
                      f"wrong/answered {r['train_val_wrong_of_answered']:.3f}, oos answered {r['train_val_oos_answered']}")
    if "synthetic" in results:
        s = results["synthetic"]
        print("\n| rows | index | build s | p50 ms | p99 ms | recall@10 | exact flat p50 / p99 ms |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {s['n']} | {s['kind']} nprobe={s['nprobe']} efSearch={s['ef_search']} | {s['build_s']} | {s['p50_ms']} | {s['p99_ms']} | "
              f"{s['recall@10']} | {s['exact_flat_p50_ms']} / {s['exact_flat_p99_ms']} |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
