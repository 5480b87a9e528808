"""Copy an SQLite conversation log into PostgreSQL (`smallbot migrate`), so a team that moves to several
replicas keeps its history: turns, feedback, handoffs, pauses and the deliveries still remembered.

Why it works this way: the copy runs in one transaction under an advisory lock, so it is all or nothing and two
copies cannot interleave; each copied row is recorded against its source row (imported_* tables), so running it
again copies only what was added since, while the database already takes new turns from running replicas
(their ids come from PostgreSQL, never from the SQLite file).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smallbot.errors import StoreError
from smallbot.store.postgres import apply_migrations, describe

if TYPE_CHECKING:
    import psycopg

COPY_LOCK = 0x736D616C6C636F70  # pg_advisory_xact_lock key of copies, apart from the schema migrations'


@dataclass(frozen=True)
class Copied:
    """Rows added by one copy (0 everywhere when it ran before and nothing is new)."""

    conversations: int = 0
    messages: int = 0
    feedback: int = 0
    handoffs: int = 0
    pauses: int = 0
    deliveries: int = 0


def copy_sqlite_to_postgres(source: Path, conninfo: str) -> Copied:
    """Copy the SQLite log at `source` into the PostgreSQL database at `conninfo` (its schema is created or
    upgraded first). Idempotent: rows copied before are skipped."""
    import psycopg
    from psycopg.types.json import Jsonb

    from smallbot.store.sqlite import SQLiteStore

    source = Path(source)
    if not source.exists():
        raise StoreError(f"no SQLite conversation log at {source}")
    SQLiteStore(source).close()  # brings an older file up to the current schema, as the bot itself would
    key = "sqlite:" + os.path.realpath(source)
    where = describe(conninfo)
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        with psycopg.connect(conninfo, autocommit=True) as pg:
            apply_migrations(pg, where)
            with pg.transaction():
                pg.execute("SELECT pg_advisory_xact_lock(%s)", (COPY_LOCK,))
                return _copy(lite, pg, key, Jsonb)
    except psycopg.Error as exc:
        raise StoreError(f"copying {source} into {where} failed: {exc}; nothing was copied") from exc
    finally:
        lite.close()


def _copy(lite: sqlite3.Connection, pg: "psycopg.Connection", key: str, jsonb: type) -> Copied:
    conversations = 0
    for row in lite.execute("SELECT id, channel, user, started_at, updated_at FROM conversations ORDER BY rowid"):
        cursor = pg.execute(
            "INSERT INTO conversations AS c (id, channel, user_name, started_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "started_at = least(c.started_at, excluded.started_at), "
            "updated_at = greatest(c.updated_at, excluded.updated_at) RETURNING (xmax = 0)",
            row,
        )
        inserted = cursor.fetchone()
        conversations += bool(inserted and inserted[0])

    messages = _mapped(pg, "imported_messages", "message_id", key)
    added_messages = 0
    for r in lite.execute(
        "SELECT id, conversation_id, text, reply_kind, reply_text, intent, confidence, sources, suggestions, reason, "
        "timings, ref, created_at FROM messages ORDER BY id"
    ):
        if r[0] in messages:
            continue
        new_id = _insert(
            pg,
            "INSERT INTO messages (conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
            "suggestions, reason, timings, ref, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                jsonb(json.loads(r[7])),
                jsonb(json.loads(r[8])),
                r[9],
                jsonb(json.loads(r[10])),
                r[11],
                r[12],
            ),
        )
        pg.execute(
            "INSERT INTO imported_messages (source, source_id, message_id) VALUES (%s, %s, %s)", (key, r[0], new_id)
        )
        messages[r[0]] = new_id
        added_messages += 1

    done_feedback = _mapped(pg, "imported_feedback", "feedback_id", key)
    added_feedback = 0
    for r in lite.execute(
        "SELECT id, conversation_id, message_id, score, comment, created_at FROM feedback ORDER BY id"
    ):
        if r[0] in done_feedback or r[2] not in messages:
            continue
        new_id = _insert(
            pg,
            "INSERT INTO feedback (conversation_id, message_id, score, comment, created_at) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (r[1], messages[r[2]], r[3], r[4], r[5]),
        )
        pg.execute(
            "INSERT INTO imported_feedback (source, source_id, feedback_id) VALUES (%s, %s, %s)", (key, r[0], new_id)
        )
        added_feedback += 1

    done_handoffs = _mapped(pg, "imported_handoffs", "handoff_id", key)
    added_handoffs = 0
    for r in lite.execute(
        "SELECT id, conversation_id, message_id, reason, opened_at, resolved_at, resolution FROM handoffs ORDER BY id"
    ):
        if r[0] in done_handoffs or (r[2] is not None and r[2] not in messages):
            continue
        new_id = _insert(
            pg,
            "INSERT INTO handoffs (conversation_id, message_id, reason, opened_at, resolved_at, resolution) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (r[1], messages.get(r[2]) if r[2] is not None else None, r[3], r[4], r[5], r[6]),
        )
        pg.execute(
            "INSERT INTO imported_handoffs (source, source_id, handoff_id) VALUES (%s, %s, %s)", (key, r[0], new_id)
        )
        added_handoffs += 1

    pauses = 0
    for r in lite.execute("SELECT conversation_id, paused_at, detail FROM paused_conversations"):
        pauses += pg.execute(
            "INSERT INTO paused_conversations (conversation_id, paused_at, detail) VALUES (%s, %s, %s) "
            "ON CONFLICT (conversation_id) DO NOTHING",
            (r[0], r[1], jsonb(json.loads(r[2]))),
        ).rowcount
    deliveries = 0
    for r in lite.execute("SELECT id, status, expires_at FROM deliveries"):
        deliveries += pg.execute(
            "INSERT INTO deliveries (id, status, expires_at) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING", r
        ).rowcount
    return Copied(conversations, added_messages, added_feedback, added_handoffs, pauses, deliveries)


def _mapped(pg: "psycopg.Connection", table: str, column: str, key: str) -> dict[int, int]:
    rows = pg.execute(f"SELECT source_id, {column} FROM {table} WHERE source = %s", (key,)).fetchall()
    return {int(source_id): int(target) for source_id, target in rows}


def _insert(pg: "psycopg.Connection", sql: str, params: tuple) -> int:
    row = pg.execute(sql, params).fetchone()
    if row is None:
        raise StoreError("the database returned no id for the row just copied")
    return int(row[0])
