"""The `Store` contract: one suite, run against every registered store backend.

The backends are the registry's (smallbot.registry): the built-in `sqlite` and every one installed through
the `smallbot.stores` entry points, each opened the way a bot opens it (`open_store` with `store.backend`
set to its name). A new backend (Postgres, Redis) is installed and must pass everything here unchanged.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import pytest

from smallbot.project.config import StoreConfig
from smallbot.errors import StoreError
from smallbot.registry import store_names
from smallbot.store import ConnectorState, ConversationLog, Store, open_store
from smallbot.types import Message, Reply, ReplyKind, Source, Suggestion
from tests.support.stores import store_config


STORES: tuple[str, ...] = store_names()


@pytest.fixture
def open_backend(request, tmp_path) -> Callable[[str], Store]:
    """Opens a registered backend the way a bot does (`open_store` with `store.backend` set to its name);
    each backend's settings come from tests/support/stores.py (PostgreSQL: a fresh database)."""
    return lambda name: open_store(tmp_path, store_config(name, request))


@pytest.fixture(params=sorted(STORES))
def store(request, open_backend):
    opened = open_backend(request.param)
    yield opened
    opened.close()


def _turn(conversation: str, text: str, kind: ReplyKind = ReplyKind.ANSWER, at: float | None = None,
          **reply) -> tuple[Message, Reply]:
    message = Message(conversation, text, user="ada", channel="web",
                      **({"received_at": at} if at is not None else {}))
    return message, Reply(kind, reply.pop("text", f"reply to {text}"), conversation, **reply)


def test_turn_round_trips_every_field(store):
    message, reply = _turn("c1", "how do I reset my password?", ReplyKind.SUGGEST, at=1_700_000_000.5,
                           sources=(Source("reset-password", "How do I reset?", ("https://x",)),),
                           suggestions=(Suggestion("reset-password", "How do I reset?"), Suggestion("locked", "Locked?")),
                           confidence=0.61, intent="faq", reason="faq score 0.61 in suggest band",
                           timings={"encode": 6.5, "total": 7.25})
    message_id = store.log_turn(message, reply)

    [turn] = store.turns("c1")
    assert turn.id == message_id
    assert (turn.conversation_id, turn.text, turn.reply_kind, turn.reply_text) == (
        "c1", "how do I reset my password?", ReplyKind.SUGGEST, "reply to how do I reset my password?")
    assert turn.intent == "faq" and turn.confidence == pytest.approx(0.61)
    assert turn.sources == ("reset-password",)
    assert turn.suggestions == ("reset-password", "locked")
    assert turn.reason == "faq score 0.61 in suggest band"
    assert dict(turn.timings) == {"encode": 6.5, "total": 7.25}
    assert turn.created_at == pytest.approx(1_700_000_000.5)
    [conversation] = store.conversations()
    assert (conversation.id, conversation.channel, conversation.user) == ("c1", "web", "ada")
    assert store.history("c1")[0]["sources"] == ["reset-password"]


def test_turns_keep_write_order_and_filter_by_conversation_and_time(store):
    ids = [store.log_turn(*_turn(f"c{i % 2}", f"q{i}", at=1000.0 + i)) for i in range(6)]
    assert [t.id for t in store.turns()] == ids
    assert [t.text for t in store.turns("c1")] == ["q1", "q3", "q5"]
    assert [t.text for t in store.turns(since=1003.0)] == ["q3", "q4", "q5"]


def test_the_last_turns_of_a_conversation_come_oldest_first(store):
    for i in range(6):
        store.log_turn(*_turn("c1" if i != 4 else "c2", f"q{i}", at=1000.0 + i))
    assert [t.text for t in store.turns("c1", last=3)] == ["q2", "q3", "q5"]
    assert [t.text for t in store.turns("c1", since=1003.0, last=3)] == ["q3", "q5"]
    assert [t.text for t in store.turns("c2", last=3)] == ["q4"] and store.turns("c3", last=3) == []


def test_feedback_round_trips_and_defaults_to_the_latest_reply(store):
    first = store.log_turn(*_turn("c1", "one"))
    second = store.log_turn(*_turn("c1", "two"))
    down = store.log_feedback("c1", first, -1, "wrong answer")
    up = store.log_feedback("c1", None, +1)
    records = store.feedback("c1")
    assert [(f.id, f.message_id, f.score, f.comment) for f in records] == [
        (down, first, -1, "wrong answer"), (up, second, 1, "")]


