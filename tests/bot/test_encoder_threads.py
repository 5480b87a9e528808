"""`models.threads` in bot.yml: every encoder pass runs on that many threads (onnxruntime's intra-op pool when
served from ONNX; torch threads in whichever thread runs an eager pass, torch's count being per calling thread),
with the same embeddings as the default."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from smallbot.runtime.bot import Bot
from smallbot.encoding.encoder import Encoder
from smallbot.encoding.onnx_encoder import OnnxEncoder
from smallbot.errors import ConfigError
from smallbot.project.loader import load_project

TEXTS = ["how do I reset my password?", "when are you open on saturdays", "I want my money back"]


def test_models_threads_sets_onnxruntime_intra_op_threads(tiny_copy, encoder):
    root = tiny_copy
    with open(root / "bot.yml", "a") as f:
        f.write("models:\n  threads: 1\n")
    bot = Bot.from_build(load_project(root), with_store=False)
    try:
        assert isinstance(bot.encoder, OnnxEncoder) and bot.encoder.threads == 1
        assert bot.encoder._runtime.get_session_options().intra_op_num_threads == 1
        assert np.allclose(bot.encoder.encode(TEXTS), encoder.encode(TEXTS), atol=1e-5)
    finally:
        bot.close()


def test_models_threads_from_bot_yml_applies_to_every_eager_encoder_pass(tiny_copy, encoder):
    import torch

    root = tiny_copy
    with open(root / "bot.yml", "a") as f:
        f.write("models:\n  threads: 1\n")
    # an eager encoder already loaded (as just after training in this process) serves as it is
    bot = Bot.from_build(load_project(root), encoder=encoder.clone(), with_store=False)
    try:
        assert bot.encoder.threads == 1
        seen: list[int] = []

        def worker() -> None:  # a fresh thread, like the micro-batcher's encoder thread
            torch.set_num_threads(2)
            vectors.append(bot.encoder.encode(TEXTS))
            seen.append(torch.get_num_threads())

        vectors: list[np.ndarray] = []
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert seen == [1]
        assert np.allclose(vectors[0], encoder.encode(TEXTS), atol=1e-5)
    finally:
        bot.close()


def test_negative_thread_count_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="models.threads"):
        Encoder("all-MiniLM-L6-v2").set_threads(-1)
