"""Public intent sets imported as a new user would: copies, blank lines, odd labels, no out-of-scope
examples and out-of-scope examples that overlap an intent all get a clear word, never a crash or a
meaningless figure."""

from __future__ import annotations

import logging

import pytest

from smallbot.errors import ProjectError
from smallbot.intents.evaluate import load_test_split, plot_threshold_curve
from smallbot.intents.train import train_linear
from smallbot.project.loader import load_project
from tests.conftest import TINY_BOT, write_project

GREET = ["hi", "hello", "hey there", "good morning", "hiya", "hello bot", "howdy", "greetings"]
BYE = ["bye", "goodbye", "see you later", "cya", "talk to you later", "bye bye", "have a nice day", "farewell"]
DEFINE = ["what does invoice mean", "what does VAT mean", "define credit note", "what is a receipt",
          "meaning of overdue", "what does net 30 mean", "definition of a quote", "what is a pro forma"]


def test_an_example_listed_twice_in_one_intent_is_a_warning_and_the_copy_is_dropped(tmp_path):
    root = write_project(tmp_path / "bot", {**TINY_BOT, "intents/basics.yml": TINY_BOT["intents/basics.yml"].replace(
        "examples: [hi, hello,", "examples: [hi, Hi, hello,")})
    project = load_project(root)
    greet = project.intents.by_name("greet")
    assert [e.casefold() for e in greet.examples].count("hi") == 1
    assert any("listed twice" in str(w) and "greet" in str(w) for w in project.warnings)


def test_an_invalid_intent_name_gets_a_suggested_valid_one(tmp_path):
    bad = TINY_BOT["intents/basics.yml"].replace("name: goodbye", "name: reverted_card_payment?")
    with pytest.raises(ProjectError) as info:
        load_project(write_project(tmp_path / "bot", {**TINY_BOT, "intents/basics.yml": bad}))
    assert "reverted_card_payment?" in str(info.value) and "'reverted_card_payment'" in str(info.value)


def test_blank_lines_in_a_test_split_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "split.yml"
    path.write_text("examples:\n  - {text: hello there, intent: greet}\n  - {text: '', intent: greet}\n  -\n"
                    "out_of_scope:\n  - ''\n  - what's the weather\n")
    split = load_test_split([path], ["greet"])
    assert split.texts == ("hello there",) and split.out_of_scope == ("what's the weather",)
    assert len(split.warnings) == 3 and all("blank" in w and str(path) in w for w in split.warnings)


def _encode(encoder):
    return lambda texts: encoder.encode(list(texts))


def test_without_out_of_scope_examples_the_held_out_recall_is_none(encoder):
    model = train_linear(GREET + BYE, ["greet"] * 8 + ["goodbye"] * 8, _encode(encoder))
    assert model.metrics["held_out_oos_recall"] is None


def test_training_names_the_intents_that_lose_most_to_the_out_of_scope_examples(encoder, caplog):
    texts = GREET + BYE + DEFINE
    labels = ["greet"] * 8 + ["goodbye"] * 8 + ["definition"] * 8
    overlapping = ["what does rain mean", "what does love mean", "define photosynthesis", "what is a black hole",
                   "meaning of life", "what does lol mean", "definition of gravity", "what is a volcano",
                   "what's the weather", "tell me a joke", "play some music", "who won the game"]
    with caplog.at_level(logging.WARNING):
        model = train_linear(texts, labels, _encode(encoder), out_of_scope=overlapping)
    lost = model.metrics["lost_to_out_of_scope"]
    assert next(iter(lost)) == "definition"
    assert any("definition" in r.getMessage() and "out_of_scope" in r.getMessage() for r in caplog.records)


def test_threshold_curve_without_out_of_scope_test_messages_says_so(tmp_path):
    from smallbot.intents.evaluate import IntentEvaluation, threshold_curve_note
    from smallbot.intents.metrics import intent_metrics

    truth, predicted = ("greet", "goodbye", "greet"), ("greet", "goodbye", "goodbye")
    evaluation = IntentEvaluation(intent_metrics(truth, predicted), truth, predicted, predicted, (0.9, 0.8, 0.2),
                                  ("goodbye", "greet"), "test split")
    assert threshold_curve_note(evaluation) == "no out-of-scope messages in the test split"
    assert plot_threshold_curve(evaluation, tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")


def test_a_confusion_matrix_with_numbered_axes_comes_with_their_names():
    from smallbot.commands.eval import confusion_axes_table

    assert confusion_axes_table([f"intent_{i}" for i in range(10)]) is None  # named on the axes themselves
    table = confusion_axes_table([f"intent_{i}" for i in range(45)])
    assert table.rows[0] == ("0", "intent_0") and table.rows[-1] == ("45", "(out of scope)")
