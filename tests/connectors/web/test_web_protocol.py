"""The web connector's pure halves and guards: no server, no model."""

from __future__ import annotations

import pytest

from smallbot.project.config import BotConfig, LimitsConfig
from smallbot.connectors.web import BadRequest, WebConfig, WebSettings, parse, parse_feedback, render
from smallbot.connectors.web.access import OriginPolicy, RateLimiter, retry_after_header
from smallbot.connectors.web.metrics import WebMetrics
from smallbot.connectors.web.protocol import decode_json
from smallbot.errors import ConfigError
from smallbot.types import Reply, ReplyKind, Source, Suggestion


def refusal(call) -> tuple[int, str]:
    with pytest.raises(BadRequest) as info:
        call()
    return info.value.status, info.value.error


def test_parse_makes_a_web_message_with_a_fresh_reference():
    message = parse({"text": "hi there", "conversation_id": "conv-1234", "user": "ana"}, 100)
    assert (message.conversation_id, message.text, message.user, message.channel) == ("conv-1234", "hi there", "ana", "web")
    assert len(message.metadata["message_ref"]) == 32
    assert parse({"text": "again", "conversation_id": "conv-1234"}, 100).metadata["message_ref"] != \
        message.metadata["message_ref"]


def test_parse_starts_a_conversation_when_none_is_given():
    assert parse({"text": "hi"}, 100, new_id="fresh-conv").conversation_id == "fresh-conv"
    assert len(parse({"text": "hi"}, 100).conversation_id) == 32


def test_parse_returns_none_for_blank_text():
    assert parse({"text": "  \n "}, 100) is None


@pytest.mark.parametrize("raw, expected", [
    ({}, (400, "bad_request")),
    ({"text": ["a"]}, (400, "bad_request")),
    ({"text": "hi", "conversation_id": "short"}, (400, "bad_request")),
    ({"text": "hi", "conversation_id": "has spaces in it"}, (400, "bad_request")),
    ({"text": "hi", "conversation_id": 12345678}, (400, "bad_request")),
    ({"text": "hi", "user": "u" * 81}, (400, "bad_request")),
    ({"text": "x" * 101}, (422, "message_too_long")),
])
def test_parse_refuses_bad_fields_with_a_status_and_code(raw, expected):
    assert refusal(lambda: parse(raw, 100)) == expected


@pytest.mark.parametrize("body, expected", [
    (b"{", (400, "bad_json")),
    (b"\xff\xfe", (400, "bad_json")),
    (b'"text"', (400, "bad_json")),
    (b"null", (400, "bad_json")),
    (b"{}" + b" " * 300, (413, "request_too_large")),
])
def test_decode_json_refuses_what_is_not_a_small_json_object(body, expected):
    assert refusal(lambda: decode_json(body, 256)) == expected


def test_decode_json_counts_utf8_bytes_of_text_frames():
    assert decode_json('{"t": "é"}', 256) == {"t": "é"}
    assert refusal(lambda: decode_json('{"t": "' + "é" * 200 + '"}', 256)) == (413, "request_too_large")


@pytest.mark.parametrize("score, expected", [("up", 1), ("down", -1), (1, 1), (-1, -1)])
def test_parse_feedback_accepts_up_and_down(score, expected):
    feedback = parse_feedback({"conversation_id": "conv-1234", "message_id": "a" * 32, "score": score})
    assert feedback.score == expected and feedback.comment == ""


@pytest.mark.parametrize("raw", [
    {"conversation_id": "conv-1234", "message_id": "a" * 32, "score": True},
    {"conversation_id": "conv-1234", "message_id": "a" * 32, "score": 2},
    {"conversation_id": "conv-1234", "message_id": "a" * 32, "score": ["up"]},
    {"conversation_id": "conv-1234", "score": "up"},
    {"message_id": "a" * 32, "score": "up"},
    {"conversation_id": "conv-1234", "message_id": "a" * 32, "score": "up", "comment": "c" * 1001},
])
def test_parse_feedback_refuses_bad_fields(raw):
    assert refusal(lambda: parse_feedback(raw))[0] == 400


