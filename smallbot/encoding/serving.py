"""THE encoder of a build: the one the intent head, the FAQ index and the calibration were fitted on.

Every command that embeds text for a built bot (serving, `eval`, `report`, `learn`) gets it here, so none
of them embeds with the packaged base model while the head was fitted on a fine-tuned one.

A built bot serves with the ONNX export `smallbot train` verified (onnxruntime, no torch import). The
TorchScript export is kept for what ONNX does not carry, builds quantised with torch's dynamic int8
(`models.quantize`), and for serving the same build both ways (`export_serving_encoder`, benchmarks/speed.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Union

from smallbot.encoding.encoder import Encoder
from smallbot.encoding.onnx_encoder import ONNX_DIR, OnnxEncoder
from smallbot.encoding.quantize import quantized_encoder
from smallbot.encoding.torchscript import EXPORT_DIR, ExportedEncoder
from smallbot.errors import ArtifactError

if TYPE_CHECKING:
    from smallbot.project.loader import Project

log = logging.getLogger(__name__)

# where `smallbot train` keeps a fine-tuned encoder, inside the build directory
TUNED_ENCODER = Path("knowledge") / "encoder"

ServingEncoder = Union[Encoder, ExportedEncoder, OnnxEncoder]


def serving_encoder(project: "Project", encoder: ServingEncoder | None = None) -> ServingEncoder:
    """The loaded encoder a built `project` serves with, at the precision it was fitted with.

    Preference: the ONNX export made at train time (imports neither torch nor transformers); else the
    TorchScript export (int8 builds, older builds; imports torch); else the fine-tuned encoder in the
    build; else `encoder` (an already loaded encoder, to share one, e.g. just after training in this
    process) or the packaged model bot.yml names. An untrained project gets the base encoder, which is
    what training will start from.

    >>> serving_encoder(load_project("examples/helpdesk")).encode(["hello"]).shape
    (1, 384)
    """
    build = project.build_dir
    onnx_dir, exported, tuned = build / ONNX_DIR, build / EXPORT_DIR, build / TUNED_ENCODER
    threads = project.config.models.threads
    fresh = encoder is None or not encoder.loaded
    if fresh and OnnxEncoder.available(onnx_dir):
        encoder = OnnxEncoder(onnx_dir, threads=threads)
    elif fresh and ExportedEncoder.available(exported):
        log.info("%s: serving with the TorchScript export, which imports torch", build)
        encoder = ExportedEncoder(exported)
    elif tuned.is_dir() and (encoder is None or encoder.path != tuned):
        encoder = Encoder(tuned)  # the fine-tuned encoder is THE encoder: intents were fitted on it too
    loaded = (encoder or Encoder(project.config.models.encoder, project.root)).load()
    loaded = _at_build_precision(loaded, project.config.models.quantize)
    if threads:
        loaded.set_threads(threads)
    return loaded


def _at_build_precision(encoder: ServingEncoder, mode: str) -> ServingEncoder:
    """An export already is at the build's precision (and must match bot.yml); an eager encoder (no
    export, or one just trained in this process) is quantised here."""
    if isinstance(encoder, (ExportedEncoder, OnnxEncoder)):
        if encoder.quantize != mode:
            raise ArtifactError(
                f"the serving encoder in {encoder.path} was exported with quantize "
                f"{encoder.quantize!r} but bot.yml says models.quantize: {mode}: run `smallbot train`"
            )
        return encoder
    return quantized_encoder(encoder, mode)
