"""Out-of-scope scores on saved (tuned) CLINC150 embeddings, iterated in numpy in seconds.

Input: the .npz files that `benchmarks/intents.py --save-embeddings` writes (the tuned encoder's embeddings
of every split). The head is fitted on train exactly as `smallbot.intents.train.train_linear` does; every
variant then differs only in the out-of-scope features and in the rule that picks the operating point.

Selection (the default) never opens the test file: val and oos_val are split into halves (even / odd rows,
as `benchmarks/intents.py --select` does); each variant is calibrated on one half and scored on the other,
then the halves swap and the two figures are averaged (2-fold, so all 100 oos_val sentences are scored once).
`--final VARIANT` calibrates on all of val + oos_val and reports test + oos_test once, with the baseline.

    python benchmarks/intents_oos.py --embeddings benchmarks/out/embeddings_full_e2e_e2e300.npz
    python benchmarks/intents_oos.py --embeddings ... --only lr_cheap:balanced,grid:balanced
    python benchmarks/intents_oos.py --embeddings ... --product               # smallbot's train_linear, val
    python benchmarks/intents_oos.py --embeddings ... --product --final product   # ... and test, once
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


@dataclass
class Split:
    """Embeddings of one evaluation set: in-scope rows with labels, and out-of-scope rows."""

    x: np.ndarray
    y: np.ndarray
    oos: np.ndarray


def load_splits(path: Path, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], Split, Split]:
    """(train_x, train_y, oos_train_x, names, val, test); in selection mode test is never opened."""
    data = np.load(path, allow_pickle=False)
    names = sorted(set(data["train_y"].tolist()))
    index = {n: i for i, n in enumerate(names)}
    ids = lambda labels: np.array([index[n] for n in labels.tolist()])  # noqa: E731
    val = Split(data["val_x"], ids(data["val_y"]), data["oos_val_x"])
    test = None
    if final:
        t = np.load(path.with_name(path.stem + "_test.npz"), allow_pickle=False)
        test = Split(t["test_x"], ids(t["test_y"]), t["oos_test_x"])
    return data["train_x"], ids(data["train_y"]), data["oos_train_x"], names, val, test


def halves(split: Split) -> tuple[Split, Split]:
    """Even and odd rows, as `benchmarks/intents.py --select` splits val."""
    return (Split(split.x[0::2], split.y[0::2], split.oos[0::2]),
            Split(split.x[1::2], split.y[1::2], split.oos[1::2]))


# --------------------------------------------------------------------------------------------- features

class FeatureModel:
    """Everything fitted on train once: LR head, Gaussians, example banks; computes raw features."""

    def __init__(self, x: np.ndarray, y: np.ndarray, oos_x: np.ndarray, n: int, seed: int = 0):
        from smallbot.intents.head import fit_linear_head
        from smallbot.intents.train import fit_gaussian

        self.x, self.y, self.n = x, y, n
        self.weight, self.bias = fit_linear_head(x, y, n, c=10.0, seed=seed)
        self.means, self.precision = fit_gaussian(x, y, n)
        # background Gaussian for relative Mahalanobis (Ren et al. 2021): one mean, full covariance, same shrinkage
        self.bg_mean, self.bg_precision = fit_gaussian(x, np.zeros(len(x), int), 1)
        self.class_precisions = [self._class_precision(x[y == k]) for k in range(n)]
        self.oos_x = oos_x
        # LR head with the given out-of-scope examples as one more class (idea 3)
        xo = np.concatenate([x, oos_x])
        yo = np.concatenate([y, np.full(len(oos_x), n)])
        self.weight_o, self.bias_o = fit_linear_head(xo, yo, n + 1, c=10.0, seed=seed)
        self.temperature = 1.0
        self.temperature_o = 1.0

    def _class_precision(self, xk: np.ndarray, shrinkage: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """Per-class covariance shrunk hard towards a scaled identity (100 points in 384 dims)."""
        mean = xk.mean(axis=0)
        r = (xk - mean).astype(np.float64)
        cov = r.T @ r / len(r)
        d = cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / d + 1e-6) * np.eye(d)
        sign, logdet = np.linalg.slogdet(cov)
        return np.linalg.inv(cov).astype(np.float32), np.float32(logdet)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight.T + self.bias

    def calibrate(self, val: Split) -> None:
        from smallbot.intents.head import fit_temperature

        self.temperature = fit_temperature(self.logits(val.x), val.y)
        lo = np.concatenate([val.x, val.oos]) @ self.weight_o.T + self.bias_o
        yo = np.concatenate([val.y, np.full(len(val.oos), self.n)])
        self.temperature_o = fit_temperature(lo, yo)

    def features(self, x: np.ndarray) -> dict[str, np.ndarray]:
        from smallbot.intents.classifier import softmax

        logits = self.logits(x)
        probs = softmax(logits / self.temperature)
        top2 = np.sort(probs, axis=1)[:, -2:]
        d_tied = self._maha(x, self.means, self.precision)
        bg = self._maha(x, self.bg_mean, self.bg_precision)[:, 0]
        sims = x @ self.x.T
        ksorted = -np.sort(-sims, axis=1)[:, :20]
        # same-class kNN: mean cosine to the 10 nearest examples of the predicted class
        pred = logits.argmax(axis=1)
        lo = (x @ self.weight_o.T + self.bias_o) / self.temperature_o
        po = softmax(lo)
        near_oos = (x @ self.oos_x.T).max(axis=1) if len(self.oos_x) else np.zeros(len(x))
        f = {
            "confidence": probs.max(axis=1),
            "mahalanobis": -d_tied.min(axis=1),
            "nearest": ksorted[:, 0],
            "knn5": ksorted[:, :5].mean(axis=1),
            "knn10": ksorted[:, :10].mean(axis=1),
            "knn20": ksorted[:, :20].mean(axis=1),
            "relative_maha": -(d_tied.min(axis=1) - bg),
            "energy": np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1),
            "max_logit": logits.max(axis=1),
            "margin": top2[:, 1] - top2[:, 0],
            "class_maha": -self._class_maha(x, pred),
            "pred_knn10": self._pred_knn(sims, pred, 10),
            "oos_class": -np.log(po[:, self.n] + 1e-12),
            "oos_vs_in": np.log(po[:, : self.n].max(1) + 1e-12) - np.log(po[:, self.n] + 1e-12),
            "near_oos_gap": ksorted[:, 0] - near_oos,
        }
        return {k: v.astype(np.float64) for k, v in f.items()}

    @staticmethod
    def _maha(x: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
        pm = means @ precision
        xpx = ((x @ precision) * x).sum(axis=1)
        return xpx[:, None] - 2 * x @ pm.T + (pm * means).sum(axis=1)[None]

    def _class_maha(self, x: np.ndarray, pred: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        for k in np.unique(pred):
            rows = pred == k
            p, logdet = self.class_precisions[k]
            r = x[rows] - self.means[k]
            out[rows] = ((r @ p) * r).sum(axis=1) + logdet
        return out

    def _pred_knn(self, sims: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
        out = np.empty(len(pred))
        for c in np.unique(pred):
            rows = pred == c
            s = sims[rows][:, self.y == c]
            out[rows] = -np.sort(-s, axis=1)[:, :k].mean(axis=1)
        return out


# ------------------------------------------------------------------------------------ combiners and rules

GRID_FEATURES = ("confidence", "mahalanobis", "nearest")


def standardise(cal: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    m = np.stack([cal[n] for n in names], axis=1)
    return m.mean(axis=0), m.std(axis=0) + 1e-9


def stack(f: dict[str, np.ndarray], names: tuple[str, ...], center, scale) -> np.ndarray:
    return (np.stack([f[n] for n in names], axis=1) - center) / scale


def grid_combiner(names: tuple[str, ...], rule):
    """The product's combiner: a 0 / 0.5 / 1 weight grid over standardised features, chosen with `rule`."""
    import itertools

    def fit(cal_in, correct, cal_oos):
        center, scale = standardise(cal_in, names)
        zi, zo = stack(cal_in, names, center, scale), stack(cal_oos, names, center, scale)
        best = None
        for combo in itertools.product((0.0, 0.5, 1.0), repeat=len(names)):
            if not any(combo):
                continue
            w = np.array(combo)
            th, value = rule(zi @ w, correct, zo @ w)
            if best is None or value > best[0] + 1e-9:
                best = (value, w, th)
        _, w, th = best
        return (lambda f: stack(f, names, center, scale) @ w), th
    return fit


