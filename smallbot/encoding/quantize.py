"""Dynamic int8 quantisation of THE encoder (`models.quantize` in bot.yml; the other modes are for
benchmarks/quantize.py).

`torch.ao.quantization.quantize_dynamic` stores the chosen Linear layers' weights as int8 and quantises
their inputs per batch at run time (so an int8 embedding depends a little on the other texts in its batch);
attention scores, layer norms and embeddings stay fp32. It is applied to the eager model after fine-tuning
and before the FAQ index, the calibration and the intent head are built, so everything the bot stores was
fitted on the embeddings it will serve, and the int8 model is what gets traced to TorchScript. About twice
the encoder's speed, but it failed the 0.5-point accuracy bar, so bots default to "none"
(benchmarks/RESULTS.md, "int8 serving encoder").
"""

from __future__ import annotations

from typing import Literal, get_args

Quantize = Literal["none", "int8", "int8-ffn", "int8-channel"]
MODES: tuple[str, ...] = get_args(Quantize)


def ffn_linear_names(model) -> set[str]:
    """Names of the feed-forward Linear layers of a BERT-family model (`...intermediate.dense` and the block's
    `...output.dense`, not the attention output projection)."""
    import torch

    names = set()
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if name.endswith("intermediate.dense") or (name.endswith("output.dense") and ".attention." not in name):
            names.add(name)
    return names


def quantize_model(model, mode: str):
    """A quantised copy of an eager torch module (the original is untouched); `mode` "none" returns it as is.

    >>> q = quantize_model(encoder.model, "int8")
    """
    import copy
    import warnings

    import torch

    if mode not in MODES:
        raise ValueError(f"unknown quantisation {mode!r}: use one of {', '.join(MODES)}")
    if mode == "none":
        return model
    if mode == "int8":
        spec: set | dict = {torch.nn.Linear}  # one weight scale per layer
    elif mode == "int8-channel":  # one weight scale per output row: finer, same kernels
        spec = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    else:
        spec = ffn_linear_names(model)
    with warnings.catch_warnings():  # torch 2.13 warns that creating quantised tensors is deprecated
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), spec, dtype=torch.qint8)


def quantized_encoder(encoder, mode: str):
    """A twin of a loaded `Encoder` whose model is quantised (`Encoder.clone` shares the tokenizer); the input
    itself when `mode` is "none" or the encoder is quantised that way already."""
    current = getattr(encoder, "quantize", "none")
    if mode == current:
        return encoder
    if current != "none":
        raise ValueError(f"encoder is quantised as {current!r} already; cannot make it {mode!r}")
    twin = encoder.clone()
    twin._model = quantize_model(encoder.model, mode)
    twin.quantize = mode
    return twin
