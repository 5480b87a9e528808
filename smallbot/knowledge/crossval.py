"""Cross-validated held-out messages for a bot whose encoder is fine-tuned on its own phrasings.

A tuned encoder has seen every phrasing it indexes, so searching those phrasings again says nothing
about new rephrasings. Calibration therefore repeats the whole training path per fold: each entry's
phrasings (and the bot's negatives) are dealt into `folds` parts; for each part a copy of the encoder is
tuned on the rest, the rest is indexed with it, and the part is searched as unseen text. The bands are
then calibrated on every fold's held-out messages together, and the encoder that serves is tuned on
everything. The default for a tuned bot (`knowledge.calibration: cross_validation`); it costs `folds` + 1
tuning runs. Holding one alternate per entry out of the one tuning run (`held_out`, the other choice) gave
too few held-out messages to bound a 2% wrong rate on StackFAQ (125: nothing was answered on split seed 1)
and, where it did answer, an optimistic threshold (2.1% wrong on test), because the bot's negatives it was
calibrated on were the ones the encoder had been tuned to push away. Figures: benchmarks/RESULTS.md, "Calibration: the
train-time answer threshold", and benchmarks/HISTORY.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from .base import KnowledgeBase
from .calibrate import HeldOut, Query, held_out_items
from .entries import FaqEntry
from .finetune import FinetuneSettings, finetune_encoder

FOLDS = 2  # like the untuned path, which searches each phrasing with half its siblings left out


@dataclass(frozen=True)
class Fold:
    """One fold: what its encoder copy is tuned on and indexes, and what it searches as unseen."""

    entries: tuple[FaqEntry, ...]  # each entry with only its training phrasings (question = the first of them)
    held_out: tuple[tuple[str, str], ...]  # (text, entry id) searched as unseen
    negatives: tuple[str, ...]  # tuned against
    held_out_negatives: tuple[str, ...]  # searched as unseen off-topic messages


def fold_split(entries: Sequence[FaqEntry], negatives: Sequence[str], folds: int = FOLDS, seed: int = 0) -> list[Fold]:
    """Deal every entry's distinct phrasings into `folds` parts (seeded), so each part holds about 1/folds of
    them and never all: an entry with one phrasing is never held out, and each fold keeps at least one
    phrasing of every entry to index. The negatives are dealt the same way."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    rng = random.Random(seed)
    dealt: list[list[tuple[str, int]]] = []  # per entry: (phrasing, its part; -1 = never held out)
    for entry in entries:
        phrasings = list(dict.fromkeys(entry.phrasings))
        if len(phrasings) < 2:
            dealt.append([(t, -1) for t in phrasings])
            continue
        order = list(range(len(phrasings)))
        rng.shuffle(order)
        start = rng.randrange(folds)
        parts = [0] * len(phrasings)
        for n, i in enumerate(order):
            parts[i] = (start + n) % folds
        dealt.append(list(zip(phrasings, parts)))
    shuffled = list(dict.fromkeys(negatives))
    rng.shuffle(shuffled)
    result = []
    for fold in range(folds):
        kept_entries, held = [], []
        for entry, pairs in zip(entries, dealt):
            kept = [t for t, part in pairs if part != fold]
            held += [(t, entry.id) for t, part in pairs if part == fold]
            kept_entries.append(FaqEntry(entry.id, kept[0], tuple(kept[1:]), entry.answer))
        result.append(
            Fold(
                tuple(kept_entries),
                tuple(held),
                tuple(t for n, t in enumerate(shuffled) if n % folds != fold),
                tuple(t for n, t in enumerate(shuffled) if n % folds == fold),
            )
        )
    return result


def cross_validated_held_out(
    entries: Sequence[FaqEntry],
    negatives: Sequence[str],
    encoder: Any,
    settings: FinetuneSettings,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    serve_as: Callable[[Any], Any] = lambda e: e,
    progress: bool = False,
    say: Callable[[str], None] = lambda _: None,
    index_answers: bool = False,
) -> tuple[list[HeldOut], list[HeldOut]]:
    """(measured, typo'd copies) from every fold, as `calibrate_items` takes them; `encoder` is not changed.

    Each fold's encoder copy is tuned with the same settings as the serving one (same steps: every fold
    still trains on every entry, with fewer phrasings each), so its scores on unseen text are what the
    serving encoder's will be on new rephrasings, if anything a little lower.
    """
    measured: list[HeldOut] = []
    typos: list[HeldOut] = []
    for n, fold in enumerate(fold_split(entries, negatives, folds, seed)):
        say(
            f"knowledge: calibration fold {n + 1}/{folds}: tuning a copy of the encoder on the other "
            f"{sum(len(e.phrasings) for e in fold.entries)} phrasings, searching {len(fold.held_out)} "
            f"+ {len(fold.held_out_negatives)} off-topic as unseen"
        )
        copy = encoder.clone()
        finetune_encoder(
            copy,
            [list(e.phrasings) for e in fold.entries],
            list(fold.negatives),
            [e.answer for e in fold.entries],
            settings,
        )
        serving = serve_as(copy)
        encode = lambda texts, serving=serving: serving.encode(list(texts), progress=progress)  # noqa: E731
        kb = KnowledgeBase.build(list(fold.entries), encode, index_answers=index_answers)
        texts = [t for t, _ in fold.held_out]
        vectors = encode(texts) if texts else np.zeros((0, 1), np.float32)
        queries: list[Query] = [(t, entry_id, vectors[i], None) for i, (t, entry_id) in enumerate(fold.held_out)]
        negs = list(fold.held_out_negatives)
        fold_measured, fold_typos = held_out_items(kb, queries, negs, encode(negs) if negs else [], seed, encode)
        offset = len(measured)
        measured += fold_measured
        typos += [replace(item, source=item.source + offset) for item in fold_typos]
    return measured, typos
