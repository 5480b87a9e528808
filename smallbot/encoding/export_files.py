"""What the two serving exports (ONNX, TorchScript) share: a build directory holding the model, the
tokenizer read by the `tokenizers` library (no transformers), and `export.json` with the shape and origin of
the export. Writing them (train time, torch) and reading them (serving) live here side by side; each runtime
adds how it saves, loads and runs the model."""

from __future__ import annotations

import json
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

from smallbot.errors import ArtifactError

if TYPE_CHECKING:
    from smallbot.encoding.encoder import Encoder

META_FILE = "export.json"
TOKENIZER_FILE = "tokenizer.json"


class ExportReader:
    """Same interface as `Encoder` for serving: `dim`, `path`, `quantize`, `source`; subclasses add `load()`,
    `encode(texts)` and `set_threads`."""

    FILES: ClassVar[tuple[str, ...]] = (TOKENIZER_FILE, META_FILE)
    FORMAT_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "serving"  # what the export is called in error messages, after "a"

    def __init__(self, directory: Path, threads: int = 0):
        self.path = Path(directory)
        self.threads = threads
        self._runtime: Any = None  # the loaded model or session, set by the subclass's load()
        self._tokenizer: Any = None
        self._meta: dict = {}
        self._lock = threading.Lock()

    @classmethod
    def available(cls, directory: Path) -> bool:
        return all((directory / name).exists() for name in cls.FILES)

    @property
    def loaded(self) -> bool:
        return self._runtime is not None

    @property
    def dim(self) -> int:
        return int(self._meta["dim"])

    @property
    def quantize(self) -> str:
        """The precision the build was fitted at (models.quantize at train time)."""
        return str(self._meta.get("quantize", "none"))

    @property
    def source(self) -> Path:
        """The encoder directory this export was made from."""
        return Path(self._meta["source"])

    def _read_meta_and_tokenizer(self) -> None:
        """Check the export is whole and of this format, then read its metadata and tokenizer."""
        from tokenizers import Tokenizer

        if not self.available(self.path):
            raise ArtifactError(f"no {self.KIND} encoder in {self.path}: run `smallbot train`")
        meta = json.loads((self.path / META_FILE).read_text())
        if meta.get("format_version") != self.FORMAT_VERSION:
            raise ArtifactError(
                f"{self.path} holds a {self.KIND} export of another format: run `smallbot train --force`"
            )
        self._meta = meta
        tokenizer = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=int(meta["max_length"]))
        tokenizer.enable_padding(pad_id=int(meta["pad_id"]))
        self._tokenizer = tokenizer


@contextmanager
def pooled_for_export(encoder: Encoder, sample_text: str) -> Iterator[tuple[Any, tuple[Any, Any]]]:
    """The encoder with its pooling as one torch module (the graph returns the served embedding) and a sample
    batch to trace it with, inside inference mode with transformers' and the tracer's warnings silenced: they
    are about Python-level shape checks traced through, and every export is checked numerically instead."""
    import torch
    from transformers.utils import logging as hf_logging

    from smallbot.encoding.encoder import pool

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module, mode: str) -> None:
            super().__init__()
            self.model, self.mode = model, mode

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return pool(hidden, attention_mask, self.mode)

    sample = encoder.tokenizer([sample_text, "x"], padding=True, return_tensors="pt")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            yield Pooled(encoder.model, encoder.pooling).eval(), (sample["input_ids"], sample["attention_mask"])
    finally:
        hf_logging.set_verbosity(verbosity)


def write_tokenizer_and_meta(encoder: Encoder, directory: Path, *, format_version: int, quantize: str) -> None:
    """What `ExportReader` reads back beside the model: the tokenizer and `export.json`."""
    encoder.tokenizer.backend_tokenizer.save(str(directory / TOKENIZER_FILE))
    (directory / META_FILE).write_text(
        json.dumps(
            {
                "format_version": format_version,
                "dim": encoder.dim,
                "max_length": encoder.max_length,
                "pad_id": int(encoder.tokenizer.pad_token_id or 0),
                "source": str(encoder.path),
                "quantize": quantize,
            }
        )
    )
