"""End-to-end fine-tuning of THE encoder with a cross-entropy classification head on the intent examples.

The alternative to the contrastive tuning in `smallbot.encoding.contrastive`: every step takes a batch
of examples (seeded shuffle, epochs over the data), embeds them with the body being trained (same
pooling and L2 normalisation as serving) and scores them against every intent with a cosine head
(learned class directions, initialised at the class means of the starting embeddings, fixed inverse
temperature `scale`). Cross-entropy with label smoothing then moves body and head together; the full
softmax makes every other intent a negative at every step, the confusable ones most of all. Out-of-scope
examples from the intents files are an extra class when `oos_class` (else they are not trained on).

Only the body is kept: `train_linear` refits its head, temperature and out-of-scope score on the tuned
embeddings afterwards, so the served artifact is the usual tuned encoder + linear head (safetensors +
JSON), and one encoder pass per message still serves intents and FAQ retrieval.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndToEndSettings:
    """How long and how hard to train; defaults chosen on CLINC150 val (benchmarks/RESULTS.md)."""

    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 5e-5  # body
    head_learning_rate: float = 2e-3
    scale: float = 20.0  # inverse temperature on the cosine head's logits
    # 0: smoothing pulls every example towards every other intent's direction (same-intent minus other-intent
    # cosine margin fell 0.21 -> 0.07 on the unit test's 4 intents with 0.1), which the distance features need
    label_smoothing: float = 0.0
    oos_class: bool = True  # train out-of-scope examples as one extra class
    max_length: int = 32
    train_layers: int = 0  # only the top N transformer layers learn (0 = all)
    seed: int = 0


@dataclass(frozen=True)
class EndToEndReport:
    """What training did, for the manifest."""

    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    train_accuracy: float  # over the last tenth of the steps, on the batches as trained


def finetune_classifier(
    encoder,
    texts: Sequence[str],
    labels: Sequence[str],
    out_of_scope: Sequence[str] = (),
    settings: EndToEndSettings = EndToEndSettings(),
    vectors: np.ndarray | None = None,
) -> EndToEndReport:
    """Train `encoder.model` in place on (text, intent) pairs; the head is thrown away afterwards.

    `vectors`: the encoder's embeddings of `texts` in order when the caller has them (they initialise
    the head; otherwise one encoder pass over `texts` does). Pass a copy (`Encoder.clone()`) to keep the
    original encoder.
    """
    import torch

    from smallbot.encoding.contrastive import _freeze_below, shuffled_batches, warmup_linear_decay
    from smallbot.encoding.encoder import pool

    started = time.perf_counter()
    texts, labels = list(texts), list(labels)
    names = sorted(set(labels))
    if len(names) < 2 or settings.steps <= 0:
        return EndToEndReport(0, 0.0, 0.0, 0.0, 0.0)
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    index = {name: i for i, name in enumerate(names)}
    y = [index[label] for label in labels]
    x = np.asarray(encoder.encode(texts) if vectors is None else vectors, dtype=np.float32)
    centres = np.stack([x[np.asarray(y) == k].mean(axis=0) for k in range(len(names))])
    oos = list(out_of_scope) if settings.oos_class else []
    if oos:
        centres = np.vstack([centres, np.asarray(encoder.encode(oos), dtype=np.float32).mean(axis=0)])
        texts, y = texts + oos, y + [len(names)] * len(oos)
    head = torch.nn.Parameter(torch.from_numpy(centres.astype(np.float32)))
    model, tokenizer = encoder.model, encoder.tokenizer
    _freeze_below(model, settings.train_layers)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if p.requires_grad], "lr": settings.learning_rate},
            {"params": [head], "lr": settings.head_learning_rate, "weight_decay": 0.0},
        ]
    )
    total = settings.steps
    schedule = warmup_linear_decay(optimizer, total)
    targets = torch.tensor(y)
    batches = shuffled_batches(len(texts), min(settings.batch_size, len(texts)), rng)
    losses: list[float] = []
    hits: list[float] = []
    model.train()
    try:
        for _ in range(total):
            picked = next(batches)
            tokens = tokenizer(
                [texts[i] for i in picked],
                padding=True,
                truncation=True,
                max_length=settings.max_length,
                return_tensors="pt",
            )
            embedded = pool(model(**tokens).last_hidden_state, tokens["attention_mask"], encoder.pooling)
            logits = settings.scale * embedded @ torch.nn.functional.normalize(head, dim=-1).T
            batch_y = targets[picked]
            loss = torch.nn.functional.cross_entropy(logits, batch_y, label_smoothing=settings.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            hits.append(float((logits.detach().argmax(1) == batch_y).float().mean()))
    finally:
        model.eval()
        for param in model.parameters():
            param.requires_grad_(True)
    seconds = time.perf_counter() - started
    tail = max(1, math.ceil(total / 10))
    log.info("end-to-end tuned encoder: %d steps in %.1fs, loss %.3f -> %.3f", total, seconds, losses[0], losses[-1])
    return EndToEndReport(
        total,
        round(seconds, 2),
        round(losses[0], 4),
        round(float(np.mean(losses[-tail:])), 4),
        round(float(np.mean(hits[-tail:])), 4),
    )
