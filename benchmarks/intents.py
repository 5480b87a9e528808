"""CLINC150 intent benchmark: smallbot's classifier against same-run baselines.

Settings: full (data_full.json), small (data_small.json), 10-shot (10 per intent from full train, seeded).
Methods: frozen MiniLM + LogisticRegression(C=10) with a max-probability threshold; TF-IDF (word 1-2 +
char_wb 2-5) + LinearSVC with a max-decision threshold; smallbot's `train_linear` (LR head, temperature,
Mahalanobis + nearest-example out-of-scope score). Every threshold is chosen on val + oos_val only and reported on test + oos_test, at two operating points:
"balanced" (maximise in-scope accuracy with rejects + OOS recall; smallbot's stored threshold) and
"90% recall" (the threshold reaching 90% OOS recall on oos_val); AUROC in-scope vs OOS is threshold-free.

    python benchmarks/intents.py                 # all three settings
    python benchmarks/intents.py --quick         # 20 intents, for a smoke run
    python benchmarks/intents.py --settings full --methods smallbot,e2e --e2e-steps 300   # end-to-end tuning
    python benchmarks/intents.py --select ...    # choose settings: calibrate on half of val, report on the other

Every method's figures on val are printed too (and stored under "val"), for choosing settings without test.

Embeddings are cached in benchmarks/out/ (keyed by the texts), so reruns skip the ~40 s+ encoder pass.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load(data_dir: Path, name: str, quick: bool, shots: int | None, seed: int, select: bool = False) -> dict:
    raw = json.loads((data_dir / "clinc150" / name).read_text())
    names = sorted({label for _, label in raw["train"]})
    if quick:
        names = names[:20]
    keep = set(names)
    splits = {}
    for split in ("train", "val", "test"):
        rows = [(t, label) for t, label in raw[split] if label in keep]
        splits[split] = ([t for t, _ in rows], [label for _, label in rows])
    for split in ("oos_train", "oos_val", "oos_test"):
        texts = [t for t, _ in raw[split]]
        splits[split] = texts[: len(texts) // 5] if quick else texts
    if select:  # model selection: val halves stand in for val and test; the test split is never read
        texts, labels = splits["val"]
        splits["val"], splits["test"] = (texts[0::2], labels[0::2]), (texts[1::2], labels[1::2])
        splits["oos_val"], splits["oos_test"] = splits["oos_val"][0::2], splits["oos_val"][1::2]
    if shots:
        rng = np.random.default_rng(seed)
        texts, labels = splits["train"]
        chosen = []
        for label in names:
            members = [i for i, lab in enumerate(labels) if lab == label]
            chosen.extend(rng.choice(members, shots, replace=False).tolist())
        chosen.sort()
        splits["train"] = ([texts[i] for i in chosen], [labels[i] for i in chosen])
    return splits


class CachedEncoder:
    """Encoder with an on-disk cache of every text it has embedded (npz, no pickle)."""

    def __init__(self, path: Path):
        self.path = path
        self.cache: dict[str, np.ndarray] = {}
        self.encoder = None
        self.seconds = 0.0
        if path.exists():
            data = np.load(path, allow_pickle=False)
            self.cache = dict(zip(data["texts"].tolist(), data["x"]))

    def _load(self):
        if self.encoder is None:
            from smallbot.encoding.encoder import Encoder

            self.encoder = Encoder("all-MiniLM-L6-v2").load()
        return self.encoder

    def __call__(self, texts) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for start in range(0, len(missing), 2048):  # saved in chunks: a killed run keeps what it encoded
            chunk = missing[start:start + 2048]
            t0 = time.perf_counter()
            vectors = self._load().encode(chunk, batch_size=128)
            self.seconds += time.perf_counter() - t0
            self.cache.update(zip(chunk, vectors))
            self.save()
        if not texts:
            return np.zeros((0, 384), np.float32)
        return np.stack([self.cache[t] for t in texts])

    def save(self) -> None:
        """Merge with what another run saved meanwhile, then replace the file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = np.load(self.path, allow_pickle=False)
            for text, vector in zip(data["texts"].tolist(), data["x"]):
                self.cache.setdefault(text, vector)
        texts = sorted(self.cache)
        tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, texts=np.array(texts), x=np.stack([self.cache[t] for t in texts]))
        os.replace(tmp, self.path)


