"""Fit the FAQ confidence and choose the answer / suggest thresholds at train time, so that the
wrong-answer rate among answered messages stays under the target the author set in bot.yml.

Positives are held-out phrasings: for an untuned bot each question or alternate searched with its own row
and half of its entry's other phrasings removed from the index (`calibration_queries`); for a fine-tuned bot
every phrasing searched as unseen text by an encoder copy tuned without it (`knowledge.calibration:
cross_validation`, the default, `crossval`) or the alternates kept out of its one tuning run (`held_out`).
Negatives are messages that must not get an FAQ answer (the bot's small-talk and out-of-scope examples).

The confidence model (`ConfidenceModel`) is fitted on those; the thresholds are chosen on its
out-of-fold probabilities (k-fold over the held-out messages), never on the ones it was fitted to.
The answer threshold is the lowest whose held-out wrong rate has a one-sided Wilson upper bound
(90% by default) at or under the target, so a lucky held-out set cannot buy a low threshold. A held-out
set too small for any bound to reach the target (about 80 messages at 2%, even with no wrong answer) falls
back to the point estimate, and says so: a tiny bot still answers, a bigger one has to show it may.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from smallbot.types import Hit

from .base import Bands, KnowledgeBase
from .confidence import CANDIDATES, ConfidenceModel, hit_features
from .finetune import add_typo

BOUND_LEVEL = 0.9  # one-sided confidence of the wrong-rate upper bound the answer threshold must meet
SUGGEST_TOP3 = 0.5  # the suggest band starts where the right entry is among the suggestions this often
MIN_FIT = 20  # fewer held-out messages than this: no confidence model, thresholds on the fused score


@dataclass(frozen=True)
class HeldOut:
    """One held-out message and its raw (fused-score) candidates; truth None for an off-topic message."""

    text: str
    truth: str | None
    hits: tuple[Hit, ...]
    source: int = -1  # a typo'd copy: index of the message it was made from (it trains, it is not measured)


@dataclass(frozen=True)
class Calibration:
    """The chosen bands, the fitted confidence and what they do on the held-out messages (out-of-fold)."""

    bands: Bands
    confidence: ConfidenceModel | None
    answered_rate: float  # held-out phrasings answered
    wrong_rate: float  # wrong answers among everything answered (negatives count as wrong)
    wrong_rate_bound: float  # its one-sided upper confidence bound (BOUND_LEVEL)
    bounded: bool  # False: too few held-out messages for the bound, the threshold meets the point estimate only
    positives: int
    negatives: int
    curve: list[tuple[float, float, float]]  # (threshold, answered rate, wrong rate among answered)

    @classmethod
    def uncalibrated(cls, bands: Bands, negatives: int = 0) -> "Calibration":
        """Nothing held out to calibrate on: the bands stay as they are, no confidence model."""
        return cls(bands, None, 0.0, 0.0, 0.0, False, 0, negatives, [])


def wilson_upper(wrong: int, n: int, level: float = BOUND_LEVEL) -> float:
    """One-sided Wilson score upper bound on a rate observed as wrong / n (1.0 when n is 0)."""
    if n <= 0:
        return 1.0
    z = NormalDist().inv_cdf(level)
    p = wrong / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


Query = tuple[str, str, np.ndarray, "int | frozenset[int] | None"]  # text, entry id, vector, row(s) left out


def excluded_rows(rows: int | frozenset[int] | None) -> frozenset[int]:
    """A query's left-out row(s) as the frozenset `KnowledgeBase.search` / `candidates` take."""
    if rows is None:
        return frozenset()
    return rows if isinstance(rows, frozenset) else frozenset([rows])


def held_out_candidates(kb: KnowledgeBase, queries: list[Query],
                        neg_texts: list[str], neg_vectors: np.ndarray) -> list[HeldOut]:
    """Raw candidates of every held-out query (its left-out rows excluded), then of every negative."""
    items = []
    for text, truth, vector, rows in queries:
        hits = kb.candidates(text, vector, CANDIDATES, excluded_rows(rows))
        items.append(HeldOut(text, truth, tuple(hits)))
    for text, vector in zip(neg_texts, neg_vectors):
        items.append(HeldOut(text, None, tuple(kb.candidates(text, vector, CANDIDATES))))
    return items


def _rows(items: list[HeldOut]) -> tuple[np.ndarray, np.ndarray]:
    xs = [hit_features(item.hits, item.text) for item in items if item.hits]
    ys = [np.array([h.entry_id == item.truth for h in item.hits], dtype=float) for item in items if item.hits]
    if not xs:
        return np.zeros((0, 0)), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys)


