"""FAISS inner-product index over phrasing embeddings, addressed by integer row ids so entries can be
added, replaced and deleted without a rebuild."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class FaissIndex:
    """Exact (flat) inner-product search with stable ids.

    >>> index = FaissIndex(384); index.add(np.array([7]), vectors); index.search(query, 5)
    """

    def __init__(self, dim: int, index: "faiss.Index | None" = None):
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n, k], ids [n, k]); missing results have id -1."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self))) if len(self) else 1
        return self._index.search(queries, k)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> "FaissIndex":
        index = faiss.read_index(str(path))
        return cls(index.d, index)