def pick_threshold(val_correct, val_scores, oos_scores) -> float:
    """Threshold on an in-scope score maximising accuracy-with-rejects + OOS recall on validation."""
    candidates = np.unique(np.quantile(np.concatenate([val_scores, oos_scores]), np.linspace(0, 1, 801)))
    best = max(candidates, key=lambda th: (val_correct & (val_scores >= th)).mean() + (oos_scores < th).mean())
    return float(best)


def recall_threshold(oos_scores, recall: float = 0.9) -> float:
    """Lowest threshold whose OOS recall on validation reaches `recall`."""
    return float(np.quantile(oos_scores, recall, method="higher")) + 1e-9


def at(threshold, correct, scores, oos_scores) -> dict:
    accepted = scores >= threshold
    flagged_oos, flagged_in = (oos_scores < threshold).sum(), (~accepted).sum()
    return {"accuracy_with_rejects": float((correct & accepted).mean()),
            "oos_recall": float((oos_scores < threshold).mean()),
            "oos_precision": float(flagged_oos / max(1, flagged_oos + flagged_in))}


def summarise(val, test, train_s: float, stored: float | None = None) -> dict:
    """val/test = (correct, in-scope scores, oos scores); thresholds come from val only.

    `balanced`: the threshold maximising acc-with-rejects + OOS recall on val (for smallbot: its stored one);
    `recall90`: the threshold reaching 90% OOS recall on val. AUROC is threshold-free (test in vs oos).
    """
    from sklearn.metrics import roc_auc_score

    balanced = stored if stored is not None else pick_threshold(*val)
    correct, scores, oos = test
    auroc = roc_auc_score(np.r_[np.ones(len(scores)), np.zeros(len(oos))], np.r_[scores, oos])
    # Figures on val itself, for choosing settings without the test split: accuracy without rejects is
    # held out (heads train on train only); AUROC and the balanced point are optimistic (the OOS weights and
    # threshold were chosen on val) but comparable between methods.
    v_correct, v_scores, v_oos = val
    v_auroc = roc_auc_score(np.r_[np.ones(len(v_scores)), np.zeros(len(v_oos))], np.r_[v_scores, v_oos])
    return {"train_s": train_s, "accuracy": float(correct.mean()), "auroc": float(auroc),
            "balanced": at(balanced, *test), "recall90": at(recall_threshold(val[2]), *test),
            "val": {"accuracy": float(v_correct.mean()), "auroc": float(v_auroc), "balanced": at(balanced, *val)}}


def run_lr(s, encode) -> dict:
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    x = encode(s["train"][0])
    clf = LogisticRegression(C=10, max_iter=1000).fit(x, s["train"][1])
    fit = time.perf_counter() - t0
    cls = clf.classes_
    pv, pt = clf.predict_proba(encode(s["val"][0])), clf.predict_proba(encode(s["test"][0]))
    pov, pot = clf.predict_proba(encode(s["oos_val"])), clf.predict_proba(encode(s["oos_test"]))
    return summarise((cls[pv.argmax(1)] == np.array(s["val"][1]), pv.max(1), pov.max(1)),
                     (cls[pt.argmax(1)] == np.array(s["test"][1]), pt.max(1), pot.max(1)), fit)


def run_tfidf(s) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    t0 = time.perf_counter()
    model = make_pipeline(make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                                     TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
                          LinearSVC(C=1.0))
    model.fit(s["train"][0], s["train"][1])
    fit = time.perf_counter() - t0
    cls = model.classes_
    dv, dt = model.decision_function(s["val"][0]), model.decision_function(s["test"][0])
    dov, dot = model.decision_function(s["oos_val"]), model.decision_function(s["oos_test"])
    return summarise((cls[dv.argmax(1)] == np.array(s["val"][1]), dv.max(1), dov.max(1)),
                     (cls[dt.argmax(1)] == np.array(s["test"][1]), dt.max(1), dot.max(1)), fit)


