"""/openapi.json stays in step with the served routes, and the pure parsers hold under generated input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallbot.connectors.web import BadRequest, WebSettings, create_app, parse, parse_feedback
from smallbot.connectors.web.protocol import decode_json


@pytest.mark.asyncio
async def test_the_openapi_document_names_every_served_route_and_nothing_else(aiohttp_client, tiny_bot):
    app = create_app(tiny_bot, WebSettings.from_config(tiny_bot.config, port=0))
    served = {(resource.canonical, route.method.lower()) for resource in app.router.resources()
              for route in resource if route.method != "HEAD"}
    client = await aiohttp_client(app)
    document = await (await client.get("/openapi.json")).json()
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert documented == served
    assert document["openapi"].startswith("3.")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
BODIES = st.dictionaries(st.sampled_from(["text", "conversation_id", "user", "type", "message_id", "score",
                                          "comment"]) | st.text(max_size=5), JSON, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES | JSON)
def test_any_json_body_is_a_message_none_or_a_4xx(body):
    raw = json.dumps(body)
    try:
        decoded = decode_json(raw, 16_384)
        message = parse(decoded, 1000)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and exc.reason
        return
    assert message is None or (message.text.strip() and len(message.text) <= 1000)


@settings(max_examples=300, deadline=None)
@given(BODIES)
def test_any_feedback_body_is_feedback_or_a_4xx(body):
    try:
        feedback = parse_feedback(body)
    except BadRequest as exc:
        assert 400 <= exc.status < 500
        return
    assert feedback.score in (1, -1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_to_an_object_or_a_4xx(raw):
    try:
        assert isinstance(decode_json(raw, 16_384), dict)
    except BadRequest as exc:
        assert exc.status in (400, 413)
