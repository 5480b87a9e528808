"""Under concurrent web load the encoder passes are shared: requests to the real aiohttp app on a loopback
port go through `Bot.ahandle`, whose micro-batcher gathers the requests that arrive while the encoder is
busy into one forward pass, and every client still gets the answer to its own question."""

from __future__ import annotations

import asyncio

import pytest

from smallbot.connectors.web import WebSettings, create_app

pytestmark = pytest.mark.asyncio

# Paraphrases (not near-exact FAQ text, so none takes the rapidfuzz fast path: each needs an encoder pass)
# with the FAQ each must be answered from.
QUESTIONS = {
    "i can't remember my password, how do i get a new one": "reset-password",
    "at what hour do you open in the morning": "opening-hours",
    "could i have my money returned please": "refund",
    "i would like to remove my account for good": "delete-account",
}


async def test_concurrent_web_requests_share_encoder_passes_and_get_their_own_answers(aiohttp_client, tiny_bot):
    settings = WebSettings.from_config(tiny_bot.config, port=0, rate_limit_per_minute=1e6, rate_limit_burst=10_000)
    client = await aiohttp_client(create_app(tiny_bot, settings))
    texts = list(QUESTIONS) * 8  # 32 requests in flight at once

    async def ask(i: int, text: str) -> dict:
        response = await client.post("/api/messages", json={"text": text})
        assert response.status == 200
        return await response.json()

    replies = await asyncio.gather(*(ask(i, text) for i, text in enumerate(texts)))

    batcher = tiny_bot.batcher
    assert batcher.encoded == len(texts)  # one encoder pass per message, none skipped, none repeated
    assert batcher.batches < len(texts)  # ... and concurrent messages shared forward passes
    for text, reply in zip(texts, replies):
        top = reply["sources"][0]["id"] if reply["kind"] == "answer" else reply["suggestions"][0]["id"]
        assert top == QUESTIONS[text], (text, reply)


async def test_a_lone_web_request_is_not_held_back_for_a_batch(aiohttp_client, tiny_bot):
    settings = WebSettings.from_config(tiny_bot.config, port=0)
    client = await aiohttp_client(create_app(tiny_bot, settings))
    for i, text in enumerate(QUESTIONS):
        response = await client.post("/api/messages", json={"text": text})
        assert response.status == 200
    assert tiny_bot.batcher.batches == tiny_bot.batcher.encoded == len(QUESTIONS)
