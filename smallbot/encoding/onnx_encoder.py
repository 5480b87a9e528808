"""The serving encoder: THE encoder of a build, exported to ONNX at train time and run with onnxruntime,
its tokenizer read by the `tokenizers` library.

Serving imports neither torch nor transformers: a process that answers messages needs onnxruntime,
`tokenizers` and numpy, which start in a fraction of torch's import time and memory. The export is
verified against the eager model at train time (onnx_export.py), so what this serves is what the index,
the calibration and the intent head were fitted on.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from smallbot.encoding.encoder import sorted_batches
from smallbot.encoding.export_files import META_FILE, TOKENIZER_FILE, ExportReader
from smallbot.errors import ArtifactError, ConfigError, NotReadyError

ONNX_DIR = "onnx_encoder"
FORMAT_VERSION = 1
MODEL_FILE = "encoder.onnx"
FILES = (MODEL_FILE, TOKENIZER_FILE, META_FILE)


class OnnxEncoder(ExportReader):
    """Same interface as `Encoder` for serving: `load()`, `encode(texts)`, `dim`, `path`, `set_threads`.

    >>> enc = OnnxEncoder(Path("mybot/.smallbot/onnx_encoder"), threads=1).load()
    >>> enc.encode(["hello"]).shape
    (1, 384)
    """

    FILES = FILES
    FORMAT_VERSION = FORMAT_VERSION
    KIND = "serving ONNX"

    def load(self) -> "OnnxEncoder":
        """Read the model and tokenizer once; later calls are no-ops."""
        if self._runtime is not None:
            return self
        self._read_meta_and_tokenizer()
        self._runtime = self._new_session(self.threads)
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
        if threads != self.threads and self._runtime is not None:
            session = self._new_session(threads)
            with self._lock:
                self._runtime = session
        self.threads = threads
        return self

    def _forward(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer.encode_batch(texts)
        ids = np.array([b.ids for b in batch], dtype=np.int64)
        mask = np.array([b.attention_mask for b in batch], dtype=np.int64)
        return self._runtime.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts exactly as `Encoder.encode` does (longest first, returned in input order)."""
        if self._runtime is None:
            raise NotReadyError("OnnxEncoder.load() must run before encode()")
        with self._lock:
            return sorted_batches(texts, self.dim, self._forward, batch_size, progress)
