"""Retrieval quality of a knowledge base: hit@1/5, MRR and the answered-vs-wrong curve, as numbers and a PNG.

Cross-validated over held-out phrasings by default (each phrasing searched with its own row
excluded, the entry's other phrasings still indexed), or over test queries the caller supplies.
The eval report (`smallbot eval`) includes the returned metrics and figure path as they are.

>>> result = evaluate_knowledge(bot.knowledge, bot.encoder.encode, Path("report"), negatives=["tell me a joke"])
>>> result.hit_at_1, result.figure
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .base import KnowledgeBase
from .calibrate import excluded_rows, leave_one_out_queries


@dataclass(frozen=True)
class KnowledgeEvaluation:
    """What `evaluate_knowledge` measured; `curve` rows are (threshold, answered rate, wrong rate among answered)."""

    queries: int
    negatives: int
    hit_at_1: float
    hit_at_5: float
    mrr: float
    answer_threshold: float
    answered_rate: float  # share of in-scope queries answered at the knowledge base's answer threshold
    wrong_rate: float  # wrong answers among everything answered (negatives included) at that threshold
    negatives_answered: float  # share of off-topic messages that would get an answer
    curve: tuple[tuple[float, float, float], ...] = ()
    figure: Path | None = None
    misses: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)  # (query, truth, top entry)

    def as_dict(self) -> dict:
        return {
            "queries": self.queries,
            "negatives": self.negatives,
            "hit@1": round(self.hit_at_1, 4),
            "hit@5": round(self.hit_at_5, 4),
            "mrr": round(self.mrr, 4),
            "answer_threshold": self.answer_threshold,
            "answered_rate": round(self.answered_rate, 4),
            "wrong_rate": round(self.wrong_rate, 4),
            "negatives_answered": round(self.negatives_answered, 4),
            "figure": str(self.figure) if self.figure else None,
        }


def rank_metrics(ranked: Sequence[Sequence[str]], truth: Sequence[str]) -> tuple[float, float, float]:
    """(hit@1, hit@5, MRR) of ranked entry-id lists against the true ids."""
    if not truth:
        return 0.0, 0.0, 0.0
    ranks = [list(r).index(t) + 1 if t in r else 0 for r, t in zip(ranked, truth)]
    hit1 = float(np.mean([r == 1 for r in ranks]))
    hit5 = float(np.mean([0 < r <= 5 for r in ranks]))
    mrr = float(np.mean([1.0 / r if r else 0.0 for r in ranks]))
    return hit1, hit5, mrr


def plot_curve(
    curve: Sequence[tuple[float, float, float]],
    path: Path,
    threshold: float | None = None,
    title: str = "FAQ answers: answered vs wrong",
) -> Path:
    """Write the answered-rate vs wrong-answer-rate curve as a PNG (matplotlib Agg, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=110)
    ax.plot([c[2] for c in curve], [c[1] for c in curve], marker=".", lw=1)
    if threshold is not None and curve:
        nearest = min(curve, key=lambda c: abs(c[0] - threshold))
        ax.scatter([nearest[2]], [nearest[1]], color="crimson", zorder=3, label=f"answer threshold {threshold:.3f}")
        ax.legend(loc="lower right")
    ax.set_xlabel("wrong answers / answered")
    ax.set_ylabel("answered (in-scope)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def evaluate_knowledge(
    kb: KnowledgeBase,
    encode: Callable[[list[str]], np.ndarray],
    out_dir: Path | None = None,
    *,
    queries: Sequence[tuple[str, str]] | None = None,
    negatives: Sequence[str] = (),
) -> KnowledgeEvaluation:
    """Measure retrieval on `queries` ((text, entry id) pairs) or, when None, on held-out phrasings.

    Negatives (off-topic messages) count as wrong whenever they would be answered. With `out_dir`
    the curve is written to `out_dir/knowledge_curve.png`.
    """
    if queries is None:
        items = leave_one_out_queries(kb, encode)
    else:
        vectors = encode([text for text, _ in queries]) if queries else np.zeros((0, 1), np.float32)
        items = [(text, truth, vectors[i], None) for i, (text, truth) in enumerate(queries)]
    ranked, truth, top_scores, misses = [], [], [], []
    for text, entry_id, vector, row in items:
        hits = kb.search(text, vector, k=5, exclude_rows=excluded_rows(row))
        ranked.append([h.entry_id for h in hits])
        truth.append(entry_id)
        top_scores.append(hits[0].score if hits else 0.0)
        if not hits or hits[0].entry_id != entry_id:
            misses.append((text, entry_id, hits[0].entry_id if hits else ""))
    neg_scores = []
    if negatives:
        for text, vector in zip(negatives, encode(list(negatives))):
            hits = kb.search(text, vector, k=1)
            neg_scores.append(hits[0].score if hits else 0.0)
    hit1, hit5, mrr = rank_metrics(ranked, truth)
    pos = np.array(top_scores)
    right = np.array([bool(r) and r[0] == t for r, t in zip(ranked, truth)], dtype=bool)
    neg = np.array(neg_scores)
    curve = []
    for threshold in np.unique(np.round(np.concatenate([pos, neg]), 4))[::-1]:
        answered_pos = pos >= threshold
        answered_neg = neg >= threshold
        n_answered = answered_pos.sum() + answered_neg.sum()
        wrong = (answered_pos & ~right).sum() + answered_neg.sum()
        curve.append(
            (float(threshold), float(answered_pos.mean()) if len(pos) else 0.0, float(wrong / max(n_answered, 1)))
        )
    t = kb.bands.answer
    answered_pos, answered_neg = pos >= t, neg >= t
    n_answered = answered_pos.sum() + answered_neg.sum()
    figure = plot_curve(curve, out_dir / "knowledge_curve.png", t) if out_dir is not None else None
    return KnowledgeEvaluation(
        queries=len(items),
        negatives=len(neg_scores),
        hit_at_1=hit1,
        hit_at_5=hit5,
        mrr=mrr,
        answer_threshold=t,
        answered_rate=float(answered_pos.mean()) if len(pos) else 0.0,
        wrong_rate=float(((answered_pos & ~right).sum() + answered_neg.sum()) / max(n_answered, 1)),
        negatives_answered=float(answered_neg.mean()) if len(neg) else 0.0,
        curve=tuple(curve),
        figure=figure,
        misses=tuple(misses),
    )
