"""The bot logs every turn through the store: blocking `handle` and async `ahandle` (via `alog_turn`) alike."""

from __future__ import annotations

import asyncio

from smallbot.runtime.bot import Bot
from smallbot.project.loader import load_project
from smallbot.types import Message, ReplyKind


def test_ahandle_logs_turns_and_handoffs_through_the_async_store_api(tiny_copy, encoder):
    root = tiny_copy
    bot = Bot.from_build(load_project(root), encoder=encoder)
    calls = []
    real = bot.store.alog_turn

    async def spy(message, reply):
        calls.append(message.conversation_id)
        return await real(message, reply)

    bot.store.alog_turn = spy

    async def main():
        return await asyncio.gather(bot.ahandle(Message("a1", "How do I reset my password?", channel="web")),
                                    bot.ahandle(Message("a2", "talk to a human", channel="web")),
                                    bot.ahandle(Message("a3", "hello", channel="web")))

    try:
        replies = asyncio.run(main())
        assert sorted(calls) == ["a1", "a2", "a3"]
        turns = {t.conversation_id: t for t in bot.store.turns()}
        assert {cid: turns[cid].reply_kind for cid in turns} == {cid: r.kind for cid, r in zip(["a1", "a2", "a3"], replies)}
        assert turns["a1"].sources == ("reset-password",)
        assert replies[1].kind is ReplyKind.HANDOFF and [h.conversation_id for h in bot.store.handoffs()] == ["a2"]
        bot.store.log_feedback("a1", None, -1, "link expired")
        assert bot.store.feedback("a1")[0].message_id == turns["a1"].id
    finally:
        bot.close()
