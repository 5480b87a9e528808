"""What the two serving exports (ONNX, TorchScript) share: a build directory holding the model, the
tokenizer read by the `tokenizers` library (no transformers), and `export.json` with the shape and origin of
the export. Each runtime subclasses it with how it loads and runs the model."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar

from smallbot.errors import ArtifactError

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
