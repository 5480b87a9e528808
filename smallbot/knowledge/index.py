"""FAISS inner-product index over phrasing embeddings, addressed by integer row ids so entries can be
added, replaced and deleted without a rebuild.

Small knowledge bases use an exact flat index. Above `APPROX_ABOVE` rows an approximate index is built and
its search breadth is raised until recall@10 against exact search reaches `TARGET_RECALL` (+ a small
margin) on sampled stored vectors perturbed to cosine ~0.8 along the data's own directions (differences of
stored vectors), like paraphrases. So the approximate index never costs more recall than the target, at
any size; the size threshold only decides speed.

Two approximate kinds, IVF the default (`APPROX_KIND`), chosen by measurement (benchmarks/index_scale.py,
benchmarks/RESULTS.md) on 1M rows grown from real MiniLM sentence embeddings:
  * 'ivf': `IndexIVFFlat` with 4 * sqrt(n) lists, `nprobe` tuned. Reached recall@10 0.992 at nprobe 32 of
    4096 (0.997 at the auto-tuned 128); deletes are real (`remove_ids`), so no tombstones and no
    compaction. Its weak case is data with no cluster structure (isotropic random vectors needed nprobe
    1024 of 2000 lists).
  * 'hnsw': `IndexHNSWFlat` (M=32, efConstruction=64), `efSearch` tuned. Fast on isotropic data, but on the
    sentence-grown set (dense topics, near-duplicates) its recall@10 levelled off at 0.98 even at efSearch
    2048, and a 1M build took 1.7x longer than IVF's. HNSW cannot remove vectors, so a delete is a tombstone:
    the row's id in the `IndexIDMap2` id map becomes -1 and searches pass an `IDSelectorRange` (ids >= 0),
    so tombstoned rows never come back while the graph still routes through them. Past `COMPACT_ABOVE`
    tombstones the graph is rebuilt from the live rows (minutes at 1M rows). Tombstones persist in the file.
An update is a delete + an add. A flat index that grows past the threshold through incremental adds is
rebuilt as the approximate kind on that add. Rows added to IVF after the build go to the nearest existing
list; `smallbot train` re-clusters and re-tunes.
"""

from __future__ import annotations

from typing import Any, Callable

from pathlib import Path

import faiss as _faiss
import numpy as np

# faiss's typed SWIG classes declare subclass attributes (nprobe, hnsw, id_map, invlists) only on the
# subclasses, while downcast indexes are typed as the base Index: checked at run time, not by mypy.
faiss: Any = _faiss

APPROX_ABOVE = 20_000
APPROX_KIND = "ivf"  # 'ivf' or 'hnsw': see the module docstring for why IVF is the default
TARGET_RECALL = 0.99
COMPACT_ABOVE = 0.2  # share of tombstoned rows that triggers a rebuild of the HNSW graph
HNSW_M = 32
EF_CONSTRUCTION = 64
EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048)
_TUNE_MARGIN = 0.005  # tune a little above the target: the sampled estimate has +-0.005 noise
_LIVE = (0, 2**62)  # ids in this range are live; tombstones are -1


def _float32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)


