"""The traced TorchScript encoder (served by torch-int8 builds) gives the eager encoder's embeddings."""

from __future__ import annotations


import numpy as np

from smallbot.encoding.torchscript import ExportedEncoder, export_encoder

TEXTS = ["hi", "how do I reset my password, I forgot it yesterday", "refund?", "word " * 300, "Ünïcödé tèxt ✓"]


def test_export_matches_the_eager_encoder_across_lengths_and_batches(encoder, tmp_path):
    assert export_encoder(encoder, tmp_path / "exp", TEXTS)
    exported = ExportedEncoder(tmp_path / "exp").load()
    for batch_size in (1, 2, 64):
        assert np.abs(exported.encode(TEXTS, batch_size=batch_size) - encoder.encode(TEXTS)).max() < 1e-4
