"""The intent classifier trained on the real encoder: predictions, out of scope, artifacts, bad data."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from smallbot.errors import ArtifactError, TrainingError
from smallbot.intents.classifier import LinearIntentClassifier
from smallbot.intents.train import Validation, train_linear

INTENTS = {
    "greet": ["hi", "hello", "hey there", "good morning", "hiya", "hello bot", "howdy", "greetings",
              "good evening", "hey, how are you"],
    "goodbye": ["bye", "goodbye", "see you later", "cya", "talk to you later", "bye bye", "have a nice day",
                "farewell", "I'm off now", "catch you later"],
    "talk_to_human": ["talk to a human", "real person please", "connect me to an agent",
                      "I want to speak to someone", "live agent", "get me a human",
                      "customer service representative", "operator please", "can I chat with a person",
                      "transfer me to support staff"],
    "order_status": ["where is my order", "track my package", "has my order shipped", "order status",
                     "when will my parcel arrive", "my delivery is late", "tracking number for my order",
                     "is my shipment on the way", "did you send my order yet", "how long until my order comes"],
    "reset_password": ["I forgot my password", "reset my password", "can't log in", "password reset",
                       "change my password", "locked out of my account", "my password doesn't work",
                       "how do I get a new password", "login problems", "recover my account password"],
}

HELD_OUT = {
    "hello there, friend": "greet",
    "morning!": "greet",
    "ok see ya": "goodbye",
    "I have to go now, goodbye": "goodbye",
    "let me speak with a real human being": "talk_to_human",
    "I need an actual agent": "talk_to_human",
    "where's my package?": "order_status",
    "when does my order arrive": "order_status",
    "I can't remember my password": "reset_password",
    "help me reset the login password": "reset_password",
}

OFF_TOPIC = ["asdkjh qwe zxcv", "what is the boiling point of mercury", "recommend a good lasagna recipe",
             "who painted the mona lisa", "how tall is mount everest"]


def _data():
    texts = [t for examples in INTENTS.values() for t in examples]
    labels = [name for name, examples in INTENTS.items() for _ in examples]
    return texts, labels


@pytest.fixture(scope="module")
def encode(encoder):
    return lambda texts: encoder.encode(list(texts))


@pytest.fixture(scope="module")
def classifier(encode) -> LinearIntentClassifier:
    texts, labels = _data()
    return train_linear(texts, labels, encode, seed=0)


def test_tiny_model_predicts_held_out_paraphrases(classifier, encode):
    predictions = classifier.predict(encode(list(HELD_OUT)))
    got = {text: p.top for text, p in zip(HELD_OUT, predictions)}
    assert got == HELD_OUT
    accepted = sum(not p.out_of_scope for p in predictions)
    assert accepted >= 8, [(t, p.oos_score) for t, p in zip(HELD_OUT, predictions)]


def test_prediction_ranking_is_a_calibrated_distribution(classifier, encode):
    prediction = classifier.predict(encode(["where is my order"]))[0]
    probabilities = [p for _, p in prediction.ranking]
    assert prediction.ranking[0][0] == "order_status"
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < prediction.confidence <= 1.0
    assert prediction.confidence == probabilities[0]
    full = classifier.probabilities(encode(["where is my order"]))
    assert full.sum() == pytest.approx(1.0, abs=1e-5)


def test_gibberish_and_off_topic_are_out_of_scope_without_oos_examples(classifier, encode):
    predictions = classifier.predict(encode(OFF_TOPIC))
    flagged = {text: p.out_of_scope for text, p in zip(OFF_TOPIC, predictions)}
    assert flagged["asdkjh qwe zxcv"]
    assert sum(flagged.values()) >= 4, flagged
    assert all(p.intent is None for p in predictions if p.out_of_scope)
    # the out-of-scope score orders off-topic text above in-scope paraphrases
    in_scope = classifier.predict(encode(list(HELD_OUT)))
    assert np.median([p.oos_score for p in predictions]) > np.median([p.oos_score for p in in_scope])


def test_out_of_scope_examples_are_used_for_the_threshold_when_given(encode):
    texts, labels = _data()
    oos = ["what's the weather tomorrow", "tell me a joke", "who won the football game yesterday",
           "what is the capital of France", "play some music", "how many calories in a banana"]
    classifier = train_linear(texts, labels, encode, seed=0, out_of_scope=oos)
    assert classifier.metrics["held_out_oos_examples"] == len(oos)
    assert classifier.predict(encode(["asdkjh qwe zxcv"]))[0].out_of_scope
    predictions = classifier.predict(encode(OFF_TOPIC))
    assert sum(p.out_of_scope for p in predictions) >= 4
    assert sum(p.top == HELD_OUT[t] and not p.out_of_scope
               for t, p in zip(HELD_OUT, classifier.predict(encode(list(HELD_OUT))))) >= 8


def test_explicit_validation_set_calibrates_instead_of_out_of_fold(encode):
    texts, labels = _data()
    validation = Validation(tuple(HELD_OUT), tuple(HELD_OUT.values()), ("tell me a joke", "play some music"))
    classifier = train_linear(texts, labels, encode, seed=0, validation=validation)
    assert classifier.metrics["held_out"] == "validation"
    assert classifier.metrics["held_out_accuracy"] == 1.0
    with pytest.raises(TrainingError, match="not intents"):
        train_linear(texts, labels, encode, validation=Validation(("hi",), ("unknown_intent",)))


def test_save_load_round_trip_gives_identical_scores(classifier, encode, tmp_path):
    classifier.save(tmp_path / "classifier")
    loaded = LinearIntentClassifier.load(tmp_path / "classifier")
    x = encode(list(HELD_OUT) + OFF_TOPIC)
    assert loaded.predict(x) == classifier.predict(x)
    assert np.array_equal(loaded.features(x)[1], classifier.features(x)[1])
    assert loaded.policy == classifier.policy


def test_training_is_deterministic_with_a_seed(classifier, encode):
    texts, labels = _data()
    again = train_linear(texts, labels, encode, seed=0)
    assert again.policy == classifier.policy
    assert np.array_equal(again.weight, classifier.weight)


def test_loading_a_missing_or_old_artifact_raises(classifier, tmp_path):
    with pytest.raises(ArtifactError, match="smallbot train"):
        LinearIntentClassifier.load(tmp_path / "nothing")
    classifier.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    config["format_version"] = 1
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="--force"):
        LinearIntentClassifier.load(tmp_path / "old")


def test_one_intent_is_a_clear_error(encode):
    with pytest.raises(TrainingError, match="at least two intents"):
        train_linear(["hi", "hello", "hey"], ["greet"] * 3, encode)


def test_empty_example_is_a_clear_error(encode):
    with pytest.raises(TrainingError, match="empty example text in intent 'greet'"):
        train_linear(["hi", "  ", "bye", "ciao"], ["greet", "greet", "goodbye", "goodbye"], encode)


def test_duplicate_example_in_two_intents_is_a_clear_error(encode):
    texts = ["hi", "hello", "bye", "Hello "]
    with pytest.raises(TrainingError, match="'hello'.*both 'greet' and 'goodbye'|both 'greet' and 'goodbye'"):
        train_linear(texts, ["greet", "greet", "goodbye", "goodbye"], encode)


def test_single_example_intent_is_a_clear_error(encode):
    with pytest.raises(TrainingError, match="single example"):
        train_linear(["hi", "hello", "bye"], ["greet", "greet", "goodbye"], encode)


def test_few_examples_train_with_a_warning(encode, caplog):
    with caplog.at_level(logging.WARNING, logger="smallbot.intents.train"):
        train_linear(["hi", "hello", "hey", "bye", "goodbye", "see you"], ["greet"] * 3 + ["goodbye"] * 3, encode)
    assert "intent 'greet' has only 3 examples" in caplog.text
