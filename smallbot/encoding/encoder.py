"""The compact sentence encoder: one forward pass gives the embedding every later step uses.

Loaded straight with transformers (not through sentence-transformers) because the single-query path
is the product's dominant cost and the thin path measures faster; any BERT-family directory works
(MiniLM, DistilBERT, TinyBERT, SqueezeBERT), with pooling read from a sentence-transformers
`1_Pooling/config.json` when present (mean pooling otherwise).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from smallbot.errors import ArtifactError, ConfigError, NotReadyError
from smallbot.weights import resolve_model

DEFAULT_MAX_LENGTH = 128


class Encoder:
    """Texts in, L2-normalised float32 embeddings out.

    >>> enc = Encoder("all-MiniLM-L6-v2").load()
    >>> enc.encode(["hello"]).shape
    (1, 384)
    """

    def __init__(self, model: str | Path, base_dir: Path | None = None, max_length: int | None = None):
        self.model_ref = str(model)
        self.base_dir = base_dir
        self.max_length = max_length
        self.path: Path | None = None
        self.pooling = "mean"
        self._model: Any = None  # loaded by load()
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.threads = 0  # torch threads per pass; 0 = leave torch's default

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dim(self) -> int:
        self._require()
        return int(self._model.config.hidden_size)

    def load(self) -> "Encoder":
        """Read weights once; later calls are no-ops."""
        if self._model is not None:
            return self
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model(self.model_ref, self.base_dir)
        if not (path / "config.json").exists():
            raise ArtifactError(f"encoder directory {path} has no config.json: not a transformers model")
        self.path = path
        pooling_file = path / "1_Pooling" / "config.json"
        if pooling_file.exists():
            pooling = json.loads(pooling_file.read_text())
            self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
        if self.max_length is None:
            st_config = path / "sentence_bert_config.json"
            self.max_length = (
                int(json.loads(st_config.read_text()).get("max_seq_length", DEFAULT_MAX_LENGTH))
                if st_config.exists()
                else DEFAULT_MAX_LENGTH
            )
            self.max_length = min(self.max_length, DEFAULT_MAX_LENGTH)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        model.eval()
        self._model = model
        with torch.inference_mode():
            self._forward(["warm up"])
        return self

    def set_threads(self, threads: int) -> "Encoder":
        """Run every later pass on `threads` torch threads (0 = torch's default).

        Applied inside `encode`, in whichever thread runs the pass (torch's OpenMP thread count is per
        calling thread, and the micro-batcher encodes on a worker thread of its own)."""
        if threads < 0:
            raise ConfigError(f"models.threads is {threads}: use 0 (torch's default) or a positive count")
        self.threads = threads
        return self

    def _require(self) -> None:
        if self._model is None:
            raise NotReadyError("Encoder.load() must run before encode()")

    @property
    def model(self):
        """The underlying torch module (for fine-tuning code)."""
        self._require()
        return self._model

    @property
    def tokenizer(self):
        self._require()
        return self._tokenizer

    def _forward(self, texts: Sequence[str]):
        batch = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        output = self._model(**batch)
        return pool(output.last_hidden_state, batch["attention_mask"], self.pooling)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts in batches (longest-first, so padding stays small), returned in input order."""
        self._require()
        return encode_in_batches(texts, self.dim, self._forward, self._lock, self.threads, batch_size, progress)

    def clone(self) -> "Encoder":
        """An independent copy of a loaded encoder (own weights), e.g. to fine-tune without touching this one."""
        import copy

        self._require()
        twin = Encoder(self.model_ref, self.base_dir, self.max_length)
        twin.path, twin.pooling, twin.threads = self.path, self.pooling, self.threads
        twin._model = copy.deepcopy(self._model)
        twin._tokenizer = self._tokenizer
        return twin

    def save(self, directory: Path) -> None:
        """Write a loadable copy (weights, tokenizer, pooling) into `directory`."""
        self._require()
        directory.mkdir(parents=True, exist_ok=True)
        self._model.save_pretrained(str(directory), safe_serialization=True)
        self._tokenizer.save_pretrained(str(directory))
        (directory / "1_Pooling").mkdir(exist_ok=True)
        (directory / "1_Pooling" / "config.json").write_text(
            json.dumps(
                {
                    "word_embedding_dimension": self.dim,
                    "pooling_mode_mean_tokens": self.pooling == "mean",
                    "pooling_mode_cls_token": self.pooling == "cls",
                }
            )
        )


def encode_in_batches(
    texts: Sequence[str],
    dim: int,
    forward,
    lock: threading.Lock,
    threads: int,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """The batching loop both encoders share: longest texts first (little padding), `forward(batch)` returns a
    tensor of embeddings, results come back in input order. `threads` (0 = torch's default) is applied in the
    calling thread, since torch's thread count is per thread."""
    import torch

    if len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), dim), dtype=np.float32)
    starts: Iterable[int] = range(0, len(order), batch_size)
    if progress and len(texts) > batch_size:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="encoding", unit="batch", leave=False)
    with lock, torch.inference_mode():
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        for start in starts:
            idx = order[start : start + batch_size]
            out[idx] = forward([texts[i] for i in idx]).float().numpy()
    return out


def pool(hidden, mask, mode: str):
    """Mean (or CLS) pooling then L2 normalisation, shared by inference and fine-tuning."""
    import torch

    if mode == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=-1)