def logistic_combiner(names: tuple[str, ...], rule, c: float = 1.0, extra_oos: dict | None = None):
    """L2-regularised logistic regression, correct in-scope (1) vs out-of-scope (0), on standardised features;
    classes weighted equally. `extra_oos`: more out-of-scope feature rows (e.g. oos_train) to fit on."""
    from sklearn.linear_model import LogisticRegression

    def fit(cal_in, correct, cal_oos):
        center, scale = standardise(cal_in, names)
        zi, zo = stack(cal_in, names, center, scale), stack(cal_oos, names, center, scale)
        zfit_o = zo if extra_oos is None else np.concatenate([zo, stack(extra_oos, names, center, scale)])
        xfit = np.concatenate([zi[correct], zfit_o])
        yfit = np.r_[np.ones(correct.sum()), np.zeros(len(zfit_o))]
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(xfit, yfit)
        w = lr.coef_[0]
        th, _ = rule(zi @ w, correct, zo @ w)
        return (lambda f: stack(f, names, center, scale) @ w), th
    return fit


def candidates(s_in, s_oos):
    return np.unique(np.quantile(np.concatenate([s_in, s_oos]), np.linspace(0, 1, 801)))


def rule_balanced(s_in, correct, s_oos, min_keep: float = 0.85):
    """The product's rule: maximise acc-with-rejects + OOS recall (keeping >= 85% of in-scope)."""
    ceiling = np.quantile(s_in, 1 - min_keep)
    best = None
    for th in np.unique(np.minimum(candidates(s_in, s_oos), ceiling)):
        v = (correct & (s_in >= th)).mean() + (s_oos < th).mean()
        if best is None or v > best[1] + 1e-9:
            best = (float(th), float(v))
    return best


