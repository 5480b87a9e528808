"""Fit the FAQ confidence and set the answer / suggest thresholds at train time.

Every bot starts from the shipped prior (`prior`): a confidence model fitted on public data, with answer
thresholds chosen on validation data for a range of target wrong-answer rates. The bot's own held-out
messages then refit the model by shrinkage towards the prior, so it follows the bot's evidence as that
evidence grows and stays at the prior when there is none (a plain FAQ list with no alternates).

Held-out messages: for an untuned bot each question or alternate searched with its own row and half of its
entry's other phrasings removed from the index (`calibration_queries`); for a fine-tuned bot every phrasing
searched as unseen text by an encoder copy tuned without it (`knowledge.calibration: cross_validation`,
`crossval`) or the alternates kept out of its one tuning run (`held_out`). Negatives are messages that must not
get an FAQ answer: the bot's small-talk and out-of-scope examples, and the generic off-topic messages shipped
with the package.

What the bot can expect (answered share, wrong share) is measured on the held-out messages scored out of
fold, never by the model fitted to them, and `smallbot train` prints it.
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
from .prior import Prior, load_prior

BOUND_LEVEL = 0.9  # one-sided confidence of the wrong-rate upper bound that benchmarks report


@dataclass(frozen=True)
class HeldOut:
    """One held-out message and its raw (fused-score) candidates; truth None for an off-topic message."""

    text: str
    truth: str | None
    hits: tuple[Hit, ...]
    source: int = -1  # a typo'd copy: index of the message it was made from (it trains, it is not measured)


@dataclass(frozen=True)
class Calibration:
    """The bands, the fitted confidence, and what they are expected to do (held-out messages, out of fold)."""

    bands: Bands
    confidence: ConfidenceModel | None
    answered_rate: float | None  # held-out phrasings answered; None when the bot has none to hold out
    wrong_rate: float | None  # wrong answers among answered held-out phrasings and negatives
    offtopic_answered: float | None  # negatives answered
    positives: int  # held-out phrasings of the bot's own
    negatives: int  # off-topic messages: the bot's own and the generic ones

    @classmethod
    def uncalibrated(cls, bands: Bands, negatives: int = 0) -> "Calibration":
        """Nothing to calibrate (no entries): the bands stay as they are, no confidence model."""
        return cls(bands, None, None, None, None, 0, negatives)


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


def held_out_candidates(
    kb: KnowledgeBase, queries: list[Query], neg_texts: list[str], neg_vectors: np.ndarray
) -> list[HeldOut]:
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


def fit_confidence(items: list[HeldOut], prior: Prior) -> ConfidenceModel:
    """P(right) for every candidate: the prior refitted on the held-out messages (the prior alone if none)."""
    x, y = _rows(items)
    if not len(y):
        return prior.model
    return ConfidenceModel.fit(x, y, l2=prior.strength, prior=prior.model)


def out_of_fold(items: list[HeldOut], prior: Prior, folds: int = 5, seed: int = 0) -> list[list[Hit]]:
    """Each message's candidates rescored by a model fitted on the other folds.

    A typo'd copy shares its source's fold, so no message is scored by a model that saw its twin.
    """
    order = [i for i, item in enumerate(items) if item.source < 0]
    random.Random(seed).shuffle(order)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    fold_of.update({i: fold_of[item.source] for i, item in enumerate(items) if item.source >= 0})
    scored: list[list[Hit]] = [[] for _ in items]
    for fold in range(folds):
        if not any(f == fold for f in fold_of.values()):
            continue
        model = fit_confidence([item for i, item in enumerate(items) if fold_of[i] != fold], prior)
        for i, item in enumerate(items):
            if fold_of[i] == fold:
                scored[i] = model.rescore(item.hits, item.text)
    return scored


def expected_rates(
    scored: list[list[Hit]], truth: list[str | None], answer: float
) -> tuple[float | None, float | None, float | None]:
    """(held-out phrasings answered, wrong among answered with negatives counted wrong, negatives answered) for
    messages scored as they will be served."""
    top = np.array([hits[0].score if hits else 0.0 for hits in scored])
    right = np.array([bool(hits) and hits[0].entry_id == t for hits, t in zip(scored, truth)], dtype=bool)
    positive = np.array([t is not None for t in truth], dtype=bool)
    answered = top >= answer
    answered_rate = float(answered[positive].mean()) if positive.any() else None
    offtopic = float(answered[~positive].mean()) if (~positive).any() else None
    wrong = float((answered & ~right).sum() / answered.sum()) if answered.any() else None
    return answered_rate, wrong, offtopic


def typo_copies(kb: KnowledgeBase, queries: list[Query], encode, seed: int = 0) -> list[HeldOut]:
    """One typo'd copy of every held-out phrasing, so the confidence learns that a strong lexical match
    with a weak dense score (the encoder reads "pasword" badly) is usually still right."""
    rng = random.Random(seed)
    typod = [(add_typo(text, rng), truth, row, i) for i, (text, truth, _, row) in enumerate(queries)]
    typod = [t for t in typod if t[0] != queries[t[3]][0]]
    if not typod:
        return []
    vectors = encode([text for text, _, _, _ in typod])
    return [
        HeldOut(text, truth, tuple(kb.candidates(text, vectors[n], CANDIDATES, excluded_rows(row))), i)
        for n, (text, truth, row, i) in enumerate(typod)
    ]


def held_out_items(
    kb: KnowledgeBase, queries: list[Query], neg_texts: list[str], neg_vectors: np.ndarray, seed: int = 0, encode=None
) -> tuple[list[HeldOut], list[HeldOut]]:
    """(measured: every held-out query then every negative, with its candidates; typo'd copies of the queries,
    each `source` an index into measured). The copies are empty without `encode`."""
    measured = held_out_candidates(kb, queries, neg_texts, neg_vectors)
    typos = typo_copies(kb, queries, encode, seed) if encode is not None and queries else []
    return measured, typos


def calibrate(
    kb: KnowledgeBase,
    queries: list[Query],
    neg_texts: list[str],
    neg_vectors: np.ndarray,
    target_wrong_rate: float,
    seed: int = 0,
    encode=None,
    prior: Prior | None = None,
) -> Calibration:
    """Refit the confidence on held-out messages and set both thresholds; with `encode`, typo'd copies of
    the held-out phrasings join the fit (not the expected rates)."""
    measured, typos = held_out_items(kb, queries, neg_texts, neg_vectors, seed, encode)
    return calibrate_items(measured, typos, kb.bands, target_wrong_rate, seed, prior)


def calibrate_items(
    measured: list[HeldOut],
    typos: list[HeldOut],
    base: Bands,
    target_wrong_rate: float,
    seed: int = 0,
    prior: Prior | None = None,
) -> Calibration:
    """The confidence and the bands from held-out messages however they were searched (one index, or one per
    cross-validation fold): the prior refitted on `measured` + `typos`; the thresholds the prior's for the
    target, which keep their meaning because the refitted model still says P(right)."""
    prior = prior or load_prior()
    positives = sum(1 for item in measured if item.truth is not None)
    items = measured + typos
    confidence = fit_confidence(items, prior)
    answer = prior.answer_threshold(target_wrong_rate)
    bands = replace(base, answer=answer, suggest=prior.suggest_threshold(answer))
    scored = out_of_fold(items, prior, seed=seed)[: len(measured)]
    answered, wrong, offtopic = expected_rates(scored, [item.truth for item in measured], answer)
    return Calibration(bands, confidence, answered, wrong, offtopic, positives, len(measured) - positives)


def leave_one_out_queries(kb: KnowledgeBase, encode) -> list[Query]:
    """Every phrasing of an entry with two or more, searched with its own row excluded (cross-validated
    evaluation; calibration leaves out more, see `calibration_queries`)."""
    return _held_out_queries(kb, encode, None, half_out=False)


def calibration_queries(
    kb: KnowledgeBase, encode, phrasings: list[tuple[str, str]] | None = None, seed: int = 0
) -> list[Query]:
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


def _held_out_queries(
    kb: KnowledgeBase, encode, phrasings: list[tuple[str, str]] | None, half_out: bool, seed: int = 0
) -> list[Query]:
    """`phrasings` (every phrasing of an entry with two or more when None), each with its own row left out of
    the search, and with `half_out` a seeded random half of its entry's other phrasings too."""
    rng = random.Random(seed)
    owners: dict[str, list[int]] = {}  # an entry's phrasing rows (its answer row always stays in the index)
    for row, (entry_id, _) in sorted(kb.rows.items()):
        if not kb.is_answer_row(row):
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
