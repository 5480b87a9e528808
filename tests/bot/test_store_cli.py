"""`smallbot forget` through the real console entry point (a subprocess), on a real log file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smallbot.store.sqlite import SQLiteStore
from smallbot.types import Message, Reply, ReplyKind


def _smallbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smallbot", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_forget_erases_one_conversation_and_reports_what_it_removed(tiny_project: Path):
    with SQLiteStore(tiny_project / ".smallbot" / "conversations.sqlite3") as store:
        for conversation in ("erase-me", "keep-me"):
            store.log_turn(Message(conversation, "hello"), Reply(ReplyKind.RESPOND, "Hello!"))
            store.log_turn(Message(conversation, "human!"), Reply(ReplyKind.HANDOFF, "Connecting you."))
            store.log_feedback(conversation, None, -1)

    done = _smallbot("forget", str(tiny_project), "erase-me")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "erased conversation erase-me: 2 messages, 1 feedback, 1 handoffs"
    with SQLiteStore(tiny_project / ".smallbot" / "conversations.sqlite3") as store:
        assert [c.id for c in store.conversations()] == ["keep-me"]
        assert {t.conversation_id for t in store.turns()} == {"keep-me"}

    again = _smallbot("forget", str(tiny_project), "erase-me")
    assert again.returncode == 1 and "no conversation 'erase-me'" in again.stderr


@pytest.mark.slow
def test_forget_without_a_log_says_so(tiny_project: Path):
    done = _smallbot("forget", str(tiny_project), "c1")
    assert done.returncode == 1 and "no conversation log" in done.stderr
    assert not (tiny_project / ".smallbot" / "conversations.sqlite3").exists()


@pytest.mark.slow
def test_forget_against_postgres_leaves_no_row_that_mentions_the_conversation(tiny_project: Path, postgres_url):
    import psycopg

    from smallbot.project.config import Secret, StoreConfig
    from smallbot.store import open_store
    from tests.support.stores import DATABASE_URL_VAR, bot_yml_store

    (tiny_project / "bot.yml").write_text((tiny_project / "bot.yml").read_text() + bot_yml_store("postgres"))
    config = StoreConfig(backend="postgres", url=Secret(DATABASE_URL_VAR))
    with open_store(tiny_project, config) as store:
        for conversation in ("erase-me", "keep-me"):
            store.log_turn(Message(conversation, f"{conversation}: my card ends 4242"), Reply(ReplyKind.RESPOND, "Ok"))
            store.log_turn(Message(conversation, "human!"), Reply(ReplyKind.HANDOFF, "Connecting you."))
            store.log_feedback(conversation, None, -1)

    done = _smallbot("forget", str(tiny_project), "erase-me")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "erased conversation erase-me: 2 messages, 1 feedback, 1 handoffs"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "messages" in tables and "feedback" in tables
        for table in tables:
            row = conn.execute(f"SELECT count(*) FROM {table} AS row WHERE row::text LIKE '%%erase-me%%'").fetchone()
            assert row == (0,), table
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (2,)
    again = _smallbot("forget", str(tiny_project), "erase-me")
    assert again.returncode == 1 and "no conversation 'erase-me'" in again.stderr