def rule_target(recall: float):
    """Maximise acc-with-rejects subject to OOS recall >= `recall` on the calibration data."""
    def rule(s_in, correct, s_oos):
        th = float(np.quantile(s_oos, recall, method="higher")) + 1e-9
        return th, float((correct & (s_in >= th)).mean())
    return rule


def rule_weighted(alpha: float):
    """Maximise acc-with-rejects + alpha * OOS recall (alpha < 1 leans to in-scope accuracy)."""
    def rule(s_in, correct, s_oos):
        best = None
        for th in candidates(s_in, s_oos):
            v = (correct & (s_in >= th)).mean() + alpha * (s_oos < th).mean()
            if best is None or v > best[1] + 1e-9:
                best = (float(th), float(v))
        return best
    return rule


# ------------------------------------------------------------------------------------------- evaluation

def score_split(model: FeatureModel, split: Split) -> tuple[dict, np.ndarray, dict]:
    f_in = model.features(split.x)
    correct = model.logits(split.x).argmax(axis=1) == split.y
    return f_in, correct, model.features(split.oos)


def curve_point(s_in, correct, s_oos, recall: float = 0.9) -> float:
    """Acc-with-rejects on the evaluated data itself at the threshold giving `recall` there (an oracle point
    of the trade-off curve, for comparing scores, never a threshold anyone would store)."""
    th = float(np.quantile(s_oos, recall, method="higher")) + 1e-9
    return float((correct & (s_in >= th)).mean())


def evaluate(fit, cal, ev) -> dict:
    from sklearn.metrics import roc_auc_score

    (cal_in, cal_correct, cal_oos), (ev_in, ev_correct, ev_oos) = cal, ev
    score, th = fit(cal_in, cal_correct, cal_oos)
    s_in, s_oos = score(ev_in), score(ev_oos)
    auroc = roc_auc_score(np.r_[np.ones(len(s_in)), np.zeros(len(s_oos))], np.r_[s_in, s_oos])
    return {"accuracy_with_rejects": float((ev_correct & (s_in >= th)).mean()),
            "oos_recall": float((s_oos < th).mean()), "auroc": float(auroc),
            "acc_at_90": curve_point(s_in, ev_correct, s_oos, 0.9),
            "acc_at_95": curve_point(s_in, ev_correct, s_oos, 0.95)}


