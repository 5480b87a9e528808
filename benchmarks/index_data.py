"""Synthetic vector sets for benchmarks/index_scale.py: a realistic one grown from real sentence embeddings,
and the older random-centre one kept as an adversarial case.

Realistic ("sentences"): the ~25k CLINC150 + StackFAQ sentences are embedded once with the packaged MiniLM
(cached in benchmarks/out/, not in git). Their structure is what a real knowledge base has and random
Gaussians lack: anisotropy (a few hundred directions carry most of the variance, random pairs have cosine
~0.1 instead of 0), topics of very different sizes, and paraphrases that differ along a few directions only.
N vectors are grown from them:
  * synthetic topics with log-normal sizes (median ~50, a long tail to a few thousand), each a real topic
    (CLINC150 intent or StackFAQ FAQ) shifted by an offset drawn from the real between-topic covariance, so
    the 1M rows hold ~17k distinct topics, not 1.4k copies;
  * each row = topic centre + the residual of one real member of that topic, blended with a second member's
    residual (a new phrasing between two real ones) + a little noise drawn from the real within-topic
    covariance;
  * 5% of rows are near-duplicates (cosine ~0.97) of another row, as FAQ files repeat phrasings.
Queries are paraphrases: a stored row plus the difference between two real sentences of one topic (a real
paraphrase step, anisotropic), so a query's nearest stored row sits at the cosine real paraphrases have.

Adversarial ("random-centres"): random Gaussian centres + isotropic noise of equal norm, 100 per centre;
queries are stored rows perturbed isotropically to cosine ~0.8. Isotropic 384-d noise has no low-dimensional
structure, which is the hard case for graph and cluster indexes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 384


@dataclass
class VectorSet:
    """Unit vectors to index, held-out query vectors, and a line saying how they were made."""

    vectors: np.ndarray
    queries: np.ndarray
    description: str


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def real_sentences(data: Path) -> tuple[list[str], list[str]]:
    """(sentence, topic) for every CLINC150 utterance (topic = intent) and StackFAQ question / rephrasing."""
    clinc = json.loads((data / "clinc150" / "data_full.json").read_text())
    texts, topics = [], []
    for split in ("train", "val", "test", "oos_train", "oos_val", "oos_test"):
        for text, intent in clinc[split]:
            texts.append(text)
            topics.append(f"clinc:{intent}" if intent != "oos" else f"oos:{len(texts)}")
    raw = json.loads((data / "stackfaq" / "stackExchange-FAQ.json").read_text())["root"]["qapair"]
    for i, pair in enumerate(raw):
        for text in [pair["question"], *pair["rephr"]]:
            if isinstance(text, str) and text.strip() not in ("", "*"):
                texts.append(text.strip())
                topics.append(f"faq:{i}")
    return texts, topics


def sentence_embeddings(data: Path, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings [n, 384], topic index [n]) of the real sentences, embedded once and cached."""
    if cache.exists():
        loaded = np.load(cache)
        return loaded["vectors"], loaded["topics"]
    from smallbot.encoding.encoder import Encoder

    texts, topics = real_sentences(data)
    vectors = Encoder("all-MiniLM-L6-v2").load().encode(texts).astype(np.float32)
    _, topic_ids = np.unique(np.array(topics), return_inverse=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, topics=topic_ids)
    return vectors, topic_ids


