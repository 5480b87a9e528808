"""The serving encoder: the bot's encoder traced to TorchScript at train time, with its tokenizer read by
the `tokenizers` library — so answering never imports transformers.

Importing transformers' BERT modules costs ~2 s of a cold start on 2 cores while reading the traced
weights takes ~0.1 s. The export is verified against the eager model on the bot's own phrasings and
only kept when they agree; without an export the bot loads the regular `Encoder`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from smallbot.encoding.export_files import ExportReader, pooled_for_export, write_tokenizer_and_meta
from smallbot.errors import NotReadyError

EXPORT_DIR = "serve_encoder"
FORMAT_VERSION = 1
_FILES = ("encoder.ts", "tokenizer.json", "export.json")


def export_encoder(
    encoder, directory: Path, check_texts: Sequence[str], tolerance: float = 1e-4, quantize: str = "none"
) -> bool:
    """Trace `encoder` (a loaded `Encoder`, already quantised as `quantize` says) into `directory`; False (and
    nothing written) when the traced model disagrees with the eager one on `check_texts`."""
    import torch

    with pooled_for_export(encoder, "trace me please") as (module, sample):
        traced = torch.jit.trace(module, sample, check_trace=False)
    directory.mkdir(parents=True, exist_ok=True)
    traced.save(str(directory / "encoder.ts"))
    write_tokenizer_and_meta(encoder, directory, format_version=FORMAT_VERSION, quantize=quantize)
    texts = list(check_texts)[:256] or ["hello"]
    exported = ExportedEncoder(directory).load()
    # int8 activations are scaled per batch, so a quantised export is compared at the same batching; an fp32
    # one must also match across batchings (padding)
    eager = encoder.encode(texts, batch_size=17 if quantize != "none" else 64)
    worst = float(np.abs(exported.encode(texts, batch_size=17) - eager).max())
    if worst > tolerance:
        for name in _FILES:
            (directory / name).unlink(missing_ok=True)
        return False
    return True


class ExportedEncoder(ExportReader):
    """Same interface as `Encoder` for serving: `load()`, `encode(texts)`, `dim`, `path`, `set_threads`.

    >>> enc = ExportedEncoder(Path("mybot/.smallbot/serve_encoder")).load()
    """

    FILES = _FILES
    FORMAT_VERSION = FORMAT_VERSION
    KIND = "serving TorchScript"

    def load(self) -> "ExportedEncoder":
        if self._runtime is not None:
            return self
        import torch

        self._read_meta_and_tokenizer()
        with warnings.catch_warnings():  # int8 weights: torch warns that quantised tensor creation is deprecated
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
            model = torch.jit.load(str(self.path / "encoder.ts"))
        model.eval()
        self._runtime = model
        self.encode(["warm up"])
        return self

    def set_threads(self, threads: int) -> "ExportedEncoder":
        self.threads = threads
        return self

    def _forward(self, texts: list[str]):
        import torch

        batch = self._tokenizer.encode_batch(texts)
        ids = torch.tensor([b.ids for b in batch], dtype=torch.long)
        mask = torch.tensor([b.attention_mask for b in batch], dtype=torch.long)
        return self._runtime(ids, mask)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts exactly as `Encoder.encode` does, through the traced model."""
        from smallbot.encoding.encoder import encode_in_batches

        if self._runtime is None:
            raise NotReadyError("ExportedEncoder.load() must run before encode()")
        return encode_in_batches(texts, self.dim, self._forward, self._lock, self.threads, batch_size, progress)
