"""PostgreSQL specifics, against a real server the tests start (tests/support/postgres.py): its own numbered
migrations under an advisory lock, clear errors without the password, erasure that leaves no row mentioning
the conversation, exactly-once claims across processes, no acknowledged write lost to `kill -9`, and the rate
limit shared by replicas."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from smallbot.connectors.web.access import SharedBuckets, rate_limiter
from smallbot.errors import StoreError
from smallbot.project.config import Secret, StoreConfig
from smallbot.store import open_store
from smallbot.store.postgres import migrations
from smallbot.types import Message, Reply, ReplyKind, Source, Suggestion
from tests.support.stores import DATABASE_URL_VAR

CONFIG = StoreConfig(backend="postgres", url=Secret(DATABASE_URL_VAR))


def _open(tmp_path, **changes):
    import dataclasses

    return open_store(tmp_path, dataclasses.replace(CONFIG, **changes))


def _sql(url: str, query: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description is not None else []


def _tables(url: str) -> list[str]:
    return [r[0] for r in _sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def test_the_schema_is_the_numbered_migrations_recorded_once(postgres_url, tmp_path):
    known = migrations()
    assert [m.version for m in known] == list(range(1, len(known) + 1))
    _open(tmp_path).close()
    _open(tmp_path).close()  # reopening applies nothing again
    assert _sql(postgres_url, "SELECT version, name FROM schema_version ORDER BY version") == [
        (m.version, m.name) for m in known]
    assert {"conversations", "messages", "feedback", "handoffs", "deliveries", "paused_conversations",
            "rate_limits", "schema_version"} <= set(_tables(postgres_url))


def test_replicas_starting_together_migrate_once(postgres_url, tmp_path):
    opened, errors = [], []
    start = threading.Barrier(6)

    def replica():
        try:
            start.wait(timeout=30)
            opened.append(_open(tmp_path))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == [] and len(opened) == 6
        versions = [r[0] for r in _sql(postgres_url, "SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in migrations()]
        ids = [store.log_turn(Message(f"r{i}", "hi"), Reply(ReplyKind.RESPOND, "hello")) for i, store in enumerate(opened)]
        assert len(set(ids)) == 6
    finally:
        for store in opened:
            store.close()


def test_a_database_from_a_newer_smallbot_is_refused_untouched(postgres_url, tmp_path):
    _open(tmp_path).close()
    _sql(postgres_url, "INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 0)")
    with pytest.raises(StoreError, match="schema version 999, newer than this smallbot's"):
        _open(tmp_path)
    assert max(r[0] for r in _sql(postgres_url, "SELECT version FROM schema_version")) == 999


def test_a_command_that_only_reads_or_erases_does_not_create_a_log(postgres_url, tmp_path):
    with pytest.raises(StoreError, match="no conversation log in 127.0.0.1:"):
        open_store(tmp_path, CONFIG, create=False)
    assert _tables(postgres_url) == []


def test_connection_problems_are_clear_and_never_show_the_password(postgres_server, postgres_url, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv(DATABASE_URL_VAR, postgres_url.replace(postgres_server.password, "not-the-password"))
    with pytest.raises(StoreError, match="password authentication failed") as refused:
        _open(tmp_path)
    assert "not-the-password" not in str(refused.value)
    monkeypatch.delenv(DATABASE_URL_VAR)
    with pytest.raises(StoreError, match=f"environment variable {DATABASE_URL_VAR} is not set"):
        _open(tmp_path)
    with pytest.raises(StoreError, match=r"needs store.url"):
        open_store(tmp_path, StoreConfig(backend="postgres"))


def test_forget_leaves_no_row_that_mentions_the_conversation(postgres_url, tmp_path):
    secret = "my passport number is XK-99431-SECRET"
    with _open(tmp_path) as store:
        for conversation in ("erase-me", "keep-me"):
            text = secret if conversation == "erase-me" else "unrelated question"
            store.log_turn(Message(conversation, text, user="ada", metadata={"message_ref": "r1"}),
                           Reply(ReplyKind.SUGGEST, "did you mean", sources=(Source("a", "A?"),),
                                 suggestions=(Suggestion("a", "A?"), Suggestion("b", "B?"))))
            store.log_turn(Message(conversation, "human please"), Reply(ReplyKind.HANDOFF, "connecting"))
            store.log_feedback(conversation, "r1", -1, f"bad answer to {text}")
            asyncio.run(store.apause(conversation, {"question": text}))
        erased = store.forget("erase-me")
        assert (erased.conversations, erased.messages, erased.feedback, erased.handoffs) == (1, 2, 1, 1)
    tables = _tables(postgres_url)
    assert len(tables) >= 8
    for needle in ("erase-me", "XK-99431"):
        mentions = {t: _sql(postgres_url, f"SELECT count(*) FROM {t} AS row WHERE row::text LIKE %s",
                            (f"%{needle}%",))[0][0] for t in tables}
        assert mentions == dict.fromkeys(tables, 0), needle
    assert _sql(postgres_url, "SELECT count(*) FROM messages WHERE conversation_id = 'keep-me'") == [(2,)]


CLAIMER = textwrap.dedent("""
    import asyncio, sys
    from smallbot.project.config import Secret, StoreConfig
    from smallbot.store import open_store

    store = open_store(".", StoreConfig(backend="postgres", url=Secret(sys.argv[1])))

    async def main():
        won = await asyncio.gather(*(store.aclaim_delivery(f"slack:Ev{i}", 60) for i in range(40)))
        for i, ok in enumerate(won):
            if ok:
                print(i, flush=True)

    asyncio.run(main())
    store.close()