@pytest.mark.parametrize("score", [0, 2, -5, True])
def test_feedback_refuses_scores_other_than_plus_or_minus_one(store, score):
    store.log_turn(*_turn("c1", "one"))
    with pytest.raises(StoreError, match=r"\+1 or -1"):
        store.log_feedback("c1", None, score)
    assert store.feedback() == []


def test_feedback_on_a_message_of_another_conversation_is_refused(store):
    other = store.log_turn(*_turn("c2", "elsewhere"))
    store.log_turn(*_turn("c1", "here"))
    with pytest.raises(StoreError, match="not part of conversation"):
        store.log_feedback("c1", other, 1)
    with pytest.raises(StoreError, match="no conversation 'nope'"):
        store.log_feedback("nope", None, 1)


def test_a_refused_write_does_not_affect_writes_committed_with_it(store):
    async def burst():
        good = [store.alog_turn(*_turn("c1", f"q{i}")) for i in range(5)]
        bad = store.alog_feedback("missing", None, 1)
        return await asyncio.gather(*good, bad, return_exceptions=True)

    results = asyncio.run(burst())
    assert isinstance(results[-1], StoreError)
    assert [t.id for t in store.turns()] == results[:-1]


def test_handoff_reply_opens_a_handoff_and_resolve_closes_it(store):
    message_id = store.log_turn(*_turn("c1", "get me a human", ReplyKind.HANDOFF, intent="talk_to_human",
                                       reason="intent talk_to_human routes to handoff"))
    [handoff] = store.handoffs("c1")
    assert handoff.is_open and handoff.message_id == message_id
    assert handoff.reason == "intent talk_to_human routes to handoff"
    assert store.resolve_handoff("c1", "solved by Sam") == 1
    [handoff] = store.handoffs("c1")
    assert not handoff.is_open and handoff.resolution == "solved by Sam"
    assert store.resolve_handoff("c1") == 0


def test_open_handoff_by_hand_round_trips(store):
    store.log_turn(*_turn("c1", "hello"))
    handoff_id = store.open_handoff("c1", reason="agent took over from the dashboard")
    [handoff] = store.handoffs()
    assert (handoff.id, handoff.message_id, handoff.reason) == (handoff_id, None, "agent took over from the dashboard")


def test_forget_erases_the_conversation_and_everything_attached(store):
    for conversation in ("c1", "c2"):
        store.log_turn(*_turn(conversation, "hello"))
        store.log_turn(*_turn(conversation, "human please", ReplyKind.HANDOFF))
        store.log_feedback(conversation, None, -1, "slow")
    erased = store.forget("c1")
    assert (erased.conversations, erased.messages, erased.feedback, erased.handoffs) == (1, 2, 1, 1)
    assert store.turns("c1") == [] and store.feedback("c1") == [] and store.handoffs("c1") == []
    assert [c.id for c in store.conversations()] == ["c2"]
    assert len(store.turns("c2")) == 2 and len(store.feedback()) == 1 and len(store.handoffs()) == 1
    assert store.forget("c1").conversations == 0


def test_purge_erases_conversations_last_active_before_the_cutoff(store):
    day = 86400.0
    now = time.time()
    store.log_turn(*_turn("old", "hi", at=now - 40 * day))
    store.log_feedback("old", None, 1)
    store.log_turn(*_turn("revived", "hi", at=now - 40 * day))
    store.log_turn(*_turn("revived", "again", at=now - 1 * day))
    store.log_turn(*_turn("new", "hi", at=now))
    erased = store.purge(now - 30 * day)
    assert (erased.conversations, erased.messages, erased.feedback) == (1, 1, 1)
    assert sorted(c.id for c in store.conversations()) == ["new", "revived"]
    assert len(store.turns("revived")) == 2


def test_async_api_resolves_with_ids_of_committed_rows(store):
    async def main():
        ids = await asyncio.gather(*(store.alog_turn(*_turn(f"c{i % 3}", f"q{i}")) for i in range(30)))
        feedback_id = await store.alog_feedback("c0", ids[0], -1, "no")
        return ids, feedback_id

    ids, feedback_id = asyncio.run(main())
    assert sorted(ids) == sorted({t.id for t in store.turns()}) and len(set(ids)) == 30
    assert store.feedback()[0].id == feedback_id


