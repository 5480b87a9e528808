"""The Bot with the trained intent model: one encoder pass, intents routed, gibberish out of scope."""

from __future__ import annotations

from smallbot.runtime.bot import Bot
from smallbot.project.loader import load_project
from smallbot.types import Message, ReplyKind


def test_bot_routes_intents_and_treats_gibberish_as_out_of_scope(trained_tiny, encoder):
    bot = Bot.from_build(load_project(trained_tiny), encoder=encoder, with_store=False)
    greeting = bot.handle(Message("c1", "hello there, good morning"))
    assert greeting.kind is ReplyKind.RESPOND and greeting.intent == "greet"
    handoff = bot.handle(Message("c2", "please connect me with a real person"))
    assert handoff.kind is ReplyKind.HANDOFF
    gibberish = bot.handle(Message("c3", "asdkjh qwe zxcv"))
    assert gibberish.kind is ReplyKind.FALLBACK and gibberish.intent is None
    assert bot.classifier.predict(encoder.encode(["asdkjh qwe zxcv"]))[0].out_of_scope
