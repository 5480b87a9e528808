"""SQLite specifics: schema migrations, concurrent writers (threads, event loop, aiohttp), retention at
start-up, and that `kill -9` during a burst loses no acknowledged write."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from smallbot.project.config import StoreConfig
from smallbot.errors import StoreError
from smallbot.store import open_store
from smallbot.store.sqlite import SCHEMA_VERSION, SQLiteStore
from smallbot.types import Message, Reply, ReplyKind

# The schema of the first release, written by hand exactly as that release created it.
V1_SCHEMA = """
CREATE TABLE conversations (id TEXT PRIMARY KEY, channel TEXT NOT NULL, user TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, text TEXT NOT NULL,
    reply_kind TEXT NOT NULL, reply_text TEXT NOT NULL, intent TEXT, confidence REAL NOT NULL,
    sources TEXT NOT NULL, timings TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
"""


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def _write_v1(path: Path, user_version: int) -> None:
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO conversations VALUES ('old', 'slack', 'U1', 100.0, 200.0)")
    db.execute("INSERT INTO messages(conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
               "timings, created_at) VALUES ('old', 'refund?', 'answer', 'Within 30 days.', 'faq', 0.9, "
               "'[\"refund\"]', '{\"total\": 7.0}', 150.0)")
    db.execute(f"PRAGMA user_version={user_version}")
    db.commit()
    db.close()


@pytest.mark.parametrize("user_version", [1, 0], ids=["v1", "v1-without-user-version"])
def test_a_first_release_file_is_migrated_with_its_data(tmp_path, user_version):
    path = tmp_path / "old.sqlite3"
    _write_v1(path, user_version)

    with SQLiteStore(path) as store:
        [turn] = store.turns()
        assert (turn.conversation_id, turn.text, turn.reply_kind, turn.sources) == (
            "old", "refund?", ReplyKind.ANSWER, ("refund",))
        assert (turn.reason, turn.suggestions, dict(turn.timings)) == ("", (), {"total": 7.0})
        store.log_feedback("old", turn.id, -1, "outdated")  # the new tables work on migrated data
        assert store.feedback()[0].message_id == turn.id

    assert _user_version(path) == SCHEMA_VERSION
    assert {"reason", "suggestions"} <= set(_columns(path, "messages"))
    assert _columns(path, "feedback") == ["id", "conversation_id", "message_id", "score", "comment", "created_at"]
    assert "resolved_at" in _columns(path, "handoffs")


def test_a_version_3_file_is_migrated_and_keeps_its_data(tmp_path):
    from smallbot.store.sqlite import _MIGRATIONS

    path = tmp_path / "v3.sqlite3"
    db = sqlite3.connect(path)  # the file version 3 wrote: shipped migrations never change
    for script in _MIGRATIONS[:3]:
        db.executescript(script)
    db.executescript("""
        INSERT INTO conversations VALUES ('T1:C1:1.1', 'slack', 'U1', 100.0, 200.0);
        INSERT INTO messages(conversation_id, text, reply_kind, reply_text, intent, confidence, sources, timings,
            created_at, reason, suggestions, ref) VALUES ('T1:C1:1.1', 'talk to a human', 'handoff',
            'Connecting you.', 'talk_to_human', 0.9, '[]', '{}', 150.0, 'intent talk_to_human', '[]', 'r1');
        INSERT INTO handoffs(conversation_id, message_id, reason, opened_at) VALUES ('T1:C1:1.1', 1, 'asked', 150.0);
        PRAGMA user_version=3;
    """)
    db.close()

    with SQLiteStore(path) as store:
        assert [t.text for t in store.turns()] == ["talk to a human"] and store.handoffs()[0].is_open
        assert asyncio.run(store.aclaim_delivery("slack:Ev1", 60)) is True
        asyncio.run(store.apause("T1:C1:1.1", {"user": "U1"}))
    assert _user_version(path) == SCHEMA_VERSION == 4
    assert {"deliveries", "paused_conversations"} <= _tables(path)
    with SQLiteStore(path) as store:  # and the state is there for the next process
        assert store.delivery_status("slack:Ev1") == "handling" and store.paused("T1:C1:1.1") == {"user": "U1"}
        store.forget("T1:C1:1.1")
        assert store.paused("T1:C1:1.1") is None


def test_an_empty_v0_file_gets_the_whole_schema(tmp_path):
    path = tmp_path / "empty.sqlite3"
    sqlite3.connect(path).close()
    with SQLiteStore(path) as store:
        store.log_turn(Message("c1", "hi"), Reply(ReplyKind.RESPOND, "Hello"))
    assert _user_version(path) == SCHEMA_VERSION
    assert _columns(path, "handoffs")


def test_reopening_a_current_file_changes_nothing(tmp_path):
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        store.log_turn(Message("c1", "hi"), Reply(ReplyKind.RESPOND, "Hello"))
    with SQLiteStore(path) as store:
        assert len(store.turns()) == 1
    assert _user_version(path) == SCHEMA_VERSION


def test_a_file_from_a_newer_smallbot_is_refused_untouched(tmp_path):
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this smallbot"):
        SQLiteStore(path)
    assert _user_version(path) == SCHEMA_VERSION + 1


def test_a_file_that_is_not_sqlite_gets_a_clear_error(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(StoreError, match="cannot open the conversation store"):
        SQLiteStore(path)


def test_many_threads_writing_at_once_lose_nothing(tmp_path):
    store = SQLiteStore(tmp_path / "log.sqlite3")
    acknowledged: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(25):
            message_id = store.log_turn(Message(f"t{n}", f"q{i}"), Reply(ReplyKind.ANSWER, "a"))
            if i % 5 == 0:
                store.log_feedback(f"t{n}", message_id, 1)
            with lock:
                acknowledged.append(message_id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    with SQLiteStore(tmp_path / "log.sqlite3") as reopened:
        turns = reopened.turns()
        assert sorted(acknowledged) == [t.id for t in turns] and len(turns) == 200
        for n in range(8):  # each thread's turns are in its own order
            assert [t.text for t in reopened.turns(f"t{n}")] == [f"q{i}" for i in range(25)]
        assert len(reopened.feedback()) == 40


def test_async_writes_do_not_block_the_event_loop(tmp_path):
    """While 200 writes are in flight the loop keeps running other tasks (ticks advance between them)."""
    store = SQLiteStore(tmp_path / "log.sqlite3", synchronous="FULL")
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        ids = []
        for i in range(200):
            ids.append(await store.alog_turn(Message("c1", f"q{i}"), Reply(ReplyKind.ANSWER, "a")))
        stop.set()
        await task
        return ids

    ids = asyncio.run(main())
    store.close()
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert ticks >= 200  # the loop ran the ticker while every single write was waiting on the writer thread


@pytest.mark.asyncio
async def test_aiohttp_handlers_log_concurrently_through_the_async_api(tmp_path, aiohttp_client):
    store_key = web.AppKey("store", SQLiteStore)

    async def ask(request: web.Request) -> web.Response:
        body = await request.json()
        message_id = await request.app[store_key].alog_turn(
            Message(body["conversation"], body["text"], channel="web"), Reply(ReplyKind.ANSWER, "ok"))
        return web.json_response({"message_id": message_id})

    async def feedback(request: web.Request) -> web.Response:
        body = await request.json()
        feedback_id = await request.app[store_key].alog_feedback(body["conversation"], body["message_id"],
                                                                  body["score"])
        return web.json_response({"feedback_id": feedback_id})

    async def store_ctx(app: web.Application):
        app[store_key] = SQLiteStore(tmp_path / "log.sqlite3")
        yield
        app[store_key].close()

    app = web.Application()
    app.cleanup_ctx.append(store_ctx)
    app.router.add_post("/ask", ask)
    app.router.add_post("/feedback", feedback)
    client = await aiohttp_client(app)

    async def one(i: int) -> int:
        response = await client.post("/ask", json={"conversation": f"w{i % 4}", "text": f"q{i}"})
        assert response.status == 200
        return (await response.json())["message_id"]

    ids = await asyncio.gather(*(one(i) for i in range(40)))
    response = await client.post("/feedback", json={"conversation": "w0", "message_id": ids[0], "score": -1})
    assert response.status == 200
    store = app[store_key]
    assert sorted(ids) == [t.id for t in store.turns()]
    assert [(f.message_id, f.score) for f in store.feedback()] == [(ids[0], -1)]


def test_retention_days_purges_old_conversations_when_the_bot_starts(tmp_path):
    day = 86400.0
    with SQLiteStore(tmp_path / ".smallbot" / "conversations.sqlite3") as store:
        store.log_turn(Message("old", "hi", received_at=time.time() - 100 * day), Reply(ReplyKind.RESPOND, "a"))
        store.log_turn(Message("recent", "hi", received_at=time.time() - 2 * day), Reply(ReplyKind.RESPOND, "a"))
    with open_store(tmp_path, StoreConfig(retention_days=30)) as store:
        assert [c.id for c in store.conversations()] == ["recent"]
    with open_store(tmp_path, StoreConfig(retention_days=0)) as store:  # 0 keeps everything
        assert [c.id for c in store.conversations()] == ["recent"]


WRITER = textwrap.dedent("""
    import asyncio, sys
    from smallbot.store.sqlite import SQLiteStore
    from smallbot.types import Message, Reply, ReplyKind

    store = SQLiteStore(sys.argv[1])

    async def burst():
        async def one(i):
            message_id = await store.alog_turn(Message(f"k{i % 7}", f"burst {i}"), Reply(ReplyKind.ANSWER, "a"))
            print(message_id, flush=True)  # acknowledged: the row is committed
        i = 0
        while True:  # until killed
            await asyncio.gather(*(one(i + j) for j in range(16)))
            i += 16

    asyncio.run(burst())
""")


@pytest.mark.slow
def test_kill_9_mid_burst_loses_no_acknowledged_write(tmp_path):
    path = tmp_path / "log.sqlite3"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < 500:
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
    with SQLiteStore(path) as store:
        stored = {t.id for t in store.turns()}
    assert set(acknowledged) <= stored
    assert len(acknowledged) >= 500


def test_forget_leaves_no_trace_of_the_text_in_the_files_on_disk(tmp_path):
    path = tmp_path / "log.sqlite3"
    secret = "my passport number is XK-99431-SECRET"
    with SQLiteStore(path) as store:
        store.log_turn(Message("keep", "unrelated question"), Reply(ReplyKind.ANSWER, "fine"))
        store.log_turn(Message("erase-me", secret), Reply(ReplyKind.FALLBACK, "I don't know."))
        assert secret.encode() in b"".join(p.read_bytes() for p in tmp_path.iterdir())
        store.forget("erase-me")
        on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert b"XK-99431" not in on_disk
        assert [t.text for t in store.turns()] == ["unrelated question"]


def test_an_acknowledged_turn_is_seen_at_once_by_another_handle_on_the_file(tmp_path):
    """What `smallbot serve --workers N` relies on for follow-ups: each worker opens the file itself."""
    from smallbot.types import Suggestion

    path = tmp_path / "shared.sqlite3"
    with SQLiteStore(path) as first, SQLiteStore(path) as second:
        reply = Reply(ReplyKind.SUGGEST, "Did you mean?", "c1", suggestions=(Suggestion("refund", "Refund?"),))
        first.log_turn(Message("c1", "money back?"), reply)
        assert [t.suggestions for t in second.turns("c1", last=4)] == [("refund",)]
        asyncio.run(second.alog_turn(Message("c1", "2"), Reply(ReplyKind.ANSWER, "Refunds...", "c1")))
        assert [t.text for t in first.turns("c1", last=1)] == ["2"]


def test_reading_a_conversation_s_last_turns_walks_its_index_not_the_table(tmp_path):
    with SQLiteStore(tmp_path / "plan.sqlite3") as store, sqlite3.connect(store.path) as db:
        plan = " ".join(str(row) for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE conversation_id = ? AND created_at >= ? "
            "ORDER BY id DESC LIMIT 4", ("c1", 0.0)))
    assert "messages_by_conversation" in plan and "TEMP B-TREE" not in plan
