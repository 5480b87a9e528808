"""Micro-batching: concurrent messages share forward passes and get exactly their own embeddings."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from smallbot.encoding.batcher import EncodeFailed, MicroBatcher
from smallbot.runtime.bot import Bot
from smallbot.project.loader import load_project
from smallbot.types import Message, ReplyKind

TEXTS = [f"question number {i} about invoices and refunds" for i in range(40)]


def test_concurrent_requests_are_batched_and_each_gets_its_own_vector(encoder):
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return encoder.encode(texts)

    async def scenario():
        batcher = MicroBatcher(encode, max_batch=16)
        try:
            return await asyncio.gather(*(batcher.encode(t) for t in TEXTS))
        finally:
            batcher.close()

    vectors = asyncio.run(scenario())
    expected = encoder.encode(TEXTS)
    assert np.allclose(np.stack(vectors), expected, atol=1e-5)
    assert sum(calls) == len(TEXTS) and len(calls) < len(TEXTS) and max(calls) <= 16


def test_a_lone_request_is_encoded_alone(encoder):
    calls = []

    async def scenario():
        batcher = MicroBatcher(lambda texts: calls.append(len(texts)) or encoder.encode(texts))
        try:
            for text in TEXTS[:3]:
                await batcher.encode(text)
        finally:
            batcher.close()

    asyncio.run(scenario())
    assert calls == [1, 1, 1]


def test_an_encoder_failure_reaches_the_caller_and_the_batcher_keeps_working(encoder):
    def encode(texts):
        if "boom" in texts:
            raise RuntimeError("encoder exploded")
        return encoder.encode(texts)

    async def scenario():
        batcher = MicroBatcher(encode)
        try:
            with pytest.raises(EncodeFailed) as failed:  # the cause rides along; its traceback is logged once
                await batcher.encode("boom")
            assert str(failed.value.__cause__) == "encoder exploded"
            return await batcher.encode("still alive")
        finally:
            batcher.close()

    assert asyncio.run(scenario()).shape == (encoder.dim,)


def test_async_handling_matches_sync_handling(tiny_copy, encoder):
    root = tiny_copy
    bot = Bot.from_build(load_project(root), encoder=encoder, with_store=False)
    texts = ["i can't remember my password", "hello", "when are you open", "money back please", "asdf qwer"]

    async def scenario():
        return await asyncio.gather(*(bot.ahandle(Message(f"a{i}", t)) for i, t in enumerate(texts)))

    try:
        replies = asyncio.run(scenario())
        for i, (text, reply) in enumerate(zip(texts, replies)):
            direct = bot.handle(Message(f"s{i}", text))
            assert (reply.kind, reply.text) == (direct.kind, direct.text)
        assert replies[0].kind is ReplyKind.ANSWER
    finally:
        bot.close()


def test_the_batcher_serves_a_new_event_loop_after_the_old_one_closed(encoder):
    batcher = MicroBatcher(encoder.encode)
    try:
        first = asyncio.run(batcher.encode("first loop"))
        second = asyncio.run(batcher.encode("second loop"))  # a new loop, as when a server restarts
    finally:
        batcher.close()
    assert first.shape == second.shape == (encoder.dim,)


def test_a_gathered_batch_is_encoded_in_length_sorted_passes_each_message_its_own_vector(tiny_copy, encoder):
    from smallbot.runtime.bot import SUB_BATCH

    bot = Bot.from_build(load_project(tiny_copy), encoder=encoder, with_store=False)
    texts = [("how do I get a refund " * (1 + i % 5)).strip() + f" {i}" for i in range(2 * SUB_BATCH + 3)]
    passes = []
    forward = bot.encoder._forward

    def recording(batch):
        passes.append([len(t) for t in batch])
        return forward(batch)

    bot.encoder._forward = recording  # the instance attribute shadows the method for this bot only
    try:
        vectors = bot._encode_gathered(texts)
    finally:
        del bot.encoder._forward
        bot.close()
    assert [len(p) for p in passes] == [SUB_BATCH, SUB_BATCH, 3]
    lengths = [n for p in passes for n in p]
    assert lengths == sorted(lengths, reverse=True)  # longest first: each pass pads to similar lengths
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-5)


def test_a_served_bot_searches_faiss_with_one_thread(trained_tiny, encoder):
    import faiss

    bot = Bot.from_build(load_project(trained_tiny), encoder=encoder, with_store=False)
    bot.close()
    assert faiss.omp_get_max_threads() == 1


def test_one_unencodable_message_fails_alone_and_the_batch_mates_get_their_vectors(encoder):
    """A lone surrogate makes the real tokenizer raise; the other messages gathered with it must not
    share that failure (a hostile client would otherwise break other people's replies)."""
    texts = [f"how do I pay invoice {i}" for i in range(7)] + ["hi \ud800 there"]

    async def scenario():
        batcher = MicroBatcher(encoder.encode, max_batch=16)
        try:
            return await asyncio.gather(*(batcher.encode(t) for t in texts), return_exceptions=True)
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert isinstance(results[-1], Exception)
    good = results[:-1]
    assert all(isinstance(r, np.ndarray) for r in good), [type(r) for r in good]
    assert np.allclose(np.stack(good), encoder.encode(texts[:-1]), atol=1e-5)


def test_a_broken_batch_leaves_one_traceback_not_one_per_message(encoder, caplog):
    texts = [f"bad {i} \udc00" for i in range(5)] + ["how do I pay my invoice"]

    async def scenario():
        batcher = MicroBatcher(encoder.encode, max_batch=16)
        try:
            return await asyncio.gather(*(batcher.encode(t) for t in texts), return_exceptions=True)
        finally:
            batcher.close()

    with caplog.at_level("ERROR"):
        results = asyncio.run(scenario())
    assert isinstance(results[-1], np.ndarray) and all(isinstance(r, Exception) for r in results[:-1])
    assert sum(1 for r in caplog.records if r.exc_info) == 1