""")


@pytest.mark.slow
def test_of_several_processes_claiming_the_same_deliveries_each_is_taken_once(postgres_url, tmp_path):
    _open(tmp_path).close()
    claimers = [subprocess.Popen([sys.executable, "-c", CLAIMER, DATABASE_URL_VAR], stdout=subprocess.PIPE,
                                 text=True, cwd=tmp_path) for _ in range(4)]
    taken: list[int] = []
    for claimer in claimers:
        out, _ = claimer.communicate(timeout=120)
        assert claimer.returncode == 0
        taken += [int(line) for line in out.split()]
    assert sorted(taken) == list(range(40))


WRITER = textwrap.dedent("""
    import asyncio, sys
    from smallbot.project.config import Secret, StoreConfig
    from smallbot.store import open_store
    from smallbot.types import Message, Reply, ReplyKind

    store = open_store(".", StoreConfig(backend="postgres", url=Secret(sys.argv[1])))

    async def burst():
        async def one(i):
            message_id = await store.alog_turn(Message(f"k{i % 7}", f"burst {i}"), Reply(ReplyKind.ANSWER, "a"))
            print(message_id, flush=True)  # acknowledged: the row is committed
        for start in range(0, 100_000, 16):  # bounded; killed long before the end
            await asyncio.gather(*(one(start + j) for j in range(16)))

    asyncio.run(burst())
""")


@pytest.mark.slow
def test_kill_9_mid_burst_loses_no_acknowledged_write(postgres_url, tmp_path):
    process = subprocess.Popen([sys.executable, "-c", WRITER, DATABASE_URL_VAR], stdout=subprocess.PIPE, text=True,
                               cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < 300:
            line = process.stdout.readline()
            assert line, f"writer exited early with {process.poll()}"
            acknowledged.append(int(line))
        process.send_signal(signal.SIGKILL)  # mid-burst: writes are queued and in flight right now
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    acknowledged += [int(line) for line in rest.split()]
    assert process.returncode == -signal.SIGKILL
    with _open(tmp_path) as store:
        stored = {t.id for t in store.turns()}
    assert set(acknowledged) <= stored and len(acknowledged) >= 300


def test_the_rate_limit_is_one_bucket_per_client_across_replicas(postgres_url, tmp_path):
    first, second = _open(tmp_path), _open(tmp_path)
    try:
        assert isinstance(first, SharedBuckets)

        async def main():
            taken = [await store.arate_limit("10.0.0.1", 6, 3) for store in (first, second, first)]
            refused = await second.arate_limit("10.0.0.1", 6, 3)
            other = await second.arate_limit("10.0.0.2", 6, 3)
            return taken, refused, other

        taken, refused, other = asyncio.run(main())
        assert taken == [0.0, 0.0, 0.0] and other == 0.0
        assert 9.0 < refused <= 10.0  # 6 a minute: the next token in about 10 s, counted on the database's clock
    finally:
        first.close()
        second.close()


def test_the_web_limiter_uses_the_shared_buckets_and_falls_back_while_the_store_cannot_answer(postgres_url,
                                                                                             tmp_path):
    store = _open(tmp_path)
    limiter = rate_limiter(store, per_minute=6, burst=1)

    async def main():
        shared = [await limiter.acheck("10.0.0.9") for _ in range(2)]
        store.close()  # the store now refuses: the replica's own bucket decides
        local = [await limiter.acheck("10.0.0.9") for _ in range(2)]
        return shared, local

    shared, local = asyncio.run(main())
    assert shared[0] == 0.0 and shared[1] > 0
    assert local[0] == 0.0 and local[1] > 0


def test_a_failed_write_in_a_group_commit_fails_alone_and_the_rest_commit_in_order(postgres_url, tmp_path):
    """The group is first tried without savepoints; a failure rolls it back and runs it again with one per write."""
    from smallbot.store.postgres import _Job

    with _open(tmp_path) as store:
        jobs = [_Job(store._turn_writer(Message("g1", f"q{i}"), Reply(ReplyKind.ANSWER, "a"))) for i in range(3)]
        jobs.insert(1, _Job(store._feedback_writer("missing", None, 1, "")))
        store._run_batch(jobs)
        with pytest.raises(StoreError, match="no conversation 'missing'"):
            jobs[1].future.result(timeout=0)
        ids = [job.future.result(timeout=0) for job in (jobs[0], jobs[2], jobs[3])]
        assert [t.id for t in store.turns("g1")] == ids == sorted(ids)
        assert [t.text for t in store.turns("g1")] == ["q0", "q1", "q2"]


def test_retention_purges_old_conversations_when_a_replica_starts(postgres_url, tmp_path):
    import time

    now = time.time()
    with _open(tmp_path) as store:
        store.log_turn(Message("old", "hi", received_at=now - 40 * 86400), Reply(ReplyKind.RESPOND, "hello"))
        store.log_turn(Message("new", "hi", received_at=now), Reply(ReplyKind.RESPOND, "hello"))
    with _open(tmp_path, retention_days=30) as store:
        assert [c.id for c in store.conversations()] == ["new"]