class FaissIndex:
    """Inner-product search with stable int64 ids: exact (flat) or approximate (HNSW) by size.

    >>> index = FaissIndex(384); index.add(np.array([7]), vectors); index.search(query, 5)
    """

    def __init__(self, dim: int, index: Any = None, approx_above: int = APPROX_ABOVE, approx: str = APPROX_KIND):
        if approx not in ("ivf", "hnsw"):
            raise ValueError(f"approx is {approx!r}: use 'ivf' or 'hnsw'")
        self.dim = dim
        self.approx_above = approx_above
        self.approx = approx
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._inner = faiss.downcast_index(self._index.index) if hasattr(self._index, "id_map") else self._index
        self._dead = int(np.count_nonzero(self._id_map() < 0)) if hasattr(self._index, "id_map") else 0
        self._params: Any = None  # faiss.SearchParametersHNSW once an HNSW index is searched

    # -- what it is --------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """'flat' (exact), 'hnsw' (approximate) or 'ivf' (an index file written by an older version)."""
        if isinstance(self._inner, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self._inner, faiss.IndexIVF) else "flat"

    @property
    def ef_search(self) -> int | None:
        return int(self._inner.hnsw.efSearch) if self.kind == "hnsw" else None

    @property
    def nprobe(self) -> int | None:
        return int(self._inner.nprobe) if self.kind == "ivf" else None

    @property
    def tombstones(self) -> int:
        """Deleted rows still stored in the HNSW graph (always 0 for flat)."""
        return self._dead

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._dead

    def _id_map(self) -> np.ndarray:
        """A writable view of the id map (row position -> id); invalid after the next add."""
        size = self._index.id_map.size()
        return faiss.rev_swig_ptr(self._index.id_map.data(), size) if size else np.zeros(0, dtype=np.int64)

    # -- building ----------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        approx_above: int = APPROX_ABOVE,
        seed: int = 0,
        m: int = HNSW_M,
        ef_construction: int = EF_CONSTRUCTION,
        target: float = TARGET_RECALL,
        approx: str = APPROX_KIND,
    ) -> "FaissIndex":
        """An index holding `vectors` under `ids`: exact up to `approx_above` rows, `approx` ('ivf' with nprobe
        tuned, or 'hnsw' with efSearch tuned) above."""
        vectors = _float32(vectors)
        ids = np.asarray(ids, dtype=np.int64)
        dim = vectors.shape[1]
        if len(vectors) <= approx_above:
            index = cls(dim, approx_above=approx_above, approx=approx)
            index.add(ids, vectors)
            return index
        if approx == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            built = faiss.IndexIDMap2(hnsw)
        else:
            nlist = int(min(65536, max(16, 4 * np.sqrt(len(vectors)))))
            built = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            built.cp.seed = seed
            built.cp.niter = 10  # bounded build time; recall is restored by tuning nprobe
            built.train(vectors[rng.choice(len(vectors), size=min(len(vectors), nlist * 40), replace=False)])
        built.add_with_ids(vectors, ids)
        index = cls(dim, built, approx_above=approx_above, approx=approx)
        index.tune(vectors, ids, seed=seed, target=target)
        return index

    def tune(
        self, vectors: np.ndarray, ids: np.ndarray, *, samples: int = 500, seed: int = 0, target: float = TARGET_RECALL
    ) -> int:
        """Smallest nprobe (powers of two) or efSearch (`EF_STEPS`) whose recall@10 vs exact reaches `target`
        (+ margin) on perturbed stored samples."""
        if self.kind == "flat":
            return 0
        rng = np.random.default_rng(seed)
        n = min(samples, len(vectors))
        queries = vectors[rng.choice(len(vectors), size=n, replace=False)]
        # a perturbation of norm 0.75 leaves cosine ~0.8 to the stored vector, like a paraphrase; it points
        # along the difference of two stored vectors, so it follows the data's own covariance as real
        # paraphrase differences do (isotropic noise leaves the data's subspace: on sentence-like data its
        # top 10 are near-ties no graph search finds, and tuning for it asked for efSearch 2048 at 1M rows)
        step = vectors[rng.integers(0, len(vectors), n)] - vectors[rng.integers(0, len(vectors), n)]
        step *= 0.75 / np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-6)
        queries = queries + step
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        truth = ids[exact_top_k(vectors, queries, 10)]
        goal = min(1.0, target + _TUNE_MARGIN)
        if self.kind == "ivf":
            return self._tune_nprobe(lambda: recall_at(self.search(queries, 10)[1], truth, 10) >= goal)
        for ef in EF_STEPS:
            self._inner.hnsw.efSearch = ef
            self._params = None
            if recall_at(self.search(queries, 10)[1], truth, 10) >= goal:
                break
        return int(self._inner.hnsw.efSearch)

    def _tune_nprobe(self, reaches: Callable[[], bool]) -> int:
        """Smallest nprobe for which `reaches()` holds: doubling to the first power of two that passes, then a
        bisection below it. Powers of two alone overshoot by up to 2x, and search time grows with nprobe (at
        1M rows: nprobe 64 p99 3.1 ms, 128 p99 5.9 ms)."""
        nlist = int(self._inner.nlist)
        high = 1
        while True:
            self._inner.nprobe = high
            if high >= nlist or reaches():
                break
            high = min(high * 2, nlist)
        low = high // 2  # known to fail (or 0 when nprobe 1 passes)
        while high - low > max(1, high // 16):  # stop within ~6% of the smallest passing value
            middle = (low + high) // 2
            self._inner.nprobe = middle
            if reaches():
                high = middle
            else:
                low = middle
        self._inner.nprobe = high
        return high

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every live row, copied out of the index (for rebuilds)."""
        if self.kind == "ivf":  # read the inverted lists: ids and raw float32 codes, list by list
            lists, ids, rows = self._inner.invlists, [], []
            for i in range(self._inner.nlist):
                size = lists.list_size(i)
                if size:
                    ids.append(faiss.rev_swig_ptr(lists.get_ids(i), size).copy())
                    codes = faiss.rev_swig_ptr(lists.get_codes(i), size * lists.code_size)
                    rows.append(codes.view(np.float32).reshape(size, self.dim).copy())
            if not ids:
                return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
            return np.concatenate(ids), np.concatenate(rows)
        storage = faiss.downcast_index(self._inner.storage) if self.kind == "hnsw" else self._inner
        n = int(storage.ntotal)
        if not n:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        flat = faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)
        id_map = self._id_map()
        keep = np.flatnonzero(id_map >= 0)
        return id_map[keep].copy(), flat[keep].copy()

    def compact(self, seed: int = 0) -> None:
        """Rebuild from the live rows: drops tombstones; picks flat or HNSW by the current size."""
        ids, vectors = self.live()
        rebuilt = (
            FaissIndex.build(ids, vectors, approx_above=self.approx_above, seed=seed, approx=self.approx)
            if len(ids)
            else FaissIndex(self.dim, approx_above=self.approx_above, approx=self.approx)
        )
        self._index, self._inner, self._dead, self._params = rebuilt._index, rebuilt._inner, 0, None

    # -- incremental updates -----------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors, ids = _float32(vectors), np.asarray(ids, dtype=np.int64)
        self._index.add_with_ids(vectors, ids)
        if self.kind == "flat" and len(self) > self.approx_above:
            self.compact()  # grew past the threshold: becomes HNSW now, not at the next full train

    def remove(self, ids: np.ndarray) -> int:
        """Delete rows by id: removed from a flat index, tombstoned in HNSW (compacted past `COMPACT_ABOVE`)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.kind != "hnsw":
            return int(self._index.remove_ids(ids))
        id_map = self._id_map()
        hit = np.flatnonzero(np.isin(id_map, ids))
        id_map[hit] = -1
        self._dead += len(hit)
        if self._dead > COMPACT_ABOVE * self._index.ntotal:
            self.compact()
        return len(hit)

    # -- search ------------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n, k], ids [n, k]); missing results have id -1."""
        queries = _float32(queries)
        k = max(1, min(k, len(self))) if len(self) else 1
        if len(queries) > 1:
            return self._search(queries, k)
        # One query gains nothing from FAISS's OpenMP team, and on a busy machine waiting for the second
        # thread to be scheduled cost 20 ms a search: run it on the calling thread (the setting is per thread).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.kind != "hnsw":
            return self._index.search(queries, k)
        if self._params is None:
            self._params = faiss.SearchParametersHNSW()
            self._params.efSearch = int(self._inner.hnsw.efSearch)
            self._selector = faiss.IDSelectorRange(*_LIVE)  # kept referenced: faiss does not own it
        self._params.efSearch = max(int(self._inner.hnsw.efSearch), k)
        self._params.sel = self._selector if self._dead else None
        return self._index.search(queries, k, params=self._params)

    # -- files -------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, approx_above: int = APPROX_ABOVE) -> "FaissIndex":
        index = faiss.read_index(str(path))
        return cls(index.d, index, approx_above=approx_above)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of each query's true top-k ids that `found` also returned in its top k."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)]
    return float(np.sum(hits) / (len(truth) * k))


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 65536) -> np.ndarray:
    """Positions of each query's k best inner products, in chunks so no second copy of `vectors` is made."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        scores = queries @ vectors[start : start + chunk].T
        take = min(k, scores.shape[1])
        part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        best_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i
