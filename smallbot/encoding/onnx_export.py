"""`smallbot train`'s last step: export THE encoder to ONNX and prove the export serves what was fitted.

The export is checked against the eager model before it is kept: every check message must embed to a
cosine of at least `MIN_COSINE` with the eager embedding, and the FAQ entries must rank the same for
each. A failed check fails the build (ExportError) rather than serve embeddings the index, calibration
and intent head were not fitted on.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from smallbot.errors import TrainingError
from smallbot.encoding.export_files import pooled_for_export, write_tokenizer_and_meta
from smallbot.encoding.onnx_encoder import FORMAT_VERSION, MODEL_FILE, OnnxEncoder

if TYPE_CHECKING:
    from smallbot.encoding.encoder import Encoder

MIN_COSINE = 0.9999
RANK_DEPTH = 5  # the FAQ entries whose order must agree: the answer, the suggestions, Related questions
TIE = 1e-5  # entries scored closer than this by the eager model may swap places
OPSET = 17

# Fixed check messages: short and long, punctuation, digits, accents, emoji, an empty string, a
# message past the encoder's length limit, so truncation and padding are exercised on every build.
CHECK_MESSAGES: tuple[str, ...] = (
    "hi",
    "hello there!",
    "how do I reset my password?",
    "I forgot my password and the reset link never arrived",
    "can I get a refund for last month?",
    "why was I charged twice on 03/12?",
    "talk to a human",
    "what's the weather tomorrow",
    "¿dónde está mi factura? café, naïve, Zürich",
    "my invoice #A-1234 shows €49.99 instead of $39",
    "ok 👍 thanks!!!",
    "PLEASE CANCEL MY SUBSCRIPTION NOW",
    "",
    "   ",
    "x",
    "how do i export my data to csv or excel and keep the formatting of dates",
    " ".join(["the app crashes when I open the settings page on my phone"] * 30),
)


class ExportError(TrainingError):
    """The ONNX export disagrees with the eager encoder: the build is not kept."""


@dataclass(frozen=True)
class ExportCheck:
    """What the verification found: the worst cosine over the check messages, and how many were checked."""

    messages: int
    worst_cosine: float
    worst_message: str
    faq_rows: int


def export_onnx(
    encoder: "Encoder",
    directory: Path,
    faq_vectors: np.ndarray,
    faq_ids: Sequence[str],
    extra: Sequence[str] = (),
) -> ExportCheck:
    """Export a loaded eager `Encoder` to `directory` (replaced as a whole) and verify it.

    `faq_vectors` / `faq_ids` are the FAQ index's rows (embedded by the eager encoder at train time) and
    the entry each belongs to: the ranking check compares the entries each check message ranks first.
    `extra` adds some of the bot's own phrasings to the fixed check messages. Raises ExportError, leaving
    the previous export (if any) in place, when the ONNX model disagrees."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write(encoder, tmp)
        check = verify(encoder, OnnxEncoder(tmp, threads=1).load(), [*CHECK_MESSAGES, *extra], faq_vectors, faq_ids)
        (tmp / "check.json").write_text(json.dumps(dataclasses.asdict(check), indent=2))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return check


def _write(encoder: "Encoder", directory: Path) -> None:
    import torch

    with pooled_for_export(encoder, "export me please") as (module, sample):
        torch.onnx.export(
            module,
            sample,
            str(directory / MODEL_FILE),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    write_tokenizer_and_meta(encoder, directory, format_version=FORMAT_VERSION, quantize="none")


def verify(
    eager: "Encoder", exported: OnnxEncoder, messages: Sequence[str], faq_vectors: np.ndarray, faq_ids: Sequence[str]
) -> ExportCheck:
    """Raise ExportError unless `exported` embeds every message like `eager` (cosine >= MIN_COSINE, one
    message per pass and in batches) and ranks the FAQ entries the same for each."""
    messages = list(messages)
    reference = eager.encode(messages, batch_size=1)
    alone = np.concatenate([exported.encode([m]) for m in messages])
    batched = exported.encode(messages, batch_size=16)  # padded next to longer messages
    worst, worst_message = 1.0, ""
    for embedded in (alone, batched):
        cosine = np.sum(embedded * reference, axis=1) / (
            np.linalg.norm(embedded, axis=1) * np.linalg.norm(reference, axis=1) + 1e-12
        )
        i = int(np.argmin(cosine))
        if cosine[i] < worst:
            worst, worst_message = float(cosine[i]), messages[i]
    if worst < MIN_COSINE:
        raise ExportError(
            f"the ONNX encoder disagrees with the eager one: cosine {worst:.6f} < {MIN_COSINE} on "
            f"{worst_message[:60]!r}; the build was not kept (report this with your encoder's name)"
        )
    if len(faq_ids):
        rows = np.asarray(faq_vectors, dtype=np.float32)
        for i, message in enumerate(messages):
            want = _ranking(reference[i], rows, faq_ids)
            got = _ranking(alone[i], rows, faq_ids)
            if not _same_order(want, got):
                raise ExportError(
                    f"the ONNX encoder ranks the FAQ differently from the eager one for {message[:60]!r}: "
                    f"{[e for e, _ in got[:RANK_DEPTH]]} instead of {[e for e, _ in want[:RANK_DEPTH]]}; "
                    "the build was not kept"
                )
    return ExportCheck(len(messages), worst, worst_message[:60], len(faq_ids))


def _ranking(query: np.ndarray, rows: np.ndarray, ids: Sequence[str]) -> list[tuple[str, float]]:
    """Every entry for `query`, best first, each scored by its best phrasing."""
    best: dict[str, float] = {}
    for entry, score in zip(ids, rows @ query):
        best[entry] = max(best.get(entry, -2.0), float(score))
    return sorted(best.items(), key=lambda kv: -kv[1])


def _same_order(want: list[tuple[str, float]], got: list[tuple[str, float]]) -> bool:
    """The same entries in the same order, except that entries the eager model scores within TIE of each
    other may swap (float rounding decides a near-tie either way)."""
    if [e for e, _ in want[:RANK_DEPTH]] == [e for e, _ in got[:RANK_DEPTH]]:
        return True
    scores = dict(want)
    for (a, _), (b, _) in zip(want[:RANK_DEPTH], got[:RANK_DEPTH]):
        if a != b and abs(scores[a] - scores[b]) > TIE:
            return False
    return True
