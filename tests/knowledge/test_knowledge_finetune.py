"""Contrastive fine-tuning of the encoder: deterministic with the seed, really changes the weights,
leaves the original encoder alone, and becomes the bot's one encoder when bot.yml asks for it."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from smallbot.knowledge.finetune import FinetuneSettings, add_typo, finetune_encoder, hold_out_split

from tests.knowledge.knowledge_fixtures import ENTRIES

PROBES = ["forgot my pasword", "when do you open", "money back", "tell me a joke"]
SETTINGS = FinetuneSettings(steps=2, batch_size=4, seed=7)


def _tuned(encoder, settings=SETTINGS):
    groups = [list(e.phrasings) for e in ENTRIES]
    twin = encoder.clone()
    report = finetune_encoder(twin, groups, ["tell me a joke", "what's the weather"], [e.answer for e in ENTRIES],
                              settings)
    return twin, report


def test_same_seed_gives_the_same_encoder_and_the_original_is_untouched(encoder):
    before = encoder.encode(PROBES)
    first, report = _tuned(encoder)
    second, _ = _tuned(encoder)
    assert report.steps == 2 and np.isfinite(report.first_loss)
    np.testing.assert_array_equal(first.encode(PROBES), second.encode(PROBES))
    assert not np.allclose(first.encode(PROBES), before, atol=1e-6), "training must change the embeddings"
    np.testing.assert_array_equal(encoder.encode(PROBES), before)


def test_another_seed_gives_another_encoder(encoder):
    first, _ = _tuned(encoder)
    other, _ = _tuned(encoder, FinetuneSettings(steps=2, batch_size=4, seed=8))
    assert not np.array_equal(first.encode(PROBES), other.encode(PROBES))


def test_typo_augmentation_changes_one_word_and_is_seeded():
    text = "how do I reset my password"
    assert add_typo(text, random.Random(1)) == add_typo(text, random.Random(1))
    changed = [a != b for a, b in zip(text.split(), add_typo(text, random.Random(1)).split())]
    assert sum(changed) == 1
    assert add_typo("a b c", random.Random(0)) == "a b c"


def test_hold_out_keeps_the_question_and_holds_one_alternate_per_entry():
    groups, held = hold_out_split(ENTRIES, seed=0)
    assert len(held) == len(ENTRIES)
    for entry, group, (entry_id, text) in zip(ENTRIES, groups, held):
        assert entry_id == entry.id and text in entry.alternates and text not in group
        assert group[0] == entry.question


@pytest.mark.slow
def test_fine_tuned_encoder_becomes_the_bots_encoder(tiny_copy, encoder):
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import input_hashes, train_project
    from smallbot.project.loader import load_project
    from smallbot.types import Message, ReplyKind

    root = tiny_copy
    before = input_hashes(load_project(root))
    config = root / "bot.yml"
    # one alternate per entry held out of the one tuning run (the default cross-validation: test_knowledge_crossval)
    config.write_text(config.read_text() + "knowledge:\n  finetune_steps: 2\n  finetune_batch: 4\n"
                      "  calibration: held_out\n")
    project = load_project(root)
    after = input_hashes(project)
    assert after["knowledge"] != before["knowledge"] and after["intents"] != before["intents"]
    result = train_project(project, encoder=encoder)
    assert result.trained == ("knowledge", "intents")
    assert result.metrics["knowledge"]["finetune_steps"] == 2
    tuned_dir = root / ".smallbot" / "knowledge" / "encoder"
    assert (tuned_dir / "model.safetensors").exists()
    bot = Bot.load(root)
    try:
        from smallbot.encoding.encoder import Encoder
        from smallbot.encoding.torchscript import ExportedEncoder

        assert isinstance(bot.encoder, ExportedEncoder) and bot.encoder.source == tuned_dir  # served traced
        texts = ["I want my money back", "hello"]
        assert np.abs(bot.encoder.encode(texts) - Encoder(tuned_dir).load().encode(texts)).max() < 1e-4
        reply = bot.handle(Message("c1", "I want my money back"))
        assert reply.kind is ReplyKind.ANSWER and reply.sources[0].entry_id == "refund"
    finally:
        bot.close()
    manifest = json.loads((root / ".smallbot" / "manifest.json").read_text())
    assert manifest["components"]["knowledge"]["metrics"]["held_out_phrasings"] == 4
