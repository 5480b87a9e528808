"""`smallbot migrate`: an SQLite log copied into PostgreSQL keeps every turn, feedback, handoff and pause, and
running the copy again adds only what is new, beside turns the replicas already wrote to PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from smallbot.project.config import Secret, StoreConfig
from smallbot.store import open_store
from smallbot.store.transfer import Copied, copy_sqlite_to_postgres
from smallbot.types import Message, Reply, ReplyKind, Source, Suggestion
from tests.conftest import TINY_BOT, write_project
from tests.support.stores import DATABASE_URL_VAR, bot_yml_store

POSTGRES = StoreConfig(backend="postgres", url=Secret(DATABASE_URL_VAR))


def _fill(root: Path, conversations: range) -> None:
    with open_store(root, StoreConfig()) as lite:
        for i in conversations:
            cid = f"c{i}"
            lite.log_turn(Message(cid, f"question {i}", user=f"u{i}", channel="web", received_at=1000.0 + i,
                                  metadata={"message_ref": f"m{i}"}),
                          Reply(ReplyKind.SUGGEST, f"did you mean {i}", cid, intent="faq", confidence=0.5,
                                sources=(Source("refund", "Refund?"),),
                                suggestions=(Suggestion("refund", "Refund?"), Suggestion("hours", "Hours?")),
                                reason="suggest band", timings={"encode": 1.5}))
            lite.log_turn(Message(cid, "human", received_at=1001.0 + i), Reply(ReplyKind.HANDOFF, "connecting", cid))
            lite.log_feedback(cid, f"m{i}", -1, "wrong")
        lite.resolve_handoff("c0", "done by Sam")
        asyncio.run(lite.apause(f"c{conversations[-1]}", {"user": "U1"}))


def _view(store) -> tuple:
    """Everything but row ids (PostgreSQL gives its own), with references between rows resolved to texts."""
    turns = {t.id: t for t in store.turns()}
    return (
        [(c.id, c.channel, c.user, c.started_at, c.updated_at) for c in store.conversations()],
        [(t.conversation_id, t.text, t.reply_kind, t.reply_text, t.intent, t.confidence, t.sources, t.suggestions,
          t.reason, dict(t.timings), t.created_at) for t in turns.values()],
        [(f.conversation_id, turns[f.message_id].text, f.score, f.comment) for f in store.feedback()],
        [(h.conversation_id, turns[h.message_id].text if h.message_id else None, h.reason, h.resolved_at is None,
          h.resolution) for h in store.handoffs()],
    )


def test_the_copy_keeps_the_history_and_running_it_again_adds_only_what_is_new(tmp_path, postgres_url):
    _fill(tmp_path, range(0, 3))
    source = tmp_path / StoreConfig().path
    first = copy_sqlite_to_postgres(source, postgres_url)
    assert first == Copied(conversations=3, messages=6, feedback=3, handoffs=3, pauses=1, deliveries=0)
    with open_store(tmp_path, StoreConfig()) as lite, open_store(tmp_path, POSTGRES) as pg:
        assert _view(pg) == _view(lite)
        assert asyncio.run(pg.apaused("c2")) == {"user": "U1"}
        # a replica writes to PostgreSQL; the copy must not disturb it (its ids are PostgreSQL's)
        pg.log_turn(Message("live", "asked on a replica"), Reply(ReplyKind.ANSWER, "answered"))

    assert copy_sqlite_to_postgres(source, postgres_url) == Copied()
    _fill(tmp_path, range(3, 5))  # the SQLite bot kept running before the switch
    assert copy_sqlite_to_postgres(source, postgres_url) == Copied(
        conversations=2, messages=4, feedback=2, handoffs=2, pauses=1, deliveries=0)
    with open_store(tmp_path, StoreConfig()) as lite, open_store(tmp_path, POSTGRES) as pg:
        copied = _view(pg)
        lite_view = _view(lite)
        assert [row for row in copied[1] if row[0] != "live"] == lite_view[1]
        assert [c for c in copied[0] if c[0] != "live"] == lite_view[0]
        assert copied[2:] == lite_view[2:]
        assert [t.text for t in pg.turns("live")] == ["asked on a replica"]


def test_a_missing_sqlite_log_is_named(tmp_path, postgres_url):
    from smallbot.errors import StoreError

    with pytest.raises(StoreError, match="no SQLite conversation log at"):
        copy_sqlite_to_postgres(tmp_path / "nope.sqlite3", postgres_url)


def _smallbot(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smallbot", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


@pytest.mark.slow
def test_smallbot_migrate_copies_into_the_database_bot_yml_names(tmp_path, postgres_url):
    root = write_project(tmp_path / "tiny", TINY_BOT)
    _fill(root, range(0, 2))
    (root / "bot.yml").write_text((root / "bot.yml").read_text() + bot_yml_store("postgres"))

    done = _smallbot("migrate", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 new conversations, 4 messages, 2 feedback, 2 handoffs, 1 pauses" in done.stdout
    again = _smallbot("migrate", str(root), cwd=tmp_path)
    assert again.returncode == 0 and "nothing new" in again.stderr
    with open_store(root, POSTGRES) as pg:
        assert len(pg.turns()) == 4

    (root / "bot.yml").write_text("name: Tiny\n")
    refused = _smallbot("migrate", str(root), cwd=tmp_path)
    assert refused.returncode == 2 and "set store.backend: postgres" in refused.stderr
