"""Build the knowledge base a bot serves: optional fine-tuning on its phrasings, the index, and bands
calibrated on phrasings held out of both.

`smallbot train` and `benchmarks/knowledge.py` both call `train_knowledge_base`, so the benchmark's
train-time threshold is the one a bot gets, not a re-creation of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


from .base import KnowledgeBase, memoised
from .calibrate import Calibration, calibrate_items, calibration_queries, held_out_candidates, held_out_items
from .crossval import cross_validated_held_out
from .entries import FaqEntry
from .finetune import FinetuneReport, FinetuneSettings, finetune_encoder, hold_out_split
from .prior import Prior, generic_offtopic


@dataclass
class KnowledgeTraining:
    """What training produced: the calibrated knowledge base, the tuned encoder (None if untouched)."""

    kb: KnowledgeBase
    calibration: Calibration
    encoder: Any  # the encoder to save (tuned copy, or the one passed in)
    serving: Any  # what the index and calibration were built with (`serve_as(encoder)`, e.g. int8)
    tuned: bool
    finetune: FinetuneReport | None
    held_out: int  # alternates kept out of the one tuning run for calibration (0 with cross-validation)


def train_knowledge_base(
    entries: list[FaqEntry],
    negatives: list[str],
    encoder: Any,
    *,
    finetune: FinetuneSettings | None,
    target_wrong_rate: float,
    calibration: str,
    seed: int = 0,
    say: Callable[[str], None] = lambda _: None,
    owns_encoder: bool = False,
    progress: bool = True,
    index_answers: bool = False,
    prior: Prior | None = None,
    serve_as: Callable[[Any], Any] = lambda e: e,
) -> KnowledgeTraining:
    """Tune (when `finetune` asks for steps), index every phrasing, calibrate the bands.

    `encoder` is cloned before tuning unless `owns_encoder` (it is already a private copy, e.g. tuned on
    intents first, and the FAQ tuning continues on it). With tuning and `calibration` "held_out" (bot.yml
    `knowledge.calibration`), one alternate of every entry with 3+ phrasings stays out of the one tuning run
    and is what the bands are calibrated on; with "cross_validation" the tuning itself is cross-validated
    (`crossval`: FOLDS + 1 tuning runs) and the serving encoder is tuned on every phrasing. Untuned, the
    bands are calibrated on phrasings searched with half their siblings left out (`calibration_queries`).
    The index and the calibration use `serve_as(encoder)` (models.quantize), the embeddings the bot will serve.
    Every way calibrates against the generic off-topic messages too (`prior.generic_offtopic`), searched in
    the serving index: the bot never tuned against them, so they are unseen text for any encoder. `prior`
    replaces the shipped prior (`benchmarks/fit_prior.py` chooses its settings this way).
    """
    report, tuned, held, kept_out = None, owns_encoder, None, None
    if finetune is not None and finetune.steps > 0 and len(entries) >= 2:
        if calibration == "cross_validation":
            held = cross_validated_held_out(
                entries,
                negatives,
                encoder,
                finetune,
                seed=seed,
                serve_as=serve_as,
                progress=progress,
                say=say,
                index_answers=index_answers,
            )
            groups = [list(dict.fromkeys(e.phrasings)) for e in entries]
        else:
            groups, kept_out = hold_out_split(entries, seed)
        say(
            f"knowledge: fine-tuning the encoder for {finetune.steps} steps on {sum(len(g) for g in groups)} "
            f"phrasings" + (f" ({len(kept_out)} held out for calibration)" if kept_out is not None else "")
        )
        if not owns_encoder:
            encoder = encoder.clone()
        report = finetune_encoder(encoder, groups, negatives, [e.answer for e in entries], finetune)
        tuned = True
    serving = serve_as(encoder)
    encode = memoised(lambda texts: serving.encode(list(texts), progress=progress))
    say(f"knowledge: indexing {sum(len(e.phrasings) for e in entries)} phrasings of {len(entries)} FAQ entries")
    kb = KnowledgeBase.build(entries, encode, index_answers=index_answers)
    if negatives:
        kb.set_offtopic(encode(negatives))
    result = Calibration.uncalibrated(kb.bands)
    if entries:
        if held is None:
            queries = calibration_queries(kb, encode, kept_out or None, seed=seed)
            held = held_out_items(kb, queries, negatives, encode(negatives), seed, encode)
        generic = [t for t in generic_offtopic() if t not in set(negatives)]
        measured = held[0] + held_out_candidates(kb, [], generic, encode(generic))
        result = calibrate_items(measured, held[1], kb.bands, target_wrong_rate, seed=seed, prior=prior)
        kb.bands, kb.confidence = result.bands, result.confidence
    return KnowledgeTraining(kb, result, encoder, serving, tuned, report, len(kept_out) if kept_out is not None else 0)
