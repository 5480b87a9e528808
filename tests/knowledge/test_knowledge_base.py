"""KnowledgeBase with the real encoder: incremental updates, save/load, typo tolerance, IVF above a size."""

from __future__ import annotations

import numpy as np
import pytest

from smallbot.errors import ArtifactError
from smallbot.knowledge.base import KnowledgeBase
from smallbot.knowledge.entries import FaqEntry
from smallbot.knowledge.evaluation import evaluate_knowledge, rank_metrics
from smallbot.knowledge.index import FaissIndex, recall_at

from tests.knowledge.knowledge_fixtures import ENTRIES


def _top(kb: KnowledgeBase, encoder, text: str) -> str:
    hits = kb.search(text, encoder.encode([text])[0], k=3)
    return hits[0].entry_id if hits else ""


class CountingEncode:
    """The real encoder, counting how many texts each update asks it to embed."""

    def __init__(self, encoder):
        self.encoder, self.texts = encoder, []

    def __call__(self, texts):
        self.texts.extend(texts)
        return self.encoder.encode(list(texts))


def test_upsert_then_search_finds_the_new_entry(kb, encoder):
    counting = CountingEncode(encoder)
    new = FaqEntry("shipping", "How long does shipping take?", ("when will my parcel arrive", "delivery time"),
                   "Three to five working days.")
    result = kb.upsert([new, *ENTRIES], counting)
    assert result.added == ("shipping",) and result.changed == ()
    assert counting.texts == list(new.phrasings), "unchanged entries must not be re-encoded"
    assert _top(kb, encoder, "how many days until my package is delivered") == "shipping"


def test_delete_removes_the_entry_from_dense_and_lexical_search(kb, encoder):
    kb.delete(["refund"])
    assert "refund" not in {e.id for e in kb.entries}
    assert len(kb.index) == sum(len(e.phrasings) for e in ENTRIES if e.id != "refund")
    hits = kb.search("Can I get a refund?", encoder.encode(["Can I get a refund?"])[0], k=5)
    assert "refund" not in [h.entry_id for h in hits]
    assert kb.fast_path("Can I get a refund?", 95.0) is None


def test_changing_an_entry_encodes_only_its_new_phrasings(kb, encoder):
    counting = CountingEncode(encoder)
    old = next(e for e in ENTRIES if e.id == "opening-hours")
    changed = FaqEntry(old.id, old.question, (*old.alternates[:2], "are you open on sundays"), old.answer)
    result = kb.sync([changed if e.id == old.id else e for e in ENTRIES], counting)
    assert result.changed == ("opening-hours",) and result.added == () and result.deleted == ()
    assert counting.texts == ["are you open on sundays"]
    assert "business hours" not in [text for _, text in kb.rows.values()]
    assert kb.fast_path("are you open on sundays", 95.0).entry_id == "opening-hours"


def test_save_and_load_round_trip_gives_the_same_results(kb, encoder, tmp_path):
    kb.delete(["refund"])  # row ids with a gap must survive the round trip
    kb.upsert([FaqEntry("refund", "Can I get a refund?", ("money back",), "30 days.")], encoder.encode)
    kb.save(tmp_path / "kb")
    loaded = KnowledgeBase.load(tmp_path / "kb")
    assert loaded.entries == kb.entries and loaded.rows == kb.rows and loaded.bands == kb.bands
    for text in ["I forgot my password", "money back please", "are you open"]:
        vector = encoder.encode([text])[0]
        assert [(h.entry_id, round(h.score, 5)) for h in loaded.search(text, vector)] == \
               [(h.entry_id, round(h.score, 5)) for h in kb.search(text, vector)]
    # and it keeps allocating fresh row ids after loading
    loaded.upsert([FaqEntry("new", "Brand new question?", (), "Yes.")], encoder.encode)
    assert len(set(loaded.rows)) == len(loaded.rows) == len(kb.rows) + 1


def test_loading_a_mismatched_artifact_raises(kb, tmp_path):
    kb.save(tmp_path / "kb")
    (tmp_path / "kb" / "index.faiss").unlink()
    with pytest.raises(ArtifactError, match="smallbot train"):
        KnowledgeBase.load(tmp_path / "kb")


@pytest.mark.parametrize("typo, truth", [
    ("how do i rest my pasword", "reset-password"),
    ("wat are your openning hours", "opening-hours"),
    ("can i get a refnud", "refund"),
    ("how do i delte my acount", "delete-account"),
])
def test_typod_questions_still_match(kb, encoder, typo, truth):
    assert _top(kb, encoder, typo) == truth


def test_near_exact_question_takes_the_fast_path_without_the_encoder(kb):
    hit = kb.fast_path("How do I reset my pasword?", 90.0)
    assert hit is not None and hit.entry_id == "reset-password" and hit.lexical_score >= 0.9


def test_index_switches_to_ivf_above_the_size_threshold_and_keeps_recall():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 32)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, 3000)] + 0.3 * rng.normal(size=(3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(10, 3010)
    small = FaissIndex.build(ids[:100], vectors[:100], approx_above=1000)
    big = FaissIndex.build(ids, vectors, approx_above=1000)
    assert small.kind == "flat" and big.kind == "ivf" and big.nprobe >= 1
    exact = FaissIndex.build(ids, vectors, approx_above=10**9)
    queries = vectors[:200] + 0.05 * rng.normal(size=(200, 32)).astype(np.float32)
    assert recall_at(big.search(queries, 10)[1], exact.search(queries, 10)[1], 10) >= 0.95
    # incremental delete works on the approximate index too
    assert big.remove(np.array([10, 11])) == 2 and 10 not in big.search(vectors[:1], 10)[1][0]


def test_rank_metrics_count_hits_and_reciprocal_ranks():
    hit1, hit5, mrr = rank_metrics([["a", "b"], ["b", "a"], ["c"]], ["a", "a", "a"])
    assert (hit1, hit5) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert mrr == pytest.approx((1 + 0.5 + 0) / 3)


def test_evaluation_reports_metrics_and_writes_the_curve(kb, encoder, tmp_path):
    result = evaluate_knowledge(kb, encoder.encode, tmp_path, negatives=["tell me a joke", "what's the weather"])
    assert result.queries == sum(len(e.phrasings) for e in ENTRIES)
    assert 0.5 <= result.hit_at_1 <= result.hit_at_5 <= 1.0
    assert result.figure.exists() and result.figure.read_bytes()[:4] == b"\x89PNG"
    assert result.as_dict()["negatives"] == 2
    test = evaluate_knowledge(kb, encoder.encode, queries=[("forgot my password", "reset-password")])
    assert test.queries == 1 and test.hit_at_1 == 1.0 and test.figure is None


def test_a_message_nearer_the_bots_own_off_topic_examples_looks_off_topic(encoder, tmp_path):
    kb = KnowledgeBase.build(list(ENTRIES), encoder.encode)
    kb.set_offtopic(encoder.encode(["how do I reset my netflix password", "what's the weather tomorrow"]))

    def looks(text):
        vector = encoder.encode([text])[0]
        return kb.looks_offtopic(vector, kb.search(text, vector)[0])
    assert looks("reset the password of my netflix account")
    assert not looks("I forgot my password")
    kb.save(tmp_path / "kb")
    loaded = KnowledgeBase.load(tmp_path / "kb")
    assert np.array_equal(loaded.offtopic, kb.offtopic)
