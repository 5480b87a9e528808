"""Cross-validated calibration of a fine-tuned bot: folds that hold every phrasing out once, never all of an
entry, and searches that never see the held-out text or the encoder that will serve."""

from __future__ import annotations

import numpy as np
import pytest

from smallbot.knowledge.crossval import cross_validated_held_out, fold_split
from smallbot.knowledge.entries import FaqEntry
from smallbot.knowledge.finetune import FinetuneSettings
from smallbot.knowledge.prior import generic_offtopic

from tests.knowledge.knowledge_fixtures import ENTRIES

NEGATIVES = ["hello there", "tell me a joke", "what's the weather like", "thanks, bye", "play some music"]


def test_folds_hold_every_phrasing_out_once_and_keep_one_of_every_entry():
    entries = [*ENTRIES, FaqEntry("single", "Do you ship abroad?", (), "Yes.")]
    folds = fold_split(entries, NEGATIVES, folds=2, seed=5)
    held = [pair for fold in folds for pair in fold.held_out]
    expected = [(t, e.id) for e in ENTRIES for t in e.phrasings]
    assert sorted(held) == sorted(expected)  # each once; the single-phrasing entry never
    for fold in folds:
        held_texts = {t for t, _ in fold.held_out}
        assert [e.id for e in fold.entries] == [e.id for e in entries]
        for entry in fold.entries:
            assert entry.phrasings and not set(entry.phrasings) & held_texts
        assert set(fold.negatives) | set(fold.held_out_negatives) == set(NEGATIVES)
        assert not set(fold.negatives) & set(fold.held_out_negatives)
    assert sorted(t for f in folds for t in f.held_out_negatives) == sorted(NEGATIVES)
    # about half of every entry's phrasings per fold
    for entry in ENTRIES:
        assert [sum(e == entry.id for _, e in fold.held_out) for fold in folds] == [2, 2]
    assert fold_split(entries, NEGATIVES, folds=2, seed=5) == folds
    assert fold_split(entries, NEGATIVES, folds=2, seed=6) != folds


def test_cross_validated_held_out_searches_unseen_text_and_leaves_the_encoder_alone(encoder):
    probe = encoder.encode(["I want my money back"])
    measured, typos = cross_validated_held_out(ENTRIES, NEGATIVES, encoder, FinetuneSettings(steps=2, batch_size=4),
                                               folds=2, seed=0)
    assert np.array_equal(encoder.encode(["I want my money back"]), probe)
    positives = [item for item in measured if item.truth is not None]
    assert len(positives) == sum(len(e.phrasings) for e in ENTRIES)
    assert sorted(item.text for item in measured if item.truth is None) == sorted(NEGATIVES)
    for item in positives:  # the held-out text itself was not indexed in its fold
        assert item.hits and all(hit.matched_text != item.text for hit in item.hits)
    right_first = np.mean([item.hits[0].entry_id == item.truth for item in positives])
    assert right_first >= 0.75, right_first
    assert typos and all(0 <= item.source < len(measured) and measured[item.source].truth == item.truth
                         for item in typos)


def test_the_calibration_setting_never_rebuilds_an_untuned_bot(tiny_copy):
    from smallbot.build.pipeline import input_hashes
    from smallbot.project.loader import load_project

    config = tiny_copy / "bot.yml"
    original = config.read_text()
    default = input_hashes(load_project(tiny_copy))["knowledge"]
    for mode in ("held_out", "cross_validation"):
        config.write_text(original + f"knowledge:\n  calibration: {mode}\n")
        assert input_hashes(load_project(tiny_copy))["knowledge"] == default


@pytest.mark.slow
def test_smallbot_train_cross_validates_the_tuning_by_default(tiny_copy, encoder):
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import input_hashes, negative_examples, train_project
    from smallbot.project.loader import load_project
    from smallbot.types import Message, ReplyKind

    config = tiny_copy / "bot.yml"
    original = config.read_text()
    config.write_text(original + "knowledge:\n  finetune_steps: 2\n  finetune_batch: 4\n  calibration: held_out\n")
    held_out = input_hashes(load_project(tiny_copy))["knowledge"]
    config.write_text(original + "knowledge:\n  finetune_steps: 2\n  finetune_batch: 4\n")  # the default
    project = load_project(tiny_copy)
    assert project.config.knowledge.calibration == "cross_validation"
    assert input_hashes(project)["knowledge"] != held_out
    result = train_project(project, encoder=encoder)
    metrics = result.metrics["knowledge"]
    # every phrasing of an entry with two or more was searched as unseen text once, not one alternate per entry
    assert metrics["held_out_phrasings"] == sum(len(set(e.phrasings)) for e in project.knowledge
                                                if len(set(e.phrasings)) >= 2)
    # the bot's own negatives, each searched by the encoder copy that was not tuned on it, and the generic ones
    own = set(negative_examples(project))
    assert metrics["negatives"] == len(own) + len(set(generic_offtopic()) - own)
    bot = Bot.load(tiny_copy)
    try:
        reply = bot.handle(Message("c1", "I want my money back"))
        assert reply.kind in (ReplyKind.ANSWER, ReplyKind.SUGGEST)
        assert (reply.sources or reply.suggestions)[0].entry_id == "refund"
    finally:
        bot.close()