def test_render_adds_the_message_reference_to_the_reply():
    message = parse({"text": "refund?", "conversation_id": "conv-1234"}, 100)
    reply = Reply(ReplyKind.SUGGEST, "Did you mean?", "", (Source("refund", "Can I get a refund?", ("https://x.example/r",)),),
                  (Suggestion("refund", "Can I get a refund?"),), 0.5)
    payload = render(reply, message)
    assert payload["conversation_id"] == "conv-1234"
    assert payload["message_id"] == message.metadata["message_ref"]
    assert payload["suggestions"] == [{"id": "refund", "text": "Can I get a refund?"}]
    assert payload["sources"][0]["links"] == ["https://x.example/r"]


def test_origin_policy_allows_own_origin_listed_ones_and_no_origin():
    policy = OriginPolicy(["https://shop.example/"])
    own = "http://127.0.0.1:8080"
    assert policy.allows(None, own)
    assert policy.allows("http://127.0.0.1:8080", own)
    assert policy.allows("HTTPS://shop.example", own)
    assert not policy.allows("https://shop.example.evil.com", own)
    assert not policy.allows("http://127.0.0.1:9999", own)
    assert OriginPolicy(["*"]).allows("https://anyone.example", own)


def test_rate_limiter_allows_a_burst_then_asks_to_wait_until_a_token_refills():
    now = [100.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("a") == pytest.approx(1.0)
    assert limiter.check("b") == 0.0  # clients are limited separately
    now[0] += 1.0
    assert limiter.check("a") == 0.0
    assert limiter.check("a") > 0
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"


def test_rate_limiter_forgets_the_oldest_clients_beyond_capacity():
    limiter = RateLimiter(per_minute=60, burst=1, capacity=2, clock=lambda: 0.0)
    limiter.check("a"), limiter.check("b"), limiter.check("c")
    assert limiter.check("a") == 0.0  # "a" was dropped, so it starts with a full bucket
    assert limiter.check("c") > 0


def test_metrics_render_prometheus_text():
    metrics = WebMetrics()
    metrics.request("/api/messages", 200)
    metrics.reply("answer", 0.02)
    metrics.refuse("bad_json")
    metrics.rate(-1)
    metrics.websocket(+1)
    text = metrics.render()
    assert 'smallbot_http_requests_total{route="/api/messages",status="200"} 1.0' in text
    assert 'smallbot_reply_seconds_bucket{le="0.01"} 0.0' in text
    assert 'smallbot_reply_seconds_bucket{le="0.025"} 1.0' in text
    assert 'smallbot_reply_seconds_bucket{le="+Inf"} 1.0' in text
    assert 'smallbot_refused_total{error="bad_json"} 1.0' in text
    assert 'smallbot_feedback_total{score="down"} 1.0' in text
    assert "smallbot_websockets_open 1" in text
    assert text.endswith("\n")


def test_settings_come_from_bot_yml_with_overrides():
    config = BotConfig(connectors={"web": WebConfig(host="0.0.0.0", port=9000, allowed_origins=["https://a.example"],
                                                    rate_limit_burst=4)}, limits=LimitsConfig(max_message_chars=200))
    settings = WebSettings.from_config(config, port=0)
    assert (settings.host, settings.port, settings.allowed_origins) == ("0.0.0.0", 0, ("https://a.example",))
    assert (settings.max_message_chars, settings.rate_limit_burst) == (200, 4)


def test_settings_refuse_unusable_limits():
    with pytest.raises(ConfigError, match="max_request_bytes"):
        WebSettings(max_request_bytes=10)
    with pytest.raises(ConfigError, match="rate_limit"):
        WebSettings(rate_limit_per_minute=0)