def test_a_claimed_delivery_is_refused_until_it_fails_or_expires(store):
    async def main():
        first, again = await store.aclaim_delivery("slack:Ev1", 60), await store.aclaim_delivery("slack:Ev1", 60)
        await store.afinish_delivery("slack:Ev1", True, 3600)
        after_done = await store.aclaim_delivery("slack:Ev1", 60)
        await store.aclaim_delivery("slack:Ev2", 60)
        await store.afinish_delivery("slack:Ev2", False, 3600)
        status_failed = store.delivery_status("slack:Ev2")
        after_failure = await store.aclaim_delivery("slack:Ev2", 60)
        # a negative lease or keep is already over: the claim of a dead process, or a row past its expiry
        await store.aclaim_delivery("slack:Ev3", -1)
        after_lease = await store.aclaim_delivery("slack:Ev3", 60)
        await store.afinish_delivery("slack:Ev4", True, -1)
        return first, again, after_done, status_failed, after_failure, after_lease, store.delivery_status("slack:Ev4")

    assert asyncio.run(main()) == (True, False, False, "failed", True, True, None)
    assert store.delivery_status("slack:Ev1") == "done" and store.delivery_status("slack:Ev2") == "handling"


def test_of_concurrent_claims_of_one_delivery_exactly_one_wins(store):
    async def main():
        return await asyncio.gather(*(store.aclaim_delivery("slack:EvRace", 60) for _ in range(20)))

    assert sorted(asyncio.run(main())) == [False] * 19 + [True]


def test_pause_round_trips_and_only_the_first_resume_gets_the_detail(store):
    async def main():
        await store.apause("c1", {"user": "U1", "notice_ts": "1.2"})
        paused = await store.apaused("c1"), await store.apaused("c2")
        resumed = await store.aresume("c1"), await store.aresume("c1")
        return paused, resumed, await store.apaused("c1")

    paused, resumed, after = asyncio.run(main())
    assert paused == ({"user": "U1", "notice_ts": "1.2"}, None)
    assert resumed == ({"user": "U1", "notice_ts": "1.2"}, None)
    assert after is None


def test_forget_erases_a_pause_with_the_conversation(store):
    store.log_turn(*_turn("c1", "human please", ReplyKind.HANDOFF))
    asyncio.run(store.apause("c1", {"question": "human please"}))
    store.forget("c1")
    assert store.paused("c1") is None


def test_writes_after_close_are_refused(store):
    store.log_turn(*_turn("c1", "hi"))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.log_turn(*_turn("c1", "again"))
    store.close()  # idempotent


def test_the_built_in_backends_are_in_the_suite():
    assert {"sqlite", "postgres"} <= set(STORES)


def test_the_two_halves_split_the_store_without_overlap():
    def methods(protocol: type) -> set[str]:
        return {name for name in vars(protocol) if not name.startswith("_") and callable(vars(protocol)[name])}

    log, state = methods(ConversationLog), methods(ConnectorState)
    assert log and state and not log & state
    assert {"aclaim_delivery", "apause"} <= state and {"log_turn", "turns", "forget"} <= log


@pytest.mark.parametrize("name", sorted(STORES))
def test_every_implementation_has_every_method_of_the_protocol(name, open_backend):
    import inspect

    opened = open_backend(name)
    try:
        for method, spec in inspect.getmembers(Store, inspect.isfunction):
            if method.startswith("_"):
                continue
            implementation = getattr(opened, method)
            assert inspect.iscoroutinefunction(implementation) == inspect.iscoroutinefunction(spec), method
            assert list(inspect.signature(implementation).parameters) == list(inspect.signature(spec).parameters)[1:]
    finally:
        opened.close()


def test_only_the_store_package_names_a_concrete_store():
    """Backends are chosen by `open_store` alone: no command or connector opens one by its class."""
    package = Path(__file__).resolve().parents[2] / "smallbot"
    sources = [path for path in package.rglob("*.py") if path.parent != package / "store"]
    assert len(sources) > 20  # the package is where this test looks
    offenders = [str(path.relative_to(package)) for path in sources
                 if any(name in path.read_text(encoding="utf-8") for name in ("SQLiteStore", "PostgresStore"))]
    assert offenders == []