def run_smallbot(s, encode, seed: int) -> tuple[dict, object]:
    from smallbot.intents.train import Validation, train_linear

    t0 = time.perf_counter()
    clf = train_linear(s["train"][0], s["train"][1], encode, seed=seed,
                       validation=Validation(tuple(s["val"][0]), tuple(s["val"][1]), tuple(s["oos_val"])))
    fit = time.perf_counter() - t0

    def scored(texts, labels, oos):
        pred, opred = clf.predict(encode(texts)), clf.predict(encode(oos))
        return (np.array([p.top for p in pred]) == np.array(labels), -np.array([p.oos_score for p in pred]),
                -np.array([p.oos_score for p in opred]))

    result = summarise(scored(s["val"][0], s["val"][1], s["oos_val"]),
                       scored(s["test"][0], s["test"][1], s["oos_test"]), fit, stored=0.0)
    result.update(weights=list(clf.policy.weights), temperature=clf.temperature)
    return result, clf


def run_tuned(s, encode, seed: int, steps: int, batch: int, layers: int, lr: float,
              oos_negatives: bool = True, then_faq: bool = False, save: Path | None = None) -> tuple[dict, object]:
    """smallbot with the encoder body fine-tuned on the intents first (contrastive, same-intent positives,
    other intents in the batch and out-of-scope training examples as negatives), then `train_linear` on
    the tuned embeddings. train_s counts tuning + encoding train/val/oos_val + the head; test encoding not."""
    from smallbot.encoding.contrastive import FinetuneSettings, finetune_encoder

    texts, labels = s["train"]
    names = sorted(set(labels))
    groups = [[t for t, lab in zip(texts, labels) if lab == name] for name in names]
    frozen = encode([t for g in groups for t in g])  # cached frozen embeddings: hard-negative mining

    def tune(tuned):
        report = finetune_encoder(tuned, groups, s["oos_train"] if oos_negatives else (), None, FinetuneSettings(
            steps=steps, batch_size=batch, train_layers=layers, learning_rate=lr, seed=seed), vectors=frozen)
        return {"steps": steps, "batch": batch, "layers": layers, "lr": lr, "oos_negatives": oos_negatives,
                "loss": [report.first_loss, report.last_loss]}

    return _tuned_then_head(s, encode, seed, tune, then_faq, save)


def run_e2e(s, encode, seed: int, settings, then_faq: bool = False, save: Path | None = None) -> tuple[dict, object]:
    """smallbot with the body fine-tuned end to end with a cross-entropy cosine head (`smallbot.intents.endtoend`,
    CLINC's oos_train as an extra class when settings.oos_class), then `train_linear` on the tuned embeddings."""
    import dataclasses

    from smallbot.intents.endtoend import finetune_classifier

    texts, labels = s["train"]
    frozen = encode(texts)  # cached frozen embeddings: the head's starting class directions

    def tune(tuned):
        report = finetune_classifier(tuned, texts, labels, s["oos_train"], settings, vectors=frozen)
        return {**dataclasses.asdict(settings), "loss": [report.first_loss, report.last_loss],
                "train_accuracy": report.train_accuracy}

    return _tuned_then_head(s, encode, seed, tune, then_faq, save)


