"""Tuning THE encoder on intent examples: seeded, really trains (intents pull apart), the tuned encoder and
head round-trip through disk with identical scores, and `smallbot train` serves one tuned encoder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from smallbot.encoding.contrastive import FinetuneSettings, finetune_encoder
from smallbot.intents.classifier import LinearIntentClassifier
from smallbot.intents.train import train_linear

GROUPS = {
    "greet": ["hi", "hello", "hey there", "good morning", "hiya", "hello bot", "howdy", "greetings"],
    "goodbye": ["bye", "goodbye", "see you later", "cya", "talk to you later", "bye bye", "have a nice day",
                "farewell"],
    "human": ["talk to a human", "real person please", "connect me to an agent", "I want to speak to someone",
              "live agent", "get me a human", "customer service representative", "operator please"],
    "order": ["where is my order", "track my package", "has my parcel shipped", "order status please",
              "when will my delivery arrive", "my order has not come", "shipping update", "where's my stuff"],
}
OUT_OF_SCOPE = ["what's the weather tomorrow", "tell me a joke", "how tall is mount everest"]
PROBES = ["hey", "see ya", "human please", "where is my parcel", "tell me a joke"]
SETTINGS = FinetuneSettings(steps=12, batch_size=4, learning_rate=1e-4, seed=3)


def _tuned(encoder, settings=SETTINGS):
    twin = encoder.clone()
    report = finetune_encoder(twin, list(GROUPS.values()), OUT_OF_SCOPE, None, settings)
    return twin, report


def _margin(encoder) -> float:
    """Mean same-intent cosine minus mean other-intent cosine over the training examples."""
    texts = [t for g in GROUPS.values() for t in g]
    owner = np.array([i for i, g in enumerate(GROUPS.values()) for _ in g])
    x = encoder.encode(texts)
    sims = x @ x.T
    same = owner[:, None] == owner[None, :]
    np.fill_diagonal(same, False)
    other = owner[:, None] != owner[None, :]
    return float(sims[same].mean() - sims[other].mean())


def test_intent_tuning_is_seeded_and_pulls_intents_apart(encoder):
    first, report = _tuned(encoder)
    second, _ = _tuned(encoder)
    np.testing.assert_array_equal(first.encode(PROBES), second.encode(PROBES))
    assert report.steps == 12 and np.isfinite(report.first_loss) and np.isfinite(report.last_loss)
    assert report.last_loss < report.first_loss, "the contrastive loss must go down"
    assert _margin(first) > _margin(encoder) + 0.01, "same-intent examples must end closer than other intents'"


def test_tuned_encoder_and_head_round_trip_with_identical_scores(encoder, tmp_path):
    from smallbot.encoding.encoder import Encoder

    tuned, _ = _tuned(encoder)
    texts = [t for g in GROUPS.values() for t in g]
    labels = [name for name, g in GROUPS.items() for _ in g]
    clf = train_linear(texts, labels, lambda batch: tuned.encode(list(batch)), seed=3, out_of_scope=OUT_OF_SCOPE)
    tuned.save(tmp_path / "encoder")
    clf.save(tmp_path / "classifier")
    reloaded = Encoder(tmp_path / "encoder").load()
    again = LinearIntentClassifier.load(tmp_path / "classifier")
    vectors = tuned.encode(PROBES)
    assert np.abs(reloaded.encode(PROBES) - vectors).max() < 1e-5
    before, after = clf.predict(vectors), again.predict(reloaded.encode(PROBES))
    assert [p.top for p in before] == [p.top for p in after]
    np.testing.assert_allclose([p.oos_score for p in before], [p.oos_score for p in after], atol=1e-4)
    assert [p.top for p in before][:4] == ["greet", "goodbye", "human", "order"]


@pytest.mark.slow
def test_intents_finetune_steps_tunes_the_one_served_encoder(trained_tiny, tmp_path, encoder):
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import input_hashes, train_project
    from smallbot.project.loader import load_project
    from smallbot.types import Message

    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    before = input_hashes(load_project(root))
    config = root / "bot.yml"
    config.write_text(config.read_text() + "intents:\n  finetune_steps: 3\n  finetune_batch: 3\n")
    project = load_project(root)
    after = input_hashes(project)
    assert after["knowledge"] != before["knowledge"] and after["intents"] != before["intents"]
    result = train_project(project, encoder=encoder)
    assert result.trained == ("knowledge", "intents")
    assert result.metrics["knowledge"]["intents_finetune_steps"] == 3
    tuned_dir = root / ".smallbot" / "knowledge" / "encoder"
    assert (tuned_dir / "model.safetensors").exists()
    bot = Bot.load(root)
    try:
        assert bot.encoder.source == tuned_dir  # one encoder pass serves intents and retrieval
        assert bot.handle(Message("c1", "hello")).text.startswith("Hello")
    finally:
        bot.close()
    manifest = json.loads((root / ".smallbot" / "manifest.json").read_text())
    assert manifest["components"]["knowledge"]["metrics"]["intents_finetune_loss"][0] > 0
