"""THE encoder of a build: the one the intent head, the FAQ index and the calibration were fitted on.

Every command that embeds text for a built bot (serving, `eval`, `report`, `learn`) gets it here, so none
of them embeds with the packaged base model while the head was fitted on a fine-tuned one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smallbot.encoding.encoder import Encoder
from smallbot.errors import ArtifactError
from smallbot.encoding.torchscript import EXPORT_DIR, ExportedEncoder
from smallbot.encoding.quantize import quantized_encoder

if TYPE_CHECKING:
    from smallbot.project.loader import Project

# where `smallbot train` keeps a fine-tuned encoder, inside the build directory
TUNED_ENCODER = Path("knowledge") / "encoder"


def serving_encoder(project: "Project", encoder: Encoder | ExportedEncoder | None = None) -> Encoder | ExportedEncoder:
    """The loaded encoder a built `project` serves with, at the precision it was fitted with.

    Preference: the TorchScript export made at train time (no transformers import); else the fine-tuned
    encoder in the build; else `encoder` (an already loaded base encoder, to share one) or the packaged
    model bot.yml names. An untrained project gets the base encoder, which is what training will start from.

    >>> serving_encoder(load_project("examples/helpdesk")).encode(["hello"]).shape
    (1, 384)
    """
    build = project.build_dir
    exported = build / EXPORT_DIR
    tuned = build / TUNED_ENCODER
    if (encoder is None or not encoder.loaded) and ExportedEncoder.available(exported):
        encoder = ExportedEncoder(exported)
    elif tuned.is_dir() and (encoder is None or encoder.path != tuned):
        encoder = Encoder(tuned)  # the fine-tuned encoder is THE encoder: intents were fitted on it too
    encoder = (encoder or Encoder(project.config.models.encoder, project.root)).load()
    encoder = _at_build_precision(encoder, project.config.models.quantize)
    if project.config.models.threads:
        encoder.set_threads(project.config.models.threads)
    return encoder


def _at_build_precision(encoder, mode: str):
    """A traced export already is at the build's precision (and must match bot.yml); an eager encoder (no
    export, or one just trained in this process) is quantised here."""
    if isinstance(encoder, ExportedEncoder):
        if encoder.quantize != mode:
            raise ArtifactError(
                f"the serving encoder in {encoder.path} was exported with quantize "
                f"{encoder.quantize!r} but bot.yml says models.quantize: {mode}: run `smallbot train`"
            )
        return encoder
    return quantized_encoder(encoder, mode)
