"""FAISS inner-product index over phrasing embeddings, addressed by integer row ids so entries can be
added, replaced and deleted without a rebuild.

Small knowledge bases use an exact flat index; above `APPROX_ABOVE` rows an IVF index is built, with
`nprobe` raised until recall@10 against exact search reaches `TARGET_RECALL` on a sample of
perturbed stored vectors (cosine ~0.8 to the original, like a paraphrase). IVF (not HNSW) because it supports `remove_ids`, so deletes and updates
stay incremental at every size; benchmarks/knowledge.py measures it at 100k and 1M rows. The kind is
chosen when the index is built: a flat index that grows past the threshold through incremental adds
becomes IVF at the next `smallbot train`.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

APPROX_ABOVE = 20_000
TARGET_RECALL = 0.99


def _float32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)


class FaissIndex:
    """Inner-product search with stable int64 ids: exact (flat) or approximate (IVF) by size.

    >>> index = FaissIndex(384); index.add(np.array([7]), vectors); index.search(query, 5)
    """

    def __init__(self, dim: int, index: "faiss.Index | None" = None):
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        """'flat' (exact) or 'ivf' (approximate)."""
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if self.kind == "ivf" else None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, *, approx_above: int = APPROX_ABOVE,
              seed: int = 0) -> "FaissIndex":
        """An index holding `vectors` under `ids`, exact below `approx_above` rows and IVF above."""
        vectors = _float32(vectors)
        dim = vectors.shape[1]
        if len(vectors) <= approx_above:
            index = cls(dim)
            index.add(ids, vectors)
            return index
        nlist = int(min(16384, max(16, 2 * np.sqrt(len(vectors)))))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(len(vectors), size=min(len(vectors), nlist * 39), replace=False)]
        ivf.cp.seed = seed
        ivf.cp.niter = 10  # bounded build time; recall is restored by tuning nprobe below
        ivf.train(sample)
        ivf.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        index = cls(dim, ivf)
        index.tune(vectors, np.asarray(ids, dtype=np.int64), seed=seed)
        return index

    def tune(self, vectors: np.ndarray, ids: np.ndarray, *, samples: int = 200, seed: int = 0, target: float = TARGET_RECALL) -> int:
        """Smallest power-of-two nprobe whose recall@10 vs exact search reaches `target` on perturbed samples."""
        if self.kind != "ivf":
            return 0
        rng = np.random.default_rng(seed)
        queries = vectors[rng.choice(len(vectors), size=min(samples, len(vectors)), replace=False)]
        # a perturbation of norm ~0.75 leaves cosine ~0.8 to the stored vector, like a paraphrase
        queries = queries + rng.normal(0, 0.75 / np.sqrt(self.dim), queries.shape).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        truth = ids[exact_top_k(vectors, queries, 10)]
        ivf = self._index
        nprobe = 1
        while True:
            ivf.nprobe = nprobe
            _, found = ivf.search(queries, 10)
            if recall_at(found, truth, 10) >= target or nprobe >= ivf.nlist:
                return nprobe
            nprobe *= 2

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(_float32(vectors), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n, k], ids [n, k]); missing results have id -1."""
        queries = _float32(queries)
        k = max(1, min(k, len(self))) if len(self) else 1
        return self._index.search(queries, k)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> "FaissIndex":
        index = faiss.read_index(str(path))
        return cls(index.d, index)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of each query's true top-k ids that `found` also returned in its top k."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)]
    return float(np.sum(hits) / (len(truth) * k))


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 65536) -> np.ndarray:
    """Positions of each query's k best inner products, in chunks so no second copy of `vectors` is made."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        scores = queries @ vectors[start:start + chunk].T
        take = min(k, scores.shape[1])
        part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        best_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i
