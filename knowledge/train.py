"""Build the knowledge base a bot serves: optional fine-tuning on its phrasings, the index, and bands
calibrated on phrasings held out of both.

`smallbot train` and `benchmarks/knowledge.py` both call `train_knowledge_base`, so the benchmark's
train-time threshold is the one a bot gets, not a re-creation of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .base import KnowledgeBase
from .calibrate import Calibration, calibrate_items, calibration_queries, held_out_items
from .crossval import FOLDS, cross_validated_held_out
from .entries import FaqEntry
from .finetune import FinetuneReport, FinetuneSettings, finetune_encoder


@dataclass
class KnowledgeTraining:
    """What training produced: the calibrated knowledge base, the tuned encoder (None if untouched)."""

    kb: KnowledgeBase
    calibration: Calibration
    encoder: Any  # the encoder to save (tuned copy, or the one passed in)
    serving: Any  # what the index and calibration were built with (`serve_as(encoder)`, e.g. int8)
    tuned: bool
    finetune: FinetuneReport | None
    held_out: int  # phrasings the bands were calibrated on as unseen text


def train_knowledge_base(entries: list[FaqEntry], negatives: list[str], encoder: Any, *,
                         finetune: FinetuneSettings | None, target_wrong_rate: float, seed: int = 0,
                         say: Callable[[str], None] = lambda _: None, owns_encoder: bool = False,
                         progress: bool = True, serve_as: Callable[[Any], Any] = lambda e: e,
                         folds: int = FOLDS) -> KnowledgeTraining:
    """Tune (when `finetune` asks for steps), index every phrasing, calibrate the bands.

    `encoder` is cloned before tuning unless `owns_encoder` (it is already a private copy, e.g. tuned on
    intents first, and the FAQ tuning continues on it). With tuning, the bands are calibrated by
    `folds`-fold cross-validation of the tuning itself (`crossval`), and the serving encoder is tuned on
    every phrasing; without, on phrasings searched with half their siblings left out of the one index
    (`calibration_queries`). The index and the calibration use `serve_as(encoder)` (models.quantize), the
    embeddings the bot will serve.
    """
    report, tuned, held = None, owns_encoder, None
    if finetune is not None and finetune.steps > 0 and len(entries) >= 2:
        held = cross_validated_held_out(entries, negatives, encoder, finetune, folds=folds, seed=seed,
                                        serve_as=serve_as, progress=progress, say=say)
        phrasings = sum(len(e.phrasings) for e in entries)
        say(f"knowledge: fine-tuning the encoder for {finetune.steps} steps on all {phrasings} phrasings")
        if not owns_encoder:
            encoder = encoder.clone()
        report = finetune_encoder(encoder, [list(dict.fromkeys(e.phrasings)) for e in entries], negatives,
                                  [e.answer for e in entries], finetune)
        tuned = True
    serving = serve_as(encoder)
    encode = lambda texts: serving.encode(list(texts), progress=progress)  # noqa: E731
    say(f"knowledge: indexing {sum(len(e.phrasings) for e in entries)} phrasings of {len(entries)} FAQ entries")
    kb = KnowledgeBase.build(entries, encode)
    result = Calibration.uncalibrated(kb.bands)
    if entries:
        if held is None:
            queries = calibration_queries(kb, encode, seed=seed)
            held = held_out_items(kb, queries, negatives, encode(negatives), seed, encode)
        measured, typos = held
        positives = sum(1 for item in measured if item.truth is not None)
        result = calibrate_items(measured, typos, kb.bands, target_wrong_rate, positives,
                                 len(measured) - positives, seed=seed)
        kb.bands, kb.confidence = result.bands, result.confidence
    return KnowledgeTraining(kb, result, encoder, serving, tuned, report, 0 if held is None else
                             sum(1 for item in held[0] if item.truth is not None))