def variants(oos_train_features: dict) -> dict:
    """Named (combiner, rule) variants; name = '<combiner>:<rule>'."""
    rich = ("confidence", "mahalanobis", "nearest", "knn10", "relative_maha", "energy", "margin", "class_maha",
            "pred_knn10")
    rich_oos = rich + ("oos_vs_in", "near_oos_gap")
    # what the product serves cheaply: no per-class covariances (150 x 384 x 384 floats) and no OOS class
    cheap = ("confidence", "mahalanobis", "nearest", "knn10", "relative_maha", "energy", "margin")
    rules = {"balanced": rule_balanced, "target90": rule_target(0.90), "target95": rule_target(0.95),
             "w0.5": rule_weighted(0.5)}
    combiners = {}
    for rname, rule in rules.items():
        combiners[f"grid:{rname}"] = grid_combiner(GRID_FEATURES, rule)
        combiners[f"grid_knn:{rname}"] = grid_combiner(("confidence", "mahalanobis", "knn10"), rule)
        combiners[f"grid_rel:{rname}"] = grid_combiner(("confidence", "relative_maha", "nearest"), rule)
        combiners[f"grid_oos:{rname}"] = grid_combiner(("confidence", "mahalanobis", "nearest", "oos_vs_in"), rule)
        combiners[f"lr3:{rname}"] = logistic_combiner(GRID_FEATURES, rule)
        combiners[f"lr_rich:{rname}"] = logistic_combiner(rich, rule)
        combiners[f"lr_rich_oos:{rname}"] = logistic_combiner(rich_oos, rule)
        combiners[f"lr_rich+oostrain:{rname}"] = logistic_combiner(rich, rule, extra_oos=oos_train_features)
        combiners[f"lr_cheap:{rname}"] = logistic_combiner(cheap, rule)
        for c in (0.01, 0.1, 10.0):
            combiners[f"lr_cheap_c{c}:{rname}"] = logistic_combiner(cheap, rule, c=c)
        combiners[f"lr_cheap+oostrain:{rname}"] = logistic_combiner(cheap, rule, extra_oos=oos_train_features)
        combiners[f"lr_energy3+oostrain:{rname}"] = logistic_combiner(("energy", "mahalanobis", "knn10"), rule,
                                                                      extra_oos=oos_train_features)
    for single in ("confidence", "mahalanobis", "nearest", "knn5", "knn10", "knn20", "relative_maha", "energy",
                   "max_logit", "margin", "class_maha", "pred_knn10", "oos_class", "oos_vs_in", "near_oos_gap"):
        combiners[f"single_{single}:balanced"] = grid_combiner((single,), rule_balanced)
    return combiners


