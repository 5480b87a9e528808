"""Choose the answer / suggest thresholds at train time so that the wrong-answer rate among answered
messages stays under the target the author set in bot.yml.

Positives are held-out phrasings (each question or alternate searched with its own row removed, the
entry's other phrasings still indexed); negatives are messages that must not get an FAQ answer (the
bot's small-talk and out-of-scope examples).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .base import Bands, KnowledgeBase


@dataclass(frozen=True)
class Calibration:
    bands: Bands
    answered_rate: float
    wrong_rate: float
    positives: int
    negatives: int
    curve: list[tuple[float, float, float]]  # (threshold, answered rate, wrong rate among answered)


def held_out_scores(kb: KnowledgeBase, queries: list[tuple[str, str, np.ndarray, int | None]], neg_texts: list[str],
                    neg_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top score, top is right, right one in top 3) for every held-out query, then every negative.

    A query is (text, true entry id, embedding, row to exclude or None): a phrasing searched with its
    own row removed, or one left out of the knowledge base altogether.
    """
    top, right, in_top3 = [], [], []
    for text, truth, vector, row in queries:
        hits = kb.search(text, vector, k=3, exclude_rows=frozenset() if row is None else frozenset([row]))
        top.append(hits[0].score if hits else 0.0)
        right.append(bool(hits) and hits[0].entry_id == truth)
        in_top3.append(any(h.entry_id == truth for h in hits))
    for text, vector in zip(neg_texts, neg_vectors):
        hits = kb.search(text, vector, k=1)
        top.append(hits[0].score if hits else 0.0)
        right.append(False)
        in_top3.append(False)
    return np.array(top), np.array(right, dtype=bool), np.array(in_top3, dtype=bool)


def leave_one_out_queries(kb: KnowledgeBase, encode) -> list[tuple[str, str, np.ndarray, int | None]]:
    """Every phrasing of an entry with two or more, searched with its own row excluded."""
    owners: dict[str, list[int]] = {}
    for row, (entry_id, _) in kb.rows.items():
        owners.setdefault(entry_id, []).append(row)
    rows = [row for group in owners.values() if len(group) >= 2 for row in group]
    vectors = encode([kb.rows[row][1] for row in rows]) if rows else np.zeros((0, 1), np.float32)
    return [(kb.rows[row][1], kb.rows[row][0], vectors[i], row) for i, row in enumerate(rows)]


def calibrate(kb: KnowledgeBase, queries: list[tuple[str, str, np.ndarray, int | None]], neg_texts: list[str],
              neg_vectors: np.ndarray, target_wrong_rate: float) -> Calibration:
    """Lowest answer threshold meeting the target; suggest threshold where top-3 holds the right entry half the time."""
    scores, right, in_top3 = held_out_scores(kb, queries, neg_texts, neg_vectors)
    n_pos = int(len(scores) - len(neg_texts))
    if len(scores) == 0:
        return Calibration(kb.bands, 0.0, 0.0, 0, len(neg_texts), [])
    candidates = np.unique(np.round(scores, 4))
    curve = []
    answer = float(candidates.max()) + 1e-4
    for threshold in sorted(candidates, reverse=True):
        answered = scores >= threshold
        wrong = float((answered & ~right).sum() / max(answered.sum(), 1))
        curve.append((float(threshold), float(answered.mean()), wrong))
        if wrong <= target_wrong_rate:
            answer = float(threshold)
    answered = scores >= answer
    suggest = answer
    for threshold in sorted(candidates[candidates < answer], reverse=True):
        band = (scores >= threshold) & (scores < answer)
        if band.sum() and in_top3[band].mean() >= 0.5:
            suggest = float(threshold)
    positives_answered = float(answered[:n_pos].mean()) if n_pos else 0.0
    wrong_rate = float((answered & ~right).sum() / max(answered.sum(), 1))
    bands = replace(kb.bands, answer=round(answer, 4), suggest=round(min(suggest, answer), 4))
    return Calibration(bands, positives_answered, wrong_rate, n_pos, len(neg_texts), sorted(curve))