def save_embeddings(s, encode, path: Path) -> None:
    """Write the tuned encoder's embeddings of every split, so out-of-scope scores can be iterated in numpy
    (benchmarks/intents_oos.py) without re-tuning. Test and oos_test go to a separate `<path>_test.npz`
    that model selection never opens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, train_x=encode(s["train"][0]), train_y=np.array(s["train"][1]), val_x=encode(s["val"][0]),
             val_y=np.array(s["val"][1]), oos_train_x=encode(s["oos_train"]), oos_val_x=encode(s["oos_val"]))
    np.savez(path.with_name(path.stem + "_test.npz"), test_x=encode(s["test"][0]), test_y=np.array(s["test"][1]),
             oos_test_x=encode(s["oos_test"]))


def helpdesk_faq() -> dict:
    """The example bot's FAQ tuning inputs (every entry's phrasings, answers), for --then-faq: what
    `smallbot train` runs on the intent-tuned encoder next when knowledge.finetune_steps is set."""
    from smallbot.project.loader import load_project

    project = load_project(REPO / "examples" / "helpdesk")
    entries = list(project.knowledge)
    groups = [list(dict.fromkeys(e.phrasings)) for e in entries]
    cfg = project.config.knowledge
    return {"groups": groups, "answers": [e.answer for e in entries], "steps": cfg.finetune_steps,
            "batch": cfg.finetune_batch, "layers": cfg.finetune_layers}


def _tuned_then_head(s, encode, seed: int, tune, then_faq: bool = False,
                     save: Path | None = None) -> tuple[dict, object]:
    """Tune a copy of the encoder with `tune`, optionally follow with the example bot's FAQ
    tuning (as `smallbot train` does after intent tuning), fit `train_linear` on the result, score val/test."""
    from smallbot.intents.train import Validation, train_linear

    texts, labels = s["train"]
    t0 = time.perf_counter()
    tuned = encode._load().clone()
    tune_info = tune(tuned)
    if then_faq:
        from smallbot.encoding.contrastive import FinetuneSettings, finetune_encoder

        faq = helpdesk_faq()
        finetune_encoder(tuned, faq["groups"], s["oos_train"], faq["answers"], FinetuneSettings(
            steps=faq["steps"], batch_size=faq["batch"], train_layers=faq["layers"], seed=seed))
        tune_info["then_faq"] = {k: faq[k] for k in ("steps", "batch", "layers")}
    tune_s = time.perf_counter() - t0
    cache: dict[str, np.ndarray] = {}

    def tuned_encode(batch_texts):
        batch_texts = list(batch_texts)
        missing = [t for t in dict.fromkeys(batch_texts) if t not in cache]
        if missing:
            cache.update(zip(missing, tuned.encode(missing, batch_size=128)))
        if not batch_texts:
            return np.zeros((0, 384), np.float32)
        return np.stack([cache[t] for t in batch_texts])

    t1 = time.perf_counter()
    clf = train_linear(texts, labels, tuned_encode, seed=seed,
                       validation=Validation(tuple(s["val"][0]), tuple(s["val"][1]), tuple(s["oos_val"])))
    fit = time.perf_counter() - t1

    def scored(texts, labels, oos):
        pred, opred = clf.predict(tuned_encode(texts)), clf.predict(tuned_encode(oos))
        return (np.array([p.top for p in pred]) == np.array(labels), -np.array([p.oos_score for p in pred]),
                -np.array([p.oos_score for p in opred]))

    result = summarise(scored(s["val"][0], s["val"][1], s["oos_val"]),
                       scored(s["test"][0], s["test"][1], s["oos_test"]), tune_s + fit, stored=0.0)
    result.update(weights=list(clf.policy.weights), temperature=clf.temperature, tune_s=tune_s, head_s=fit,
                  tune=tune_info)
    if save is not None:
        save_embeddings(s, tuned_encode, save)
    return result, clf


def latency(clf, encode_one, texts, repeats: int = 3) -> dict:
    """Median per-message milliseconds: classifier only (given the embedding), and encoder pass + classifier."""
    vectors = encode_one(texts)
    head, full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for v in vectors:
            clf.predict(v[None, :])
        head.append((time.perf_counter() - t0) * 1000 / len(vectors))
        t0 = time.perf_counter()
        for text in texts:
            clf.predict(encode_one.encoder.encode([text]))
        full.append((time.perf_counter() - t0) * 1000 / len(texts))
    return {"classifier_ms": statistics.median(head), "encode_plus_classifier_ms": statistics.median(full)}


def time_example_bot(repeats: int = 3) -> dict:
    """Seconds to train examples/helpdesk's intent model from scratch (encoding included), median of runs."""
    from smallbot.encoding.encoder import Encoder
    from smallbot.intents.train import train_linear
    from smallbot.project.loader import load_project

    project = load_project(REPO / "examples" / "helpdesk")
    texts, labels = project.intents.texts_and_labels()
    encoder = Encoder(project.config.models.encoder, project.root).load()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        clf = train_linear(texts, labels, lambda batch: encoder.encode(list(batch)), seed=project.config.seed,
                           out_of_scope=project.intents.out_of_scope)
        runs.append(time.perf_counter() - t0)
    return {"examples": len(texts), "intents": len(set(labels)), "out_of_scope": len(project.intents.out_of_scope),
            "train_s_median": statistics.median(runs), "train_s_runs": runs, "metrics": clf.metrics}


