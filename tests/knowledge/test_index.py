"""FaissIndex: exact below a size, IVF (default) or HNSW above, and incremental add / update / delete by id at every kind."""

from __future__ import annotations

import numpy as np
import pytest

from smallbot.knowledge import index as index_module
from smallbot.knowledge.base import KnowledgeBase
from smallbot.knowledge.entries import FaqEntry
from smallbot.knowledge.index import FaissIndex, recall_at

DIM = 32


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 40), DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def vectors() -> np.ndarray:
    return _clustered(2000)


def _ids(index: FaissIndex, query: np.ndarray, k: int = 10) -> list[int]:
    return [int(i) for i in index.search(query, k)[1][0] if i >= 0]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_kind_follows_the_configured_size_and_keeps_recall(vectors, kind):
    ids = np.arange(100, 2100)
    assert FaissIndex.build(ids[:500], vectors[:500], approx_above=500, approx=kind).kind == "flat"
    approx = FaissIndex.build(ids, vectors, approx_above=500, approx=kind)
    assert approx.kind == kind
    assert approx.ef_search in index_module.EF_STEPS if kind == "hnsw" else approx.nprobe >= 1
    exact = FaissIndex.build(ids, vectors, approx_above=10**9)
    queries = vectors[:300] + 0.05 * np.random.default_rng(1).normal(size=(300, DIM)).astype(np.float32)
    assert recall_at(approx.search(queries, 10)[1], exact.search(queries, 10)[1], 10) >= 0.97


@pytest.mark.parametrize("approx_above, approx", [(10**9, "ivf"), (500, "ivf"), (500, "hnsw")])
def test_add_update_delete_by_id_without_a_rebuild(vectors, approx_above, approx):
    index = FaissIndex.build(np.arange(2000), vectors, approx_above=approx_above, approx=approx)
    kind = index.kind
    # add: a new id is found by its own vector
    fresh = _clustered(1, seed=7)
    index.add(np.array([5000]), fresh)
    assert _ids(index, fresh, 1) == [5000]
    # delete: never returned again, not even for its own vector
    index.remove(np.array([3, 4]))
    assert 3 not in _ids(index, vectors[3:4], 50) and 4 not in _ids(index, vectors[4:5], 50)
    # update = delete the old row + add its new vector under a new id
    index.remove(np.array([10]))
    index.add(np.array([5001]), fresh * -1)
    assert _ids(index, fresh * -1, 1) == [5001] and 10 not in _ids(index, vectors[10:11], 50)
    assert len(index) == 2000 + 2 - 3 and index.kind == kind
    if kind == "hnsw":
        assert index.tombstones == 3  # deleted in place, the graph was not rebuilt


def test_hnsw_tombstones_are_compacted_past_the_configured_share(vectors):
    index = FaissIndex.build(np.arange(2000), vectors, approx_above=500, approx="hnsw")
    index.remove(np.arange(0, 300))
    assert index.tombstones == 300 and len(index) == 1700
    index.remove(np.arange(300, 500))  # 500 of 2000 > COMPACT_ABOVE: rebuilt from the live rows
    assert index.tombstones == 0 and len(index) == 1500 and index.kind == "hnsw"
    found = index.search(vectors[:500], 20)[1]
    assert not np.isin(found, np.arange(500)).any()
    assert _ids(index, vectors[1234:1235], 1) == [1234]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_a_flat_index_grown_past_the_threshold_becomes_approximate(vectors, kind):
    index = FaissIndex.build(np.arange(400), vectors[:400], approx_above=500, approx=kind)
    assert index.kind == "flat"
    index.add(np.arange(400, 700), vectors[400:700])
    assert index.kind == kind and len(index) == 700 and _ids(index, vectors[650:651], 1) == [650]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_save_load_round_trip_keeps_results_and_deletes(vectors, tmp_path, kind):
    index = FaissIndex.build(np.arange(2000), vectors, approx_above=500, approx=kind)
    index.remove(np.array([1, 2, 3]))
    index.save(tmp_path / "index.faiss")
    loaded = FaissIndex.load(tmp_path / "index.faiss")
    assert (loaded.kind, loaded.ef_search, loaded.nprobe, len(loaded)) == (kind, index.ef_search, index.nprobe, 1997)
    assert loaded.tombstones == (3 if kind == "hnsw" else 0)
    queries = vectors[:50]
    for a, b in zip(index.search(queries, 10), loaded.search(queries, 10)):
        np.testing.assert_array_equal(a, b)
    assert not np.isin(loaded.search(queries, 10)[1], [1, 2, 3]).any()


def test_single_query_search_leaves_the_faiss_thread_setting_alone(vectors):
    import faiss

    index = FaissIndex.build(np.arange(2000), vectors, approx_above=500, approx="hnsw")
    before = faiss.omp_get_max_threads()
    index.search(vectors[0], 5)
    assert faiss.omp_get_max_threads() == before


def test_knowledge_base_updates_on_an_approximate_index(tmp_path):
    """The KnowledgeBase wiring (upsert / delete / save / load) on an approximate index."""
    rng = np.random.default_rng(0)
    table: dict[str, np.ndarray] = {}

    def encode(texts):  # a deterministic stand-in vector per text; the real encoder is tested in test_knowledge_base
        return np.stack([table.setdefault(t, rng.normal(size=DIM).astype(np.float32)) for t in texts])

    entries = [FaqEntry(f"e{i}", f"question {i}", (f"alt {i}",), f"answer {i}") for i in range(400)]
    kb = KnowledgeBase.build(entries, encode, approx_above=500)
    assert kb.index.kind == "ivf"
    kb.delete(["e5"])
    kb.upsert([FaqEntry("e6", "question 6", ("a new way to ask six",), "answer 6")], encode)
    six = encode(["a new way to ask six"])[0]
    assert kb.search("a new way to ask six", six, k=1)[0].entry_id == "e6"
    assert "e5" not in [h.entry_id for h in kb.search("question 5", encode(["question 5"])[0], k=20)]
    kb.save(tmp_path / "kb")
    loaded = KnowledgeBase.load(tmp_path / "kb")
    assert loaded.index.kind == "ivf" and len(loaded.index) == len(kb.index)
    assert loaded.search("a new way to ask six", six, k=1)[0].entry_id == "e6"
