"""A linear softmax head fitted on frozen embeddings (multinomial logistic regression, L-BFGS).

Written on torch rather than scikit-learn so that the trained weights are plain tensors saved as
safetensors and the serving path never imports a training library. Not the shared Newton fit of
`smallbot.logistic`: a multinomial Newton step solves a (classes x dims)^2 system, far too large for
hundreds of intents over 384 dimensions, so this one needs a gradient-only solver.
"""

from __future__ import annotations

import numpy as np
import torch


def fit_linear_head(
    x: np.ndarray, y: np.ndarray, n_classes: int, c: float = 10.0, seed: int = 0, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Return (weight [k, d], bias [k]) minimising cross-entropy + ||W||^2 / (2 C n), like sklearn's C."""
    torch.manual_seed(seed)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).double()
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    weight = torch.zeros(n_classes, xt.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
    )
    l2 = 1.0 / (2.0 * c * len(yt))

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ weight.T + bias, yt) + l2 * (weight * weight).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach().float().numpy(), bias.detach().float().numpy()


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature T that minimises held-out NLL of softmax(logits / T); T > 1 softens overconfidence."""
    lt = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(lt / log_t.exp(), yt)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0).item())


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