def fit_confidence(items: list[HeldOut]) -> ConfidenceModel | None:
    """P(right) for every candidate of every held-out message; None when there is too little to fit."""
    x, y = _rows(items)
    if sum(1 for item in items if item.hits) < MIN_FIT or y.sum() < 2 or (1 - y).sum() < 2:
        return None
    return ConfidenceModel.fit(x, y)


def out_of_fold(items: list[HeldOut], folds: int = 5, seed: int = 0) -> list[list[Hit]] | None:
    """Each message's candidates rescored by a model fitted on the other folds (None if a fold can't fit).

    A typo'd copy shares its source's fold, so no message is scored by a model that saw its twin.
    """
    order = [i for i, item in enumerate(items) if item.source < 0]
    random.Random(seed).shuffle(order)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    fold_of.update({i: fold_of[item.source] for i, item in enumerate(items) if item.source >= 0})
    scored: list[list[Hit]] = [[] for _ in items]
    for fold in range(folds):
        model = fit_confidence([item for i, item in enumerate(items) if fold_of[i] != fold])
        if model is None:
            return None
        for i, item in enumerate(items):
            if fold_of[i] == fold:
                scored[i] = model.rescore(item.hits, item.text)
    return scored


def choose_bands(scored: list[list[Hit]], truth: list[str | None], target_wrong_rate: float, base: Bands,
                 level: float = BOUND_LEVEL, max_suggestions: int = 3) -> tuple[Bands, dict, list]:
    """Lowest answer threshold whose wrong-rate upper bound meets the target; suggest threshold below it.

    `scored` are each message's hits, best first, with the score the bands will be drawn on.
    """
    top = np.array([hits[0].score if hits else 0.0 for hits in scored])
    right = np.array([bool(hits) and hits[0].entry_id == t for hits, t in zip(scored, truth)], dtype=bool)
    positive = np.array([t is not None for t in truth], dtype=bool)
    answer = 1.0 + 1e-9  # nothing answered unless some threshold is shown to meet the target
    bounded = wilson_upper(0, len(top), level) <= target_wrong_rate  # else no threshold could ever be shown
    curve = []
    for threshold in np.unique(top)[::-1]:
        answered = top >= threshold
        n, wrong = int(answered.sum()), int((answered & ~right).sum())
        curve.append((float(threshold), float(answered[positive].mean()) if positive.any() else 0.0, wrong / n))
        if (wilson_upper(wrong, n, level) if bounded else wrong / n) <= target_wrong_rate:
            answer = float(threshold)
    suggest = answer
    for threshold in np.unique(top[top < answer])[::-1]:
        band = (top >= threshold) & (top < answer)
        found = [t in [h.entry_id for h in hits if h.score >= threshold][:max_suggestions]
                 for hits, t, b in zip(scored, truth, band) if b]
        if found and float(np.mean(found)) >= SUGGEST_TOP3:
            suggest = float(threshold)
    answered = top >= answer
    n, wrong = int(answered.sum()), int((answered & ~right).sum())
    summary = {"answered_rate": float(answered[positive].mean()) if positive.any() else 0.0,
               "wrong_rate": wrong / max(n, 1), "wrong_rate_bound": wilson_upper(wrong, n, level) if n else 0.0,
               "bounded": bounded}
    return replace(base, answer=answer, suggest=min(suggest, answer)), summary, sorted(curve)


def typo_copies(kb: KnowledgeBase, queries: list[Query], encode,
                seed: int = 0) -> list[HeldOut]:
    """One typo'd copy of every held-out phrasing, so the confidence learns that a strong lexical match
    with a weak dense score (the encoder reads "pasword" badly) is usually still right."""
    rng = random.Random(seed)
    typod = [(add_typo(text, rng), truth, row, i) for i, (text, truth, _, row) in enumerate(queries)]
    typod = [t for t in typod if t[0] != queries[t[3]][0]]
    if not typod:
        return []
    vectors = encode([text for text, _, _, _ in typod])
    return [HeldOut(text, truth, tuple(kb.candidates(text, vectors[n], CANDIDATES, excluded_rows(row))), i)
            for n, (text, truth, row, i) in enumerate(typod)]


def held_out_items(kb: KnowledgeBase, queries: list[Query], neg_texts: list[str], neg_vectors: np.ndarray,
                   seed: int = 0, encode=None) -> tuple[list[HeldOut], list[HeldOut]]:
    """(measured: every held-out query then every negative, with its candidates; typo'd copies of the queries,
    each `source` an index into measured). The copies are empty without `encode`."""
    measured = held_out_candidates(kb, queries, neg_texts, neg_vectors)
    typos = typo_copies(kb, queries, encode, seed) if encode is not None and queries else []
    return measured, typos


