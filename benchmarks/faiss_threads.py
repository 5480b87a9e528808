"""One-query FAISS search time with 2 OpenMP threads against 1: why a served bot searches single-threaded.

    python benchmarks/faiss_threads.py [--rows 400] [--searches 2000]

A flat inner-product index of `--rows` random unit vectors (384-d, the helpdesk bot's size by default), one
query at a time for top 20, as `KnowledgeBase.search` does per message. Mean microseconds per search; the
1-minute load average is printed (on a busy machine the multi-thread barrier is what costs).
"""

from __future__ import annotations

import argparse
import os
import time

import faiss
import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--searches", type=int, default=2000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.rows, 384)).astype("float32")
    faiss.normalize_L2(vectors)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(384))
    index.add_with_ids(vectors, np.arange(args.rows))
    query = vectors[:1].copy()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rows} rows, {args.searches} one-query searches each")
    for threads in (2, 1):
        faiss.omp_set_num_threads(threads)
        for _ in range(100):
            index.search(query, 20)
        started = time.perf_counter()
        for _ in range(args.searches):
            index.search(query, 20)
        print(f"{threads} OpenMP thread(s): {(time.perf_counter() - started) / args.searches * 1e6:.0f} us per search")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
