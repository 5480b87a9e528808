"""The calibrated FAQ confidence: the shipped prior refitted on held-out phrasings, stored as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from smallbot.errors import ArtifactError
from smallbot.knowledge.base import Bands, KnowledgeBase
from smallbot.knowledge.calibrate import (HeldOut, calibrate, calibrate_items, calibration_queries,
                                         held_out_candidates, wilson_upper)
from smallbot.knowledge.prior import Prior, generic_offtopic, load_prior
from smallbot.knowledge.confidence import FEATURES, ConfidenceModel, hit_features
from smallbot.types import Hit

from tests.knowledge.knowledge_fixtures import ENTRIES

NEGATIVES = ["hello there", "tell me a joke", "what's the weather like", "who won the football yesterday",
             "thanks, bye", "how old are you", "play some music", "what is the capital of france",
             "I like turtles", "good morning", "can you sing", "what's 2 plus 2", "recommend a movie",
             "are you a robot", "how tall is mount everest"]
TARGET = 0.02


@pytest.fixture(scope="module")
def calibrated(encoder):
    """The fixture entries with their confidence and bands calibrated as `smallbot train` does."""
    kb = KnowledgeBase.build(list(ENTRIES), encoder.encode)
    result = calibrate(kb, calibration_queries(kb, encoder.encode), NEGATIVES, encoder.encode(NEGATIVES), TARGET,
                       encode=encoder.encode)
    kb.bands, kb.confidence = result.bands, result.confidence
    return kb, result


def test_calibration_queries_leave_out_their_own_row_and_half_the_siblings(encoder):
    kb = KnowledgeBase.build(list(ENTRIES), encoder.encode)
    queries = calibration_queries(kb, encoder.encode, seed=3)
    by_entry = {}
    for row, (entry_id, _) in kb.rows.items():
        by_entry.setdefault(entry_id, set()).add(row)
    assert len(queries) == sum(len(rows) for rows in by_entry.values() if len(rows) >= 2)
    for text, entry_id, vector, left_out in queries:
        siblings = by_entry[entry_id]
        own = {row for row in siblings if kb.rows[row][1] == text}
        assert own <= left_out <= siblings
        assert len(left_out) == 1 + (len(siblings) - 1) // 2  # at least one sibling always stays indexed
        assert np.allclose(vector, encoder.encode([text])[0], atol=1e-5)
    # searching a held-out phrasing never finds one of its left-out rows
    items = held_out_candidates(kb, queries, [], np.zeros((0, 1), np.float32))
    for (text, entry_id, _, left_out), item in zip(queries, items):
        assert all(h.matched_text not in {kb.rows[r][1] for r in left_out} or h.entry_id != entry_id for h in item.hits)
    again = calibration_queries(kb, encoder.encode, seed=3)
    assert [q[3] for q in again] == [q[3] for q in queries]
    # phrasings given (held out of fine-tuning): only those are queries
    entry = next(e for e in ENTRIES if len(e.phrasings) >= 3)
    only = calibration_queries(kb, encoder.encode, [(entry.id, entry.phrasings[-1])])
    assert [(q[0], q[1]) for q in only] == [(entry.phrasings[-1], entry.id)]


def test_wilson_upper_bound_matches_the_closed_form():
    z2 = 1.2815515655446004 ** 2
    assert wilson_upper(0, 100, 0.9) == pytest.approx(z2 / (100 + z2))
    assert wilson_upper(5, 100, 0.9) > 0.05 > wilson_upper(5, 10_000, 0.9) - 0.01
    assert wilson_upper(0, 0) == 1.0


def _hits(*pairs):
    return [Hit(entry, score, entry, entry) for entry, score in pairs]


def test_thresholds_come_from_the_prior_for_the_target():
    prior = load_prior()
    strict, loose = prior.answer_threshold(0.01), prior.answer_threshold(0.05)
    assert 0.0 < loose < strict < 1.0  # a lower target answers less
    result = calibrate_items([], [], Bands(), 0.02, prior=prior)
    assert result.bands.answer == pytest.approx(prior.answer_threshold(0.02))
    # the suggest band is never empty while the answer band is below 1
    assert 0.0 < result.bands.suggest < result.bands.answer < 1.0
    # no evidence of the bot's own: the confidence IS the prior
    assert result.confidence == prior.model and result.answered_rate is None


def test_the_bots_own_evidence_moves_the_model_smoothly_away_from_the_prior():
    prior = load_prior()
    text = "how can I get my money back for last month"
    wrong_top = HeldOut(text, "a", (Hit("b", 0.8, "b", "b", 0.8, 0.7),))
    probe = hit_features(list(wrong_top.hits), text)
    p = [float(calibrate_items([wrong_top] * n, [], Bands(), 0.02, prior=prior).confidence.predict(probe)[0])
         for n in (0, 1, 10, 100)]
    # confident wrong answers lower the confidence of such hits: a little for little evidence, more for more
    assert p[0] > p[1] > p[2] > p[3]
    assert p[0] - p[1] < 0.05


def test_generic_offtopic_messages_are_shipped():
    texts = generic_offtopic()
    assert len(texts) == 200 and len(set(texts)) == 200 and all(t.strip() == t and t for t in texts)


def test_held_out_calibration_meets_its_target_on_the_fixture_bot(calibrated, encoder):
    kb, result = calibrated
    assert result.confidence is not None and result.positives == 16 and result.negatives == len(NEGATIVES)
    assert result.answered_rate > 0.5
    assert result.wrong_rate <= TARGET
    assert kb.bands.suggest <= kb.bands.answer
    # off-topic messages are not answered at the calibrated threshold
    for text, vector in zip(NEGATIVES, encoder.encode(NEGATIVES)):
        hits = kb.search(text, vector)
        assert hits[0].score < kb.bands.answer, text


def test_confidence_is_a_probability_and_ranks_hits(calibrated, encoder):
    kb, _ = calibrated
    text = "I forgot my password"
    hits = kb.search(text, encoder.encode([text])[0], k=4)
    scores = [h.score for h in hits]
    assert hits[0].entry_id == "reset-password" and scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] >= kb.bands.answer
    raw = kb.candidates(text, encoder.encode([text])[0])
    assert hit_features(raw, text).shape == (len(raw), len(FEATURES))


def test_confidence_save_load_round_trip_gives_identical_scores(calibrated, encoder, tmp_path):
    kb, _ = calibrated
    kb.save(tmp_path / "kb")
    loaded = KnowledgeBase.load(tmp_path / "kb")
    assert loaded.confidence == kb.confidence and loaded.bands == kb.bands
    for text in ["I forgot my password", "money back please", "are you open", "tell me a story"]:
        vector = encoder.encode([text])[0]
        assert [(h.entry_id, h.score) for h in loaded.search(text, vector)] == \
               [(h.entry_id, h.score) for h in kb.search(text, vector)]


def test_a_confidence_file_with_other_features_is_refused(calibrated, tmp_path):
    kb, _ = calibrated
    kb.save(tmp_path / "kb")
    path = tmp_path / "kb" / "confidence.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "features": data["features"][:-1]}))
    with pytest.raises(ArtifactError, match="smallbot train"):
        KnowledgeBase.load(tmp_path / "kb")


@pytest.mark.parametrize("typo, truth", [
    ("how do i rest my pasword", "reset-password"),
    ("wat are your openning hours", "opening-hours"),
    ("can i get a refnud", "refund"),
    ("how do i delte my acount", "delete-account"),
])
def test_typod_questions_still_match_with_the_calibrated_confidence(calibrated, encoder, typo, truth):
    kb, _ = calibrated
    hits = kb.search(typo, encoder.encode([typo])[0], k=3)
    assert hits[0].entry_id == truth
    # and it is more confident than about any off-topic message
    off_topic = max(kb.search(t, v)[0].score for t, v in zip(NEGATIVES, encoder.encode(NEGATIVES)))
    assert hits[0].score > off_topic


def test_confidence_model_fit_recovers_a_separable_direction():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, len(FEATURES)))
    y = (x[:, 3] + 0.3 * rng.standard_normal(400) > 0).astype(float)
    model = ConfidenceModel.fit(x, y)
    p = model.predict(x)
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.9
    assert int(np.argmax(np.abs(model.weights))) == 3
    assert ConfidenceModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model


def test_rescored_hits_never_rise_down_the_ranking():
    # a model that trusts the lexical score alone would rate the second hit above the first: the cap keeps the
    # fused order's top as the most confident, so a lower entry cannot lead the suggestions
    weights = tuple(1.0 if name == "lexical" else 0.0 for name in FEATURES)
    model = ConfidenceModel(tuple([0.0] * len(FEATURES)), tuple([1.0] * len(FEATURES)), weights, 0.0)
    raw = [Hit("a", 0.8, "a", "a", 0.9, 0.1), Hit("b", 0.7, "b", "b", 0.6, 0.9), Hit("c", 0.5, "c", "c", 0.5, 0.05)]
    uncapped = model.predict(hit_features(raw, "some question"))
    assert uncapped[1] > uncapped[0]  # the situation the cap exists for
    scored = model.rescore(raw, "some question")
    assert [h.entry_id for h in scored] == ["a", "b", "c"]
    assert [h.score for h in scored] == pytest.approx([uncapped[0], uncapped[0], uncapped[2]])