def calibrate(kb: KnowledgeBase, queries: list[Query], neg_texts: list[str],
              neg_vectors: np.ndarray, target_wrong_rate: float, level: float = BOUND_LEVEL,
              seed: int = 0, encode=None) -> Calibration:
    """Fit the confidence on held-out messages and choose both thresholds on its out-of-fold scores.

    With `encode`, typo'd copies of the held-out phrasings join the fit (not the threshold choice).
    With fewer than MIN_FIT held-out messages there is no model: the bands are drawn on the fused score.
    """
    measured, typos = held_out_items(kb, queries, neg_texts, neg_vectors, seed, encode)
    return calibrate_items(measured, typos, kb.bands, target_wrong_rate, level, seed)


def calibrate_items(measured: list[HeldOut], typos: list[HeldOut], base: Bands, target_wrong_rate: float,
                    level: float = BOUND_LEVEL, seed: int = 0) -> Calibration:
    """The confidence and the bands from held-out messages however they were searched (one index, or one per
    cross-validation fold): fit on `measured` + `typos`, thresholds on the out-of-fold scores of `measured`."""
    if not measured:
        return Calibration.uncalibrated(base)
    positives = sum(1 for item in measured if item.truth is not None)
    negatives = len(measured) - positives
    items = measured + typos
    truth = [item.truth for item in measured]
    scored = out_of_fold(items, seed=seed)
    confidence = fit_confidence(items) if scored is not None else None
    if scored is None or confidence is None:
        confidence, scored = None, [list(item.hits) for item in items]
    bands, summary, curve = choose_bands(scored[:len(measured)], truth, target_wrong_rate, base, level)
    return Calibration(bands, confidence, summary["answered_rate"], summary["wrong_rate"],
                       summary["wrong_rate_bound"], summary["bounded"], positives, negatives, curve)


def leave_one_out_queries(kb: KnowledgeBase, encode) -> list[Query]:
    """Every phrasing of an entry with two or more, searched with its own row excluded (cross-validated
    evaluation; calibration leaves out more, see `calibration_queries`)."""
    return _held_out_queries(kb, encode, None, half_out=False)


def calibration_queries(kb: KnowledgeBase, encode, phrasings: list[tuple[str, str]] | None = None,
                        seed: int = 0) -> list[Query]:
    """The held-out messages the bands are calibrated on when they are searched in the serving index.

    Untuned (`phrasings` None): every phrasing of an entry with two or more, searched with its own row AND a
    seeded random half of its entry's other phrasings left out of the index. Leaving only the row itself out
    kept its near-duplicate siblings in the index, which flattered the held-out wrong rate: on StackFAQ
    validation the threshold it chose gave over 2% wrong, with half the siblings out under 1%
    (`benchmarks/knowledge.py`; benchmarks/HISTORY.md).
    Fine-tuned with `knowledge.calibration: held_out` (`phrasings` = (entry id, text) kept out of the tuning):
    those, each with its own row left out only. (`cross_validation` builds its own indexes, see `crossval`.)
    """
    return _held_out_queries(kb, encode, phrasings, half_out=phrasings is None, seed=seed)


def _held_out_queries(kb: KnowledgeBase, encode, phrasings: list[tuple[str, str]] | None, half_out: bool,
                      seed: int = 0) -> list[Query]:
    """`phrasings` (every phrasing of an entry with two or more when None), each with its own row left out of
    the search, and with `half_out` a seeded random half of its entry's other phrasings too."""
    rng = random.Random(seed)
    owners: dict[str, list[int]] = {}
    for row, (entry_id, _) in sorted(kb.rows.items()):
        owners.setdefault(entry_id, []).append(row)
    if phrasings is None:
        rows = [row for group in owners.values() if len(group) >= 2 for row in group]
    else:
        row_of = {(entry_id, text): row for row, (entry_id, text) in kb.rows.items()}
        rows = [row_of[(entry_id, text)] for entry_id, text in phrasings]
    vectors = encode([kb.rows[row][1] for row in rows]) if rows else np.zeros((0, 1), np.float32)
    queries: list[Query] = []
    for i, row in enumerate(rows):
        entry_id = kb.rows[row][0]
        others = [r for r in owners[entry_id] if r != row]
        half = rng.sample(others, len(others) // 2) if half_out else []
        queries.append((kb.rows[row][1], entry_id, vectors[i], frozenset([row, *half])))
    return queries
