"""Contrastive fine-tuning of the shared encoder on groups of texts that mean the same thing.

A group is an FAQ entry's phrasings or an intent's examples; both the knowledge base and the intent
classifier tune THE encoder through this one loop, so a bot keeps one encoder pass per message.
Plain torch, the objective of sentence-transformers' MultipleNegativesRankingLoss in both directions
(docs/architecture.md says why that library's loss and model class are not used): each step takes one
(anchor, positive) pair from
each of `batch_size` distinct groups; every other group's positive in the batch is an in-batch
negative, and texts that belong to no group (small talk, out of scope) plus the nearest other
group's text (mined with the encoder before training) are extra hard negatives. Anchors are
sometimes typo'd so the dense side learns the misspellings users type. Steps are bounded, and the
seed fixes every random choice.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """How long and how hard to train; the defaults suit bots of tens to hundreds of entries."""

    steps: int = 40
    batch_size: int = 32
    learning_rate: float = 5e-5
    scale: float = 20.0  # inverse temperature on cosine similarities
    typo_rate: float = 0.3  # share of anchors given one typo
    hard_negatives: bool = True
    use_answers: bool = False  # add (phrasing, answer) pairs as positives
    max_length: int = 48
    train_layers: int = 2  # only the top N transformer layers learn (0 = all): cheaper backward, less overfitting
    seed: int = 0


@dataclass(frozen=True)
class FinetuneReport:
    """What training did, for the manifest."""

    steps: int
    seconds: float
    first_loss: float
    last_loss: float


def add_typo(text: str, rng: random.Random) -> str:
    """One keyboard-style slip (drop, double, swap or replace a letter) in a word of 4+ letters."""
    words = text.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        w = w[:j] + w[j + 1 :]
    elif kind == 1:
        w = w[:j] + w[j] + w[j:]
    elif kind == 2:
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
    else:
        w = w[:j] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def _nearest_other(groups: Sequence[Sequence[str]], vectors: np.ndarray, owner: np.ndarray) -> list[list[int]]:
    """For each group, the text rows of other groups most similar to its texts (hard negatives).

    One group at a time, so 15k intent examples need a [group size, n] block, never an [n, n] matrix.
    """
    out: list[list[int]] = []
    for g in range(len(groups)):
        rows = np.flatnonzero(owner == g)
        best = (vectors[rows] @ vectors.T).max(axis=0)
        best[rows] = -np.inf
        out.append([int(r) for r in np.argsort(-best)[:3] if np.isfinite(best[r])])
    return out


def warmup_linear_decay(optimizer, total: int):
    """The learning-rate schedule of every tuning loop: linear warm-up over the first tenth, then linear decay."""
    import torch

    warmup = max(1, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / total)
    )


def shuffled_batches(n: int, size: int, rng: random.Random) -> Iterator[list[int]]:
    """Endless batches of `size` indices into range(n): each pass over them in a fresh seeded order, so a
    bounded number of steps sees every example about equally often."""
    order: list[int] = []
    while True:
        if len(order) < size:
            fresh = list(range(n))
            rng.shuffle(fresh)
            order.extend(fresh)
        picked, order = order[:size], order[size:]
        yield picked


def contrastive_batches(
    groups: Sequence[Sequence[str]],
    hard: Sequence[Sequence[int]],
    negatives: Sequence[str],
    answers: Sequence[str] | None,
    settings: FinetuneSettings,
    rng: random.Random,
) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """Endless (anchors, positives, extra negatives) batches: one (anchor, positive) pair from each of
    `batch_size` distinct groups, a mined hard negative per group (`hard`: rows of the flattened group texts)
    and a few texts of no group. Every random choice comes from `rng`, so a seed fixes the batches."""
    texts = [t for g in groups for t in g]
    size = min(settings.batch_size, len(groups))
    batches = shuffled_batches(len(groups), size, rng)
    while True:
        picked = next(batches)
        anchors, positives, extra = [], [], []
        for g in picked:
            phrasings = groups[g]
            options = list(phrasings)
            if settings.use_answers and answers is not None and answers[g]:
                options.append(answers[g])
            anchor = rng.choice(phrasings)
            rest = [t for t in options if t != anchor]
            positive = rng.choice(rest) if rest else anchor
            if rng.random() < settings.typo_rate or positive == anchor:
                anchor = add_typo(anchor, rng)
            anchors.append(anchor)
            positives.append(positive)
            if hard[g]:
                extra.append(texts[rng.choice(hard[g])])
        if negatives:
            extra.extend(rng.sample(list(negatives), min(len(negatives), max(4, size // 4))))
        yield anchors, positives, extra


def _freeze_below(model, train_layers: int) -> None:
    """Leave only the top `train_layers` encoder layers trainable (BERT-family layout); 0 trains all."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not train_layers or layers is None:
        return
    keep = {id(p) for layer in list(layers)[-train_layers:] for p in layer.parameters()}
    for param in model.parameters():
        param.requires_grad_(id(param) in keep)


def finetune_encoder(
    encoder,
    groups: Sequence[Sequence[str]],
    negatives: Sequence[str] = (),
    answers: Sequence[str] | None = None,
    settings: FinetuneSettings = FinetuneSettings(),
    vectors: np.ndarray | None = None,
) -> FinetuneReport:
    """Train `encoder.model` in place on `groups` (each: the phrasings of one entry or intent).

    Groups with a single phrasing still train (anchor = a typo'd copy, or the answer when
    `use_answers`). Pass a copy of the encoder (`Encoder.clone()`) to keep the original.
    `vectors`: the encoder's embeddings of the groups' texts in order, when the caller already has
    them (mining hard negatives otherwise costs one encoder pass over every text).
    """
    import torch

    from smallbot.encoding.encoder import pool

    started = time.perf_counter()
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    groups = [list(g) for g in groups if len(g)]
    if len(groups) < 2 or settings.steps <= 0:
        return FinetuneReport(0, 0.0, 0.0, 0.0)
    texts = [t for g in groups for t in g]
    owner = np.array([i for i, g in enumerate(groups) for _ in g])
    if settings.hard_negatives:
        hard = _nearest_other(groups, encoder.encode(texts) if vectors is None else np.asarray(vectors), owner)
    else:
        hard = [[] for _ in groups]
    model, tokenizer = encoder.model, encoder.tokenizer
    _freeze_below(model, settings.train_layers)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)
    total = settings.steps
    schedule = warmup_linear_decay(optimizer, total)

    def embed(batch: list[str]):
        tokens = tokenizer(batch, padding=True, truncation=True, max_length=settings.max_length, return_tensors="pt")
        return pool(model(**tokens).last_hidden_state, tokens["attention_mask"], encoder.pooling)

    losses: list[float] = []
    model.train()
    try:
        for anchors, positives, extra in itertools.islice(
            contrastive_batches(groups, hard, negatives, answers, settings, rng), total
        ):
            a = embed(anchors)
            p = embed(positives + extra)
            logits = settings.scale * a @ p.T
            labels = torch.arange(len(anchors))
            # Symmetric: anchors find their positive, and positives find their anchor.
            loss = torch.nn.functional.cross_entropy(logits, labels)
            loss = loss + torch.nn.functional.cross_entropy(logits[:, : len(anchors)].T, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
    finally:
        model.eval()
    seconds = time.perf_counter() - started
    log.info("fine-tuned encoder: %d steps in %.1fs, loss %.3f -> %.3f", total, seconds, losses[0], losses[-1])
    return FinetuneReport(total, round(seconds, 2), round(losses[0], 4), round(float(np.mean(losses[-5:])), 4))