def main(argv: list[str] | None = None) -> int:
    from smallbot.intents.endtoend import EndToEndSettings as EndToEnd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--quick", action="store_true", help="20 intents and a fifth of the OOS data")
    parser.add_argument("--settings", default="full,small,10shot",
                        help="comma-separated: full, small, 10shot, helpdesk (example bot training time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-messages", type=int, default=20)
    parser.add_argument("--methods", default="smallbot,lr_c10,tfidf_svc,tuned",
                        help="comma-separated: smallbot (frozen), tuned (body fine-tuned, contrastive), "
                             "e2e (body fine-tuned end to end with a cross-entropy head), lr_c10, tfidf_svc")
    parser.add_argument("--tune-steps", type=int, default=200)
    parser.add_argument("--tune-batch", type=int, default=64)
    parser.add_argument("--tune-layers", type=int, default=2)
    parser.add_argument("--tune-lr", type=float, default=5e-5)
    parser.add_argument("--no-oos-negatives", action="store_true")
    parser.add_argument("--e2e-steps", type=int, default=EndToEnd.steps)
    parser.add_argument("--e2e-batch", type=int, default=EndToEnd.batch_size)
    parser.add_argument("--e2e-layers", type=int, default=EndToEnd.train_layers)
    parser.add_argument("--e2e-lr", type=float, default=EndToEnd.learning_rate)
    parser.add_argument("--e2e-head-lr", type=float, default=EndToEnd.head_learning_rate)
    parser.add_argument("--e2e-scale", type=float, default=EndToEnd.scale)
    parser.add_argument("--e2e-max-length", type=int, default=EndToEnd.max_length)
    parser.add_argument("--e2e-label-smoothing", type=float, default=EndToEnd.label_smoothing)
    parser.add_argument("--e2e-no-oos-class", action="store_true")
    parser.add_argument("--then-faq", action="store_true",
                        help="after tuning on the intents, run the example bot's FAQ tuning on the same encoder "
                             "(as `smallbot train` does) before fitting the head")
    parser.add_argument("--select", action="store_true",
                        help="model selection: calibrate on one half of val, report on the other; test never read")
    parser.add_argument("--save-embeddings", action="store_true",
                        help="write the tuned encoder's embeddings of every split to benchmarks/out/embeddings_"
                             "<setting>_<method><suffix>.npz (+ _test.npz) for benchmarks/intents_oos.py")
    parser.add_argument("--out-suffix", default="", help="appended to the results JSON name (for variants)")
    args = parser.parse_args(argv)
    import torch

    torch.manual_seed(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    encode = CachedEncoder(OUT / "clinc150_minilm.npz")
    settings = {"full": ("data_full.json", None), "small": ("data_small.json", None), "10shot": ("data_full.json", 10)}
    results = {"machine": f"{os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}",
               "load_average_at_start": os.getloadavg()[0], "quick": args.quick, "select": args.select,
               "then_faq": args.then_faq, "seed": args.seed, "settings": {}}
    rows = []

    def embeddings_path(setting: str, method: str) -> Path:
        return OUT / f"embeddings{'_quick' if args.quick else ''}{'_select' if args.select else ''}_{setting}_{method}{args.out_suffix}.npz"

    for name in args.settings.split(","):
        if name == "helpdesk":
            results["settings"][name] = helpdesk = time_example_bot()
            print(f"examples/helpdesk intents ({helpdesk['examples']} examples, {helpdesk['intents']} intents): "
                  f"train {helpdesk['train_s_median']:.1f} s median of 3, encoding included", file=sys.stderr)
            continue
        file, shots = settings[name]
        s = load(args.data, file, args.quick, shots, args.seed, args.select)
        encode(s["train"][0] + s["val"][0] + s["test"][0] + s["oos_train"] + s["oos_val"] + s["oos_test"])
        per = {"examples": len(s["train"][0]), "intents": len(set(s["train"][1]))}
        methods = args.methods.split(",")
        if "lr_c10" in methods:
            per["lr_c10"] = run_lr(s, encode)
        if "tfidf_svc" in methods:
            per["tfidf_svc"] = run_tfidf(s)
        if "smallbot" in methods:
            per["smallbot"], clf = run_smallbot(s, encode, args.seed)
        if "tuned" in methods:
            per["tuned"], _ = run_tuned(s, encode, args.seed, args.tune_steps, args.tune_batch, args.tune_layers,
                                        args.tune_lr, not args.no_oos_negatives, args.then_faq,
                                        embeddings_path(name, "tuned") if args.save_embeddings else None)
            print(f"{name} tuned: {json.dumps({k: per['tuned'][k] for k in ('tune_s', 'head_s', 'tune')})}",
                  file=sys.stderr)
        if "e2e" in methods:
            e2e = EndToEnd(steps=args.e2e_steps, batch_size=args.e2e_batch, train_layers=args.e2e_layers,
                           learning_rate=args.e2e_lr, head_learning_rate=args.e2e_head_lr, scale=args.e2e_scale,
                           max_length=args.e2e_max_length, oos_class=not args.e2e_no_oos_class, seed=args.seed,
                           label_smoothing=args.e2e_label_smoothing)
            per["e2e"], _ = run_e2e(s, encode, args.seed, e2e, args.then_faq,
                                    embeddings_path(name, "e2e") if args.save_embeddings else None)
            print(f"{name} e2e: {json.dumps({k: per['e2e'][k] for k in ('tune_s', 'head_s', 'tune')})}",
                  file=sys.stderr)
        if name == "full" and "smallbot" in methods and args.latency_messages:
            encode._load()
            per["latency"] = latency(clf, encode, s["test"][0][: args.latency_messages])
        results["settings"][name] = per
        for method in ("e2e", "tuned", "smallbot", "lr_c10", "tfidf_svc"):
            if method not in per:
                continue
            r = per[method]
            rows.append((name, method, r["accuracy"], r["auroc"], r["balanced"], r["recall90"], r["train_s"]))
            v = r["val"]
            print(f"{name} {method} val: acc {100 * v['accuracy']:.2f}, AUROC {v['auroc']:.4f}, stored thr "
                  f"{100 * v['balanced']['accuracy_with_rejects']:.1f} / {100 * v['balanced']['oos_recall']:.1f}",
                  file=sys.stderr)
    header = ("setting", "method", "acc (no OOS)", "AUROC in/oos", "balanced thr: acc w/ rejects / OOS recall / OOS prec",
              "90%-recall thr: acc w/ rejects / OOS recall", "train s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, method, acc, auroc, bal, r90, train_s in rows:
        print(f"| {name} | {method} | {100 * acc:.1f} | {auroc:.3f} | {100 * bal['accuracy_with_rejects']:.1f} / "
              f"{100 * bal['oos_recall']:.1f} / {100 * bal['oos_precision']:.1f} | "
              f"{100 * r90['accuracy_with_rejects']:.1f} / {100 * r90['oos_recall']:.1f} | {train_s:.1f} |")
    if "full" in results["settings"] and "latency" in results["settings"]["full"]:
        lat = results["settings"]["full"]["latency"]
        print(f"\nlatency per message (median of 3 x {args.latency_messages}): classifier "
              f"{lat['classifier_ms']:.2f} ms, encoder pass + classifier {lat['encode_plus_classifier_ms']:.2f} ms")
    out = OUT / f"intents{'_quick' if args.quick else ''}{'_select' if args.select else ''}_{args.settings.replace(',', '-')}{args.out_suffix}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
