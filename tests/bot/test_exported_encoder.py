"""The traced serving encoder gives the eager encoder's embeddings, and a trained bot serves with it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from smallbot.runtime.bot import Bot
from smallbot.encoding.torchscript import EXPORT_DIR, ExportedEncoder, export_encoder
from smallbot.project.loader import load_project
from smallbot.types import Message, ReplyKind

TEXTS = ["hi", "how do I reset my password, I forgot it yesterday", "refund?", "word " * 300, "Ünïcödé tèxt ✓"]


def test_export_matches_the_eager_encoder_across_lengths_and_batches(encoder, tmp_path):
    assert export_encoder(encoder, tmp_path / "exp", TEXTS)
    exported = ExportedEncoder(tmp_path / "exp").load()
    for batch_size in (1, 2, 64):
        assert np.abs(exported.encode(TEXTS, batch_size=batch_size) - encoder.encode(TEXTS)).max() < 1e-4


def test_a_trained_bot_answers_with_the_exported_encoder(tiny_copy):
    root = tiny_copy
    assert ExportedEncoder.available(root / ".smallbot" / EXPORT_DIR)
    bot = Bot.load(root, with_store=False)
    try:
        assert isinstance(bot.encoder, ExportedEncoder)
        reply = bot.handle(Message("c", "i can't remember my password"))
        assert reply.kind is ReplyKind.ANSWER and reply.sources[0].entry_id == "reset-password"
    finally:
        bot.close()


def test_serving_a_built_bot_never_imports_transformers(tiny_copy):
    root = tiny_copy
    code = ("import sys; from smallbot.runtime.bot import Bot; from smallbot.types import Message; "
            f"b = Bot.load({str(root)!r}, with_store=False); r = b.handle(Message('c', 'i forgot my password')); "
            "print(r.kind.value, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["answer", "False"]
