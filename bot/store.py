"""Conversation log: every message and reply, in SQLite by default (one file in the bot directory).

`Store` is the seam for other backends (Postgres or Redis for several replicas); `SQLiteStore` is the
embedded default, in WAL mode so readers never block the writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from .types import Message, Reply

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    reply_kind TEXT NOT NULL,
    reply_text TEXT NOT NULL,
    intent TEXT,
    confidence REAL NOT NULL,
    sources TEXT NOT NULL,
    timings TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    message_ref TEXT NOT NULL,
    score INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
"""


class Store(Protocol):
    """Where turns are kept."""

    def log_turn(self, message: Message, reply: Reply) -> int: ...

    def history(self, conversation_id: str, limit: int = 50) -> list[dict]: ...

    def close(self) -> None: ...


class SQLiteStore:
    """The default store.

    >>> store = SQLiteStore(Path("mybot/.smallbot/conversations.sqlite3"))
    >>> store.history("c1")
    []
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def log_turn(self, message: Message, reply: Reply) -> int:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT INTO conversations(id, channel, user, started_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET updated_at=excluded.updated_at",
                    (message.conversation_id, message.channel, message.user, now, now))
                cursor = self._db.execute(
                    "INSERT INTO messages(conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
                    "timings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (message.conversation_id, message.text, reply.kind.value, reply.text, reply.intent,
                     float(reply.confidence), json.dumps([s.entry_id for s in reply.sources]),
                     json.dumps(dict(reply.timings)), now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return int(cursor.lastrowid)

    def history(self, conversation_id: str, limit: int = 50) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT text, reply_kind, reply_text, intent, confidence, sources, created_at FROM messages "
                "WHERE conversation_id=? ORDER BY id DESC LIMIT ?", (conversation_id, limit)).fetchall()
        return [{"text": r[0], "reply_kind": r[1], "reply_text": r[2], "intent": r[3], "confidence": r[4],
                 "sources": json.loads(r[5]), "created_at": r[6]} for r in reversed(rows)]

    def log_feedback(self, conversation_id: str, message_ref: str, score: int, comment: str = "") -> int:
        """Keep a thumbs up (+1) or down (-1) on one reply; `message_ref` is the connector's id for it."""
        if score not in (1, -1):
            raise ValueError(f"feedback score must be 1 or -1, got {score!r}")
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO feedback(conversation_id, message_ref, score, comment, created_at) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, message_ref, score, comment, time.time()))
            return int(cursor.lastrowid)

    def close(self) -> None:
        with self._lock:
            self._db.close()
