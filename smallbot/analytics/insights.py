"""What the conversation log says about a bot: pure functions over store records, shared by
`smallbot report` (to show the author) and `smallbot learn` (to turn it into training data).

Nothing here touches a file or a model; clustering takes embeddings the caller computed, so the same
functions are tested with hand-made vectors and run with the real encoder.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Sequence

import numpy as np

from smallbot.store import FeedbackRecord, TurnRecord
from smallbot.types import ReplyKind

UNANSWERED = (ReplyKind.FALLBACK, ReplyKind.SUGGEST)
_PICKED = re.compile(r"^picked suggestion '(?P<id>[^']+)'$")
# replies that are the bot's own bookkeeping, not an attempt to answer the user's question
_BOOKKEEPING = ("declined suggestions", "reset")


@dataclass(frozen=True)
class DayRates:
    """Share of each reply outcome on one UTC day."""

    day: str  # YYYY-MM-DD
    total: int
    answered: float
    suggested: float
    abstained: float  # fallback: the bot said it does not know
    handed_off: float
    other: float  # templated responses and small talk


@dataclass(frozen=True, eq=False)
class Cluster:
    """Texts that say the same thing; `representative` is the most frequent one (ties: the first seen)."""

    representative: str
    texts: tuple[str, ...]  # distinct texts, most frequent first
    count: int  # how many logged turns fall in the cluster
    centroid: np.ndarray


@dataclass(frozen=True)
class Resolution:
    """An unanswered question whose conversation reached an FAQ answer within the next turns."""

    text: str  # what the user first asked
    entry_id: str  # the entry finally answered
    via: str  # "picked suggestion" or "rephrased"
    offered: str | None  # the entry the bot first suggested, if any


@dataclass(frozen=True)
class EntryFeedback:
    entry_id: str
    down: int
    up: int
    comments: tuple[str, ...]


def fold(text: str) -> str:
    """Case- and space-insensitive key, so 'Refund?' and 'refund ?' count as one question."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.casefold()).split())


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def daily_rates(turns: Iterable[TurnRecord]) -> list[DayRates]:
    """Answered / suggested / abstained / handed-off shares per UTC day, oldest day first."""
    by_day: dict[str, Counter] = defaultdict(Counter)
    for turn in turns:
        if turn.reason in _BOOKKEEPING:
            continue
        by_day[day_of(turn.created_at)][turn.reply_kind] += 1
    rates = []
    for day in sorted(by_day):
        counts = by_day[day]
        total = sum(counts.values())
        share = {kind: counts[kind] / total for kind in ReplyKind}
        rates.append(
            DayRates(
                day,
                total,
                share[ReplyKind.ANSWER],
                share[ReplyKind.SUGGEST],
                share[ReplyKind.FALLBACK],
                share[ReplyKind.HANDOFF],
                share[ReplyKind.RESPOND] + share[ReplyKind.GENERATE],
            )
        )
    return rates


def unanswered(turns: Iterable[TurnRecord]) -> list[TurnRecord]:
    """Turns where the bot abstained or was unsure enough to only suggest."""
    return [t for t in turns if t.reply_kind in UNANSWERED and t.reason not in _BOOKKEEPING]


def resolutions(turns: Sequence[TurnRecord], window: int = 3) -> list[Resolution]:
    """Unanswered questions followed, within `window` turns of the same conversation, by an FAQ answer.

    A picked suggestion or a rephrase that got answered tells us which entry the first question meant:
    the strongest evidence the log holds, used by `learn` and shown as confusions in the report.
    """
    by_conversation: dict[str, list[TurnRecord]] = defaultdict(list)
    for turn in turns:
        by_conversation[turn.conversation_id].append(turn)
    found = []
    for conversation in by_conversation.values():
        conversation.sort(key=lambda t: t.id)
        for i, turn in enumerate(conversation):
            if turn.reply_kind not in UNANSWERED or turn.reason in _BOOKKEEPING:
                continue
            offered = turn.suggestions[0] if turn.suggestions else None
            for later in conversation[i + 1 : i + 1 + window]:
                if later.reason in _BOOKKEEPING:
                    continue  # "no" to the suggestions: the user is still after the same thing
                if later.reply_kind is ReplyKind.ANSWER and later.sources:
                    picked = _PICKED.match(later.reason)
                    found.append(
                        Resolution(turn.text, later.sources[0], "picked suggestion" if picked else "rephrased", offered)
                    )
                    break
                if later.reply_kind not in UNANSWERED:
                    break  # the conversation moved on to something else
    return found


def confusions(found: Iterable[Resolution]) -> list[tuple[str, str, int]]:
    """(entry the bot offered first, entry the user actually wanted, times), where the two differ."""
    pairs = Counter((r.offered, r.entry_id) for r in found if r.offered and r.offered != r.entry_id)
    return [(offered, wanted, n) for (offered, wanted), n in pairs.most_common()]


def entry_feedback(turns: Iterable[TurnRecord], feedback: Iterable[FeedbackRecord]) -> list[EntryFeedback]:
    """Thumbs per FAQ entry (the answer's first source), most thumbs-down first."""
    source_of = {t.id: t.sources[0] for t in turns if t.sources}
    down: Counter = Counter()
    up: Counter = Counter()
    comments: dict[str, list[str]] = defaultdict(list)
    for record in feedback:
        entry_id = source_of.get(record.message_id)
        if entry_id is None:
            continue
        (down if record.score < 0 else up)[entry_id] += 1
        if record.score < 0 and record.comment:
            comments[entry_id].append(record.comment)
    ids = sorted(set(down) | set(up), key=lambda e: (-down[e], up[e], e))
    return [EntryFeedback(e, down[e], up[e], tuple(comments[e])) for e in ids]


def distinct_texts(texts: Iterable[str]) -> list[tuple[str, int]]:
    """(text, how many times) per folded text, most frequent first, first spelling kept."""
    counts: Counter = Counter()
    spelling: dict[str, str] = {}
    for text in texts:
        key = fold(text)
        if not key:
            continue
        spelling.setdefault(key, text.strip())
        counts[key] += 1
    return [(spelling[key], n) for key, n in counts.most_common()]


def cluster(
    texts: Sequence[str], counts: Sequence[int], embeddings: np.ndarray, threshold: float = 0.7
) -> list[Cluster]:
    """Greedy threshold clustering on cosine similarity, most frequent texts first.

    Each text joins the cluster whose centroid it is most similar to if that similarity is at least
    `threshold`, else starts a new cluster. Deterministic, O(n * clusters), enough for the few thousand
    unanswered questions a small bot logs; embeddings must be L2-normalised (the encoder's are).
    """
    order = sorted(range(len(texts)), key=lambda i: (-counts[i], i))
    members: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i in order:
        best, best_score = -1, threshold
        if sums:
            centroids = np.stack([s / np.linalg.norm(s) for s in sums])
            scores = centroids @ embeddings[i]
            j = int(np.argmax(scores))
            if scores[j] >= best_score:
                best = j
        if best < 0:
            members.append([i])
            sums.append(embeddings[i].astype(np.float64).copy())
        else:
            members[best].append(i)
            sums[best] += embeddings[i]
    clusters = [
        Cluster(
            texts[m[0]],
            tuple(texts[i] for i in m),
            sum(counts[i] for i in m),
            (s / np.linalg.norm(s)).astype(np.float32),
        )
        for m, s in zip(members, sums)
    ]
    return sorted(clusters, key=lambda c: -c.count)
