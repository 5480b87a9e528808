"""Time smallbot's train_linear (head + calibration + OOS policy) and one-message predict on saved embeddings,
new policy vs the forced 3-feature grid; same machine, same run.

    python benchmarks/intents_oos_timing.py --embeddings benchmarks/out/embeddings_full_e2e_e2e300.npz
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

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    from intents import load

    from smallbot.intents import train as train_module
    from smallbot.intents.train import Validation, train_linear

    parser = argparse.ArgumentParser()
    parser.add_argument("--embeddings", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args()
    s = load(args.data, "data_full.json", False, None, 0)
    saved = np.load(args.embeddings, allow_pickle=False)
    vectors = {}
    for key, texts in (("train", s["train"][0]), ("val", s["val"][0]), ("oos_val", s["oos_val"])):
        vectors.update(zip(texts, saved[f"{key}_x"]))
    encode = lambda texts: np.stack([vectors[t] for t in texts])  # noqa: E731
    result = {"load_average_at_start": os.getloadavg()[0]}
    default_min = train_module.LOGISTIC_MIN_OOS
    for name, minimum in (("logistic", default_min), ("grid", 10**9)):
        train_module.LOGISTIC_MIN_OOS = minimum
        t0 = time.perf_counter()
        clf = train_linear(s["train"][0], s["train"][1], encode, seed=0,
                           validation=Validation(tuple(s["val"][0]), tuple(s["val"][1]), tuple(s["oos_val"])))
        train_s = time.perf_counter() - t0
        x = saved["val_x"][:200]
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            for row in x:
                clf.predict(row[None, :])
            runs.append((time.perf_counter() - t0) * 1000 / len(x))
        result[name] = {"train_s": round(train_s, 1), "predict_ms": round(statistics.median(runs), 3)}
    result["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
