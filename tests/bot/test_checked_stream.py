"""checked_stream: fact-free text streams word by word; a sentence with a fact is shown only once checked."""

from __future__ import annotations

from smallbot.generation.factcheck import build_support
from smallbot.generation.checked_stream import CheckVerdict, checked_stream

SUPPORT = build_support(["Email support@tallyo.example. Pricing is at https://tallyo.example/pricing."])


def run(chunks):
    out = list(checked_stream(chunks, SUPPORT))
    assert isinstance(out[-1], CheckVerdict)
    return [c for c in out[:-1]], out[-1]


def test_small_talk_streams_in_several_chunks_and_passes():
    tokens = ["I", "'m", " doing", " great", ",", " thanks", " for", " asking", ".", " How", " about", " you", "?"]
    shown, verdict = run(tokens)
    assert verdict.passed
    assert len(shown) >= 3
    assert "".join(shown) == verdict.text == "".join(tokens)


def test_an_invented_url_is_never_shown_and_fails_the_verdict():
    tokens = ["Sure", "!", " Our", " deals", " are", " at", " https", "://", "tallyo", ".com", "/", "deals", ".", " Enjoy", "!"]
    shown, verdict = run(tokens)
    assert not verdict.passed
    assert [c.kind for c in verdict.unsupported] == ["url"]
    assert "tallyo.com" not in "".join(shown)


def test_a_known_url_is_shown_after_its_sentence_is_checked():
    tokens = ["Pricing", " is", " at", " https", "://", "tallyo", ".example", "/pricing", ".", " Anything", " else", "?"]
    shown, verdict = run(tokens)
    assert verdict.passed
    assert "".join(shown) == verdict.text


def test_the_source_is_closed_on_the_first_invented_fact():
    consumed = []

    def source():
        for token in ["It", " costs", " $", "5", ".", " Bye", ".", " More", " words", " here", "."]:
            consumed.append(token)
            yield token

    shown, verdict = run(source())
    assert not verdict.passed
    assert len(consumed) < 11  # the rest was never generated


def test_non_text_items_come_back_in_the_verdict():
    stats = object()
    _, verdict = run(["Hello", " there", "!", stats])
    assert verdict.extra is stats
