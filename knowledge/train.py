"""Build the knowledge base a bot serves: optional fine-tuning on its phrasings, the index, and bands
calibrated on phrasings held out of both.

`smallbot train` and `benchmarks/knowledge.py` both call `train_knowledge_base`, so the benchmark's
train-time threshold is the one a bot gets, not a re-creation of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .base import KnowledgeBase
from .calibrate import Calibration, calibrate, calibration_queries
from .entries import FaqEntry
from .finetune import FinetuneReport, FinetuneSettings, finetune_encoder, hold_out_split


@dataclass
class KnowledgeTraining:
    """What training produced: the calibrated knowledge base, the tuned encoder (None if untouched)."""

    kb: KnowledgeBase
    calibration: Calibration
    encoder: Any  # the encoder to save (tuned copy, or the one passed in)
    serving: Any  # what the index and calibration were built with (`serve_as(encoder)`, e.g. int8)
    tuned: bool
    finetune: FinetuneReport | None
    held_out: int  # phrasings kept out of fine-tuning for calibration


def train_knowledge_base(entries: list[FaqEntry], negatives: list[str], encoder: Any, *,
                         finetune: FinetuneSettings | None, target_wrong_rate: float, seed: int = 0,
                         say: Callable[[str], None] = lambda _: None, owns_encoder: bool = False,
                         progress: bool = True, serve_as: Callable[[Any], Any] = lambda e: e) -> KnowledgeTraining:
    """Tune (when `finetune` asks for steps), index every phrasing, calibrate the bands.

    `encoder` is cloned before tuning unless `owns_encoder` (it is already a private copy, e.g. tuned on
    intents first, and the FAQ tuning continues on it). With tuning, one alternate of every entry with 3+
    phrasings stays out of it and is what the bands are calibrated on. The index and the calibration use
    `serve_as(encoder)` (models.quantize), the embeddings the bot will serve.
    """
    report, held_out, tuned = None, [], owns_encoder
    if finetune is not None and finetune.steps > 0 and len(entries) >= 2:
        groups, held_out = hold_out_split(entries, seed)
        say(f"knowledge: fine-tuning the encoder for {finetune.steps} steps on "
            f"{sum(len(g) for g in groups)} phrasings ({len(held_out)} held out for calibration)")
        if not owns_encoder:
            encoder = encoder.clone()
        report = finetune_encoder(encoder, groups, negatives, [e.answer for e in entries], finetune)
        tuned = True
    serving = serve_as(encoder)
    encode = lambda texts: serving.encode(list(texts), progress=progress)  # noqa: E731
    say(f"knowledge: indexing {sum(len(e.phrasings) for e in entries)} phrasings of {len(entries)} FAQ entries")
    kb = KnowledgeBase.build(entries, encode)
    result = Calibration.uncalibrated(kb.bands)
    if entries:
        queries = calibration_queries(kb, encode, held_out or None, seed=seed)
        result = calibrate(kb, queries, negatives, encode(negatives), target_wrong_rate, seed=seed, encode=encode)
        kb.bands, kb.confidence = result.bands, result.confidence
    return KnowledgeTraining(kb, result, encoder, serving, tuned, report, len(held_out))