def _gaussian(cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    values, vecs = np.linalg.eigh(cov)
    basis = (vecs * np.sqrt(np.clip(values, 0, None))).astype(np.float32)
    return rng.standard_normal((n, len(cov)), dtype=np.float32) @ basis.T


def from_sentences(real: np.ndarray, topics: np.ndarray, n: int, n_queries: int, seed: int) -> VectorSet:
    """N rows and paraphrase-like queries grown from real embeddings (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_topics = int(topics.max()) + 1
    members = [np.flatnonzero(topics == t) for t in range(n_topics)]
    big = np.array([t for t in range(n_topics) if len(members[t]) >= 2])
    means = np.stack([real[m].mean(axis=0) for m in members])
    residuals = real - means[topics]
    between = np.cov((means[big] - means[big].mean(axis=0)).T)
    within = np.cov(residuals[np.isin(topics, big)].T)
    # synthetic topics: log-normal sizes, each a real topic (with >= 2 members) shifted off its place
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(np.clip(rng.lognormal(3.9, 1.1), 1, 5000)))
    sizes[-1] -= sum(sizes) - n
    source = big[rng.integers(0, len(big), len(sizes))]
    centres = means[source] + 0.7 * _gaussian(between, len(sizes), rng)
    topic_of_row = np.repeat(np.arange(len(sizes)), sizes)
    vectors = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        end = min(n, start + 100_000)
        t = topic_of_row[start:end]
        src = source[t]
        pick = lambda: np.array([members[s][rng.integers(len(members[s]))] for s in src])
        a = rng.uniform(0.5, 1.0, (end - start, 1)).astype(np.float32)
        rows = centres[t] + a * residuals[pick()] + (1 - a) * residuals[pick()]
        rows += 0.3 * _gaussian(within, end - start, rng)
        vectors[start:end] = rows
    _unit(vectors)
    dups = rng.choice(n, n // 20, replace=False)
    originals = rng.integers(0, n, len(dups))
    vectors[dups] = _unit(vectors[originals] + 0.25 / np.sqrt(real.shape[1]) *
                          rng.standard_normal((len(dups), real.shape[1]), dtype=np.float32))
    perm = rng.permutation(n)  # rows of one topic are not contiguous in a real knowledge base
    vectors = vectors[perm]
    # queries: stored rows moved by one real paraphrase step (difference of two sentences of one topic)
    base = rng.choice(n, n_queries, replace=False)
    pair_topics = big[rng.integers(0, len(big), n_queries)]
    i = np.array([members[t][rng.integers(len(members[t]))] for t in pair_topics])
    j = np.array([members[t][rng.integers(len(members[t]))] for t in pair_topics])
    queries = _unit(vectors[base] + (real[i] - real[j]))
    desc = (f"{n} rows grown from {len(real)} real MiniLM sentence embeddings ({len(sizes)} synthetic topics, "
            f"log-normal sizes {min(sizes)}-{max(sizes)}, 5% near-duplicates); queries = stored row + a real "
            "paraphrase difference")
    return VectorSet(vectors, queries, desc)


def random_centres(n: int, n_queries: int, seed: int, dim: int = DIM) -> VectorSet:
    """The adversarial case: random centres + isotropic noise of equal norm, 100 rows per centre."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 100), dim), dtype=np.float32)
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        end = min(n, start + 100_000)
        vectors[start:end] = centres[rng.integers(0, len(centres), end - start)]
        vectors[start:end] += rng.standard_normal((end - start, dim), dtype=np.float32)
    _unit(vectors)
    queries = vectors[rng.choice(n, n_queries, replace=False)] + 0.04 * rng.standard_normal((n_queries, dim), dtype=np.float32)
    return VectorSet(vectors, _unit(queries),
                     f"{n} rows: random centres + isotropic noise of equal norm, 100 per centre; queries = "
                     "stored rows + isotropic noise (cosine ~0.8)")


def structure(vectors: np.ndarray, queries: np.ndarray, seed: int = 0) -> dict:
    """Numbers that say how real-like a set is: mean cosine of random pairs, variance share of the top 32
    principal directions, and (up to 200k rows) the queries' mean cosine to their nearest stored row."""
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(len(vectors), min(len(vectors), 20_000), replace=False)]
    pairs = rng.integers(0, len(sample), (20_000, 2))
    cos = float(np.mean(np.sum(sample[pairs[:, 0]] * sample[pairs[:, 1]], axis=1)))
    centred = sample - sample.mean(axis=0)
    spectrum = np.linalg.svd(centred, compute_uv=False) ** 2
    q = queries[:100]
    nearest = np.max(q @ vectors.T, axis=1) if len(vectors) <= 200_000 else None  # sampled sizes only
    out = {"mean_random_pair_cosine": round(cos, 3),
           "top32_variance_share": round(float(spectrum[:32].sum() / spectrum.sum()), 3)}
    if nearest is not None:
        out["query_nearest_cosine_mean"] = round(float(nearest.mean()), 3)
    return out