def product(embeddings: Path, data: Path, final: bool, grid: bool = False) -> dict:
    """smallbot's own `train_linear` + `LinearIntentClassifier.predict` on the saved embeddings (the texts come
    from the data file in the order they were saved): the implemented variant, end to end but the tuning.
    `grid`: force the 3-feature grid (the policy before format 3) as the same-run baseline."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from intents import load
    from sklearn.metrics import roc_auc_score

    from smallbot.intents import train as train_module
    from smallbot.intents.train import Validation, train_linear

    train_module.LOGISTIC_MIN_OOS = 10**9 if grid else train_module.LOGISTIC_MIN_OOS
    s = load(data, "data_full.json", False, None, 0)
    vectors: dict[str, np.ndarray] = {}
    saved = np.load(embeddings, allow_pickle=False)
    parts = [("train", s["train"][0]), ("val", s["val"][0]), ("oos_train", s["oos_train"]), ("oos_val", s["oos_val"])]
    if final:
        saved_test = np.load(embeddings.with_name(embeddings.stem + "_test.npz"), allow_pickle=False)
        parts += [("test", s["test"][0]), ("oos_test", s["oos_test"])]
    for key, texts in parts:
        rows = (saved_test if key in ("test", "oos_test") else saved)[f"{key}_x"]
        vectors.update(zip(texts, rows))
    encode = lambda texts: np.stack([vectors[t] for t in texts]) if len(texts) else np.zeros((0, 384))  # noqa: E731
    val = (s["val"][0], s["val"][1], s["oos_val"])
    if final:
        pairs = [(val, (s["test"][0], s["test"][1], s["oos_test"]))]
    else:
        a = tuple(v[0::2] for v in val)
        b = tuple(v[1::2] for v in val)
        pairs = [(a, b), (b, a)]
    runs = []
    for cal, ev in pairs:
        clf = train_linear(s["train"][0], s["train"][1], encode, seed=0,
                           validation=Validation(tuple(cal[0]), tuple(cal[1]), tuple(cal[2])))
        pred, opred = clf.predict(encode(ev[0])), clf.predict(encode(ev[2]))
        correct = np.array([p.top for p in pred]) == np.array(ev[1])
        s_in, s_oos = -np.array([p.oos_score for p in pred]), -np.array([p.oos_score for p in opred])
        runs.append({"accuracy": float(correct.mean()), "accuracy_with_rejects": float((correct & (s_in >= 0)).mean()),
                     "oos_recall": float((s_oos < 0).mean()),
                     "auroc": float(roc_auc_score(np.r_[np.ones(len(s_in)), np.zeros(len(s_oos))], np.r_[s_in, s_oos])),
                     "acc_at_90": curve_point(s_in, correct, s_oos, 0.9),
                     "acc_at_95": curve_point(s_in, correct, s_oos, 0.95),
                     "combiner": clf.metrics["oos_combiner"], "weights": list(clf.policy.weights)})
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k not in ("combiner", "weights")}
    out["runs"] = runs
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embeddings", type=Path, required=True)
    parser.add_argument("--final", default="", help="variant to report on test once (with grid:balanced); "
                                                   "with --product any value (e.g. `product`): test, not val")
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--product", action="store_true",
                        help="score smallbot's own train_linear (the implemented variant) instead of the variants")
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    args = parser.parse_args(argv)
    if args.product:
        result = {"product": product(args.embeddings, args.data, bool(args.final)),
                  "grid_baseline": product(args.embeddings, args.data, bool(args.final), grid=True)}
        for name, r in result.items():
            print(name, json.dumps({k: v for k, v in r.items() if k != "runs"}))
            for run in r["runs"]:
                print("  ", run["combiner"], [round(w, 3) for w in run["weights"]])
        out = OUT / f"intents_oos_{args.embeddings.stem}_product{'_final' if args.final else ''}.json"
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}", file=sys.stderr)
        return 0
    train_x, train_y, oos_train_x, names, val, test = load_splits(args.embeddings, bool(args.final))
    model = FeatureModel(train_x, train_y, oos_train_x, len(names))
    results: dict = {"embeddings": str(args.embeddings), "mode": "final" if args.final else "select"}
    if args.final:
        model.calibrate(val)
        cal, ev = score_split(model, val), score_split(model, test)
        all_variants = variants(model.features(oos_train_x))
        for name in ("grid:balanced", args.final):
            results[name] = evaluate(all_variants[name], cal, ev)
            print(name, json.dumps(results[name]))
    else:
        a, b = halves(val)
        folds = []
        for cal_half, ev_half in ((a, b), (b, a)):
            model.calibrate(cal_half)
            folds.append((score_split(model, cal_half), score_split(model, ev_half), model.features(oos_train_x)))
        all_variants = variants(folds[0][2])
        chosen = [v for v in args.only.split(",") if v] or list(all_variants)
        for name in chosen:
            per_fold = []
            for cal, ev, oos_train_f in folds:
                fit = variants(oos_train_f)[name] if "oostrain" in name else all_variants[name]
                per_fold.append(evaluate(fit, cal, ev))
            results[name] = {k: float(np.mean([r[k] for r in per_fold])) for k in per_fold[0]}
            r = results[name]
            print(f"{name:32s} acc/rej {100 * r['accuracy_with_rejects']:5.1f}  recall {100 * r['oos_recall']:5.1f}"
                  f"  AUROC {r['auroc']:.4f}  acc@90 {100 * r['acc_at_90']:5.1f}  acc@95 {100 * r['acc_at_95']:5.1f}")
        acc = np.mean([np.mean(f[1][1]) for f in folds])
        print(f"no-reject accuracy on the evaluated halves: {100 * acc:.2f}")
        results["accuracy_no_rejects"] = float(acc)
    out = OUT / f"intents_oos_{args.embeddings.stem}{'_final' if args.final else ''}{'_only' if args.only else ''}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
