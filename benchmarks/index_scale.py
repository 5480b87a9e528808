"""FAISS index at scale: `FaissIndex.build` (exact or HNSW by size) on 1M synthetic rows.

Two vector sets (benchmarks/index_data.py says how they are made): "sentences", grown from real MiniLM
embeddings of the CLINC150 + StackFAQ sentences (anisotropic, topics of varied size, near-duplicates,
paraphrase-like queries), and "random-centres", the older isotropic set kept as the adversarial case.

Phase `prepare` (heavy, run it under `nice -n 19`): generates each set, computes the exact top-10 of every
query, builds the index with `FaissIndex.build` (build time, peak RSS growth) and caches vectors, queries,
truth and the index file under benchmarks/out/index-scale/ (not in git). Phase `measure` (run it under the
shared timing lock, at normal priority): loads the cached index and reports single-query p50/p99 latency
through `FaissIndex.search` (a single query runs on the calling thread) and, for comparison, through FAISS's
default OpenMP team, recall@10 against exact,
exact flat search on the same vectors in the same run, index bytes, and the cost of deletes and updates
(tombstones) and whether deleted ids ever come back.

    nice -n 19 python benchmarks/index_scale.py --phase prepare [--quick] [--sets sentences random-centres]
    nice -n 19 python benchmarks/index_scale.py --phase tune      # re-tune efSearch of a cached build
    flock /tmp/smallbot-timing.lock python benchmarks/index_scale.py --phase measure [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_DATA, OUT, machine, save  # noqa: E402
import index_data  # noqa: E402

CACHE = OUT / "index-scale"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_set(name: str, n: int, n_queries: int, args) -> index_data.VectorSet:
    if name == "sentences":
        real, topics = index_data.sentence_embeddings(args.data, OUT / "sentences-minilm.npz")
        return index_data.from_sentences(real, topics, n, n_queries, args.seed)
    return index_data.random_centres(n, n_queries, args.seed)


def prepare(name: str, n: int, args) -> dict:
    from smallbot.knowledge.index import FaissIndex, exact_top_k

    folder = CACHE / f"{name}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = make_set(name, n, args.queries, args)
    gen_s = time.perf_counter() - t0
    truth = exact_top_k(data.vectors, data.queries, 10)
    np.save(folder / "vectors.npy", data.vectors)
    np.save(folder / "queries.npy", data.queries)
    np.save(folder / "truth.npy", truth)
    shape = index_data.structure(data.vectors, data.queries, args.seed)
    rss0, cur0 = rss_mb(), current_rss_mb()
    t0 = time.perf_counter()
    index = FaissIndex.build(np.arange(n), data.vectors, seed=args.seed)
    build_s = time.perf_counter() - t0
    meta = {"set": name, "n": n, "description": data.description, "structure": shape,
            "generate_s": round(gen_s, 1), "kind": index.kind, "ef_search": index.ef_search,
            "build_s": round(build_s, 1), "peak_rss_growth_mb": round(rss_mb() - rss0, 1),
            "rss_growth_mb": round(current_rss_mb() - cur0, 1), "vectors_mb": round(data.vectors.nbytes / 2**20, 1),
            "build_load_avg_1m": os.getloadavg()[0]}
    index.save(folder / "index.faiss")
    meta["index_file_mb"] = round((folder / "index.faiss").stat().st_size / 2**20, 1)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    print(f"  prepared {name}: {meta}", flush=True)
    return meta


def retune(name: str, n: int, args) -> None:
    """Re-run `FaissIndex.tune` on a cached build (after a change to tuning; the graph is not rebuilt)."""
    from smallbot.knowledge.index import FaissIndex

    folder = CACHE / f"{name}-{n}"
    meta = json.loads((folder / "meta.json").read_text())
    index = FaissIndex.load(folder / "index.faiss")
    vectors = np.load(folder / "vectors.npy")
    t0 = time.perf_counter()
    meta["ef_search_before_retune"] = meta["ef_search"]
    meta["ef_search"] = index.tune(vectors, np.arange(n), seed=args.seed)
    meta["retune_s"] = round(time.perf_counter() - t0, 1)
    index.save(folder / "index.faiss")
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    print(f"  retuned {name}: efSearch {meta['ef_search_before_retune']} -> {meta['ef_search']}", flush=True)


def timed_search(index, queries: np.ndarray, k: int = 10) -> tuple[list[float], np.ndarray]:
    for q in queries[:20]:  # warm the caches and the code path
        index.search(q, k)
    latencies, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q, k)
        latencies.append((time.perf_counter() - t) * 1000)
        found.append(ids[0])
    return latencies, np.array(found)


class _RawSearch:
    """FaissIndex.search without its one-thread-per-query setting (FAISS's default thread team)."""

    def __init__(self, index):
        self.index = index

    def search(self, query: np.ndarray, k: int):
        return self.index._search(np.ascontiguousarray(query[None, :], dtype=np.float32), k)


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def measure(name: str, n: int, args) -> dict:
    import faiss

    from smallbot.knowledge.index import FaissIndex, recall_at

    folder = CACHE / f"{name}-{n}"
    if not (folder / "meta.json").exists():
        raise SystemExit(f"{folder} not prepared: run `nice -n 19 python benchmarks/index_scale.py --phase prepare`")
    meta = json.loads((folder / "meta.json").read_text())
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    queries, truth = np.load(folder / "queries.npy"), np.load(folder / "truth.npy")
    t0 = time.perf_counter()
    index = FaissIndex.load(folder / "index.faiss")
    load_s = time.perf_counter() - t0
    out = {**meta, "load_s": round(load_s, 1), "load_avg_1m_at_start": os.getloadavg()[0], "queries": len(queries)}
    # the bot's path: FaissIndex.search runs a single query on the calling thread
    lat, found = timed_search(index, queries)
    out["search"] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "mean_ms": round(float(np.mean(lat)), 3),
                     "recall@10": round(recall_at(found, truth, 10), 4)}
    # the trade-off around the tuned value: recall and latency at other efSearch settings
    tuned = index.ef_search
    out["ef_sweep"] = {}
    for ef in args.ef_sweep if index.kind == "hnsw" else ():
        index._inner.hnsw.efSearch = ef
        lat, found = timed_search(index, queries[:300])
        out["ef_sweep"][ef] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "recall@10": round(recall_at(found, truth[:300], 10), 4)}
    if tuned:
        index._inner.hnsw.efSearch = tuned
    # for comparison: the same search through FAISS's default OpenMP team (one thread per core)
    raw = _RawSearch(index)
    lat, _ = timed_search(raw, queries[:200])
    out["search_faiss_default_threads"] = {"threads": faiss.omp_get_max_threads(), "p50_ms": pct(lat, 50),
                                           "p99_ms": pct(lat, 99)}
    # same-run baseline: exact flat search (a sample of queries, it is slow)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors))
    flat_lat = []
    for q in queries[:args.flat_queries]:
        t = time.perf_counter()
        flat.search(q[None, :], 10)
        flat_lat.append((time.perf_counter() - t) * 1000)
    del flat
    out["exact_flat"] = {"p50_ms": pct(flat_lat, 50), "p99_ms": pct(flat_lat, 99), "queries": len(flat_lat)}
    # deletes and updates: tombstone the true top-1 of 200 queries, update 1000 rows, then search again
    rng = np.random.default_rng(args.seed)
    gone = np.unique(truth[:200, 0])
    t = time.perf_counter()
    removed = index.remove(gone)
    delete_ms = (time.perf_counter() - t) * 1000
    upd = rng.choice(np.setdiff1d(np.arange(n), gone), 1000, replace=False)
    new_ids = np.arange(n, n + len(upd))
    t = time.perf_counter()
    index.remove(upd)
    index.add(new_ids, np.asarray(vectors[upd]))
    update_ms = (time.perf_counter() - t) * 1000
    lat, found = timed_search(index, queries)
    # exact truth after the changes: the old truth minus deleted ids, updated rows renamed (same vectors)
    rename = dict(zip(upd.tolist(), new_ids.tolist()))
    after_truth = []
    dead = set(gone.tolist())
    for row in np.load(folder / "truth.npy"):
        after_truth.append([rename.get(r, r) for r in row.tolist() if r not in dead])
    recall = np.mean([len(set(f[:len(t_)].tolist()) & set(t_)) / max(len(t_), 1)
                      for f, t_ in zip(found, after_truth)])
    out["after_changes"] = {
        "deleted_rows": removed, "delete_batch_ms": round(delete_ms, 1),
        "updated_rows": len(upd), "update_batch_ms": round(update_ms, 1), "tombstones": index.tombstones,
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
        "recall@10_of_surviving_truth": round(float(recall), 4),
        "deleted_ids_returned": int(np.isin(found, np.concatenate([gone, upd])).sum())}
    out["load_avg_1m_at_end"] = os.getloadavg()[0]
    print(f"  measured {name}: {json.dumps(out)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--phase", choices=("prepare", "tune", "measure", "all"), default="all")
    parser.add_argument("--sets", nargs="*", default=["sentences", "random-centres"])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k rows")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--flat-queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ef-sweep", type=int, nargs="*", default=[32, 64, 128, 256, 512])
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else args.n
    results = {"command": " ".join(["python", "benchmarks/index_scale.py", *(argv or sys.argv[1:])]), "sets": {}}
    for name in args.sets:
        if args.phase in ("prepare", "all"):
            prepare(name, n, args)
        if args.phase == "tune":
            retune(name, n, args)
        if args.phase in ("measure", "all"):
            results["sets"][name] = measure(name, n, args)
    if results["sets"]:
        path = save(f"index-scale-{n}", results)
        print("\n| set | rows | index | build s | index MB | p50 / p99 ms | recall@10 | p50 / p99 ms, FAISS default threads "
              "| exact flat p50 / p99 ms |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, r in results["sets"].items():
            one, dflt = r["search"], r["search_faiss_default_threads"]
            print(f"| {name} | {r['n']} | {r['kind']} efSearch={r['ef_search']} | {r['build_s']} | {r['index_file_mb']} | "
                  f"{one['p50_ms']} / {one['p99_ms']} | {one['recall@10']} | {dflt['p50_ms']} / {dflt['p99_ms']} | "
                  f"{r['exact_flat']['p50_ms']} / {r['exact_flat']['p99_ms']} |")
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
