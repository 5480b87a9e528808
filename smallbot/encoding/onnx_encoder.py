"""The serving encoder: THE encoder of a build, exported to ONNX at train time and run with onnxruntime,
its tokenizer read by the `tokenizers` library.

Serving imports neither torch nor transformers: a process that answers messages needs onnxruntime,
`tokenizers` and numpy, which start in a fraction of torch's import time and memory. The export is
verified against the eager model at train time (onnx_export.py), so what this serves is what the index,
the calibration and the intent head were fitted on.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from smallbot.encoding.encoder import sorted_batches
from smallbot.errors import ArtifactError, ConfigError, NotReadyError

ONNX_DIR = "onnx_encoder"
FORMAT_VERSION = 1
MODEL_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "export.json"
FILES = (MODEL_FILE, TOKENIZER_FILE, META_FILE)


class OnnxEncoder:
    """Same interface as `Encoder` for serving: `load()`, `encode(texts)`, `dim`, `path`, `set_threads`.

    >>> enc = OnnxEncoder(Path("mybot/.smallbot/onnx_encoder"), threads=1).load()
    >>> enc.encode(["hello"]).shape
    (1, 384)
    """

    def __init__(self, directory: Path, threads: int = 0):
        self.path = Path(directory)
        self.threads = threads
        self._session: Any = None  # loaded by load()
        self._tokenizer: Any = None
        self._meta: dict = {}
        self._lock = threading.Lock()

    @staticmethod
    def available(directory: Path) -> bool:
        return all((directory / name).exists() for name in FILES)

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def dim(self) -> int:
        return int(self._meta["dim"])

    @property
    def quantize(self) -> str:
        """The precision the build was fitted at (only "none" is exported to ONNX)."""
        return str(self._meta.get("quantize", "none"))

    @property
    def source(self) -> Path:
        """The encoder directory this export was made from."""
        return Path(self._meta["source"])

    def load(self) -> "OnnxEncoder":
        """Read the model and tokenizer once; later calls are no-ops."""
        if self._session is not None:
            return self
        from tokenizers import Tokenizer

        if not self.available(self.path):
            raise ArtifactError(f"no ONNX encoder in {self.path}: run `smallbot train`")
        meta = json.loads((self.path / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{self.path} holds an ONNX export of another format: run `smallbot train --force`")
        self._meta = meta
        tokenizer = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=int(meta["max_length"]))
        tokenizer.enable_padding(pad_id=int(meta["pad_id"]))
        self._tokenizer = tokenizer
        self._session = self._new_session(self.threads)
        self.encode(["warm up"])
        return self

    def _new_session(self, threads: int) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # intra-op threads: one pass spread over `threads` cores; inter-op stays 1 (a BERT graph is a chain)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle pool threads sleep instead of spinning: in a server the event loop, the tokenizer and the other
        # worker processes share the cores, and a spinning thread takes them from the work that feeds it
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return onnxruntime.InferenceSession(
                str(self.path / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ArtifactError(
                f"{self.path / MODEL_FILE} cannot be read by onnxruntime ({exc}): run `smallbot train --force`"
            ) from exc

    def set_threads(self, threads: int) -> "OnnxEncoder":
        """Run every later pass on `threads` onnxruntime intra-op threads (0 = one per core).

        onnxruntime fixes its thread pool when a session is made, so a loaded encoder makes a new one."""
        if threads < 0:
            raise ConfigError(f"models.threads is {threads}: use 0 (one per core) or a positive count")
        if threads != self.threads and self._session is not None:
            session = self._new_session(threads)
            with self._lock:
                self._session = session
        self.threads = threads
        return self

    def _forward(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer.encode_batch(texts)
        ids = np.array([b.ids for b in batch], dtype=np.int64)
        mask = np.array([b.attention_mask for b in batch], dtype=np.int64)
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts exactly as `Encoder.encode` does (longest first, returned in input order)."""
        if self._session is None:
            raise NotReadyError("OnnxEncoder.load() must run before encode()")
        with self._lock:
            return sorted_batches(texts, self.dim, self._forward, batch_size, progress)
