"""End-to-end (cross-entropy) tuning of THE encoder on intent examples: seeded, really trains (intents pull
apart), leaves every parameter trainable again, and `smallbot train` with `intents.finetune_loss:
cross_entropy` serves the one tuned encoder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from smallbot.intents.endtoend import EndToEndSettings, finetune_classifier

from .test_intent_finetune import GROUPS, OUT_OF_SCOPE, PROBES, _margin

TEXTS = [t for g in GROUPS.values() for t in g]
LABELS = [name for name, g in GROUPS.items() for _ in g]
SETTINGS = EndToEndSettings(steps=8, batch_size=8, learning_rate=1e-4, seed=3)


def _tuned(encoder, settings=SETTINGS):
    twin = encoder.clone()
    return twin, finetune_classifier(twin, TEXTS, LABELS, OUT_OF_SCOPE, settings)


def test_end_to_end_tuning_is_seeded_and_pulls_intents_apart(encoder):
    first, report = _tuned(encoder)
    second, _ = _tuned(encoder)
    np.testing.assert_array_equal(first.encode(PROBES), second.encode(PROBES))
    assert report.steps == 8 and np.isfinite(report.first_loss) and report.last_loss < report.first_loss
    assert _margin(first) > _margin(encoder) + 0.01, "same-intent examples must end closer than other intents'"
    assert all(p.requires_grad for p in first.model.parameters())
    assert not first.model.training, "the tuned encoder is handed back in eval mode"


def test_top_layers_only_leaves_the_rest_untouched(encoder):
    tuned, _ = _tuned(encoder, EndToEndSettings(steps=3, batch_size=8, train_layers=1, seed=3))
    before = dict(encoder.model.named_parameters())
    changed = {name for name, p in tuned.model.named_parameters() if not np.array_equal(
        p.detach().numpy(), before[name].detach().numpy())}
    assert changed and all(".layer.5." in name for name in changed)


@pytest.mark.slow
def test_cross_entropy_finetune_loss_tunes_the_one_served_encoder(trained_tiny, tmp_path, encoder):
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import train_project
    from smallbot.project.loader import load_project
    from smallbot.types import Message

    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    config = root / "bot.yml"
    config.write_text(config.read_text() + "intents:\n  finetune_steps: 3\n  finetune_batch: 8\n"
                      "  finetune_loss: cross_entropy\n")
    result = train_project(load_project(root), encoder=encoder)
    assert result.trained == ("knowledge", "intents")
    metrics = result.metrics["knowledge"]
    assert metrics["intents_finetune_steps"] == 3 and metrics["intents_finetune_loss_kind"] == "cross_entropy"
    tuned_dir = root / ".smallbot" / "knowledge" / "encoder"
    bot = Bot.load(root)
    try:
        assert bot.encoder.source == tuned_dir  # one encoder pass serves intents and retrieval
        assert bot.handle(Message("c1", "hello")).text.startswith("Hello")
    finally:
        bot.close()
    manifest = json.loads((root / ".smallbot" / "manifest.json").read_text())
    assert manifest["components"]["knowledge"]["metrics"]["intents_finetune_loss"][0] > 0


def test_finetune_loss_must_be_a_known_kind(tmp_path):
    from smallbot.project.config import load_config

    path = tmp_path / "bot.yml"
    path.write_text("name: x\nintents:\n  finetune_loss: hinge\n")
    problems = []
    load_config(path, problems)
    assert any("finetune_loss" in p.message and "cross_entropy" in p.message for p in problems)
