"""The embedded default store: one SQLite file in the bot directory. Why it is built the way it is:

- Writes go through one write connection and a queue; whoever holds the write lock (the writer thread, or
  a blocking caller when the store is quiet) commits everything that has piled up in one transaction
  (group commit). A write is acknowledged (its future resolves) only after its COMMIT returned,
  so a crash or `kill -9` of the process never loses an acknowledged row: in WAL mode a committed
  transaction is in the WAL file before COMMIT returns (`synchronous=NORMAL` risks only the last
  transactions on power loss; pass `synchronous="FULL"` to fsync every commit).
- `alog_turn` and friends await that future from the event loop without blocking it; the sync methods wait
  on the same future from worker threads (`Bot.handle` runs in one).
- Readers use their own connection; WAL lets them read while the writer writes.
- The schema is versioned with `PRAGMA user_version` and upgraded by ordered migrations on open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from smallbot.errors import StoreError
from smallbot.store.records import ConversationRecord, Erased, FeedbackRecord, HandoffRecord, TurnRecord
from smallbot.types import Message, Reply, ReplyKind

if TYPE_CHECKING:
    from smallbot.project.config import StoreConfig

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
_DAY = 86400.0

# Each migration takes the file from version n-1 to n. Never edit one that shipped; append a new one.
_MIGRATIONS: tuple[str, ...] = (
    # 1: the first release: conversations and messages
    """
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
    """,
    # 2: reasons and suggestions on messages (the learning loop needs them), feedback, handoffs
    """
    ALTER TABLE messages ADD COLUMN reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN suggestions TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX IF NOT EXISTS messages_by_time ON messages(created_at);
    CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated_at);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        score INTEGER NOT NULL CHECK (score IN (-1, 1)),
        comment TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE INDEX feedback_by_message ON feedback(message_id);
    CREATE TABLE handoffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        reason TEXT NOT NULL DEFAULT '',
        opened_at REAL NOT NULL,
        resolved_at REAL,
        resolution TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX handoffs_by_conversation ON handoffs(conversation_id);
    """,
    # 3: the connector's own reference for a reply (the web widget rates replies by it)
    """
    ALTER TABLE messages ADD COLUMN ref TEXT NOT NULL DEFAULT '';
    CREATE INDEX messages_by_ref ON messages(conversation_id, ref);
    """,
    # 4: connector state that must survive a restart and be shared by replicas: delivery ids already taken
    # (a channel's retries are dropped; rows expire) and conversations paused while a person has them
    """
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('handling', 'done', 'failed')),
        expires_at REAL NOT NULL
    );
    CREATE INDEX deliveries_by_expiry ON deliveries(expires_at);
    CREATE TABLE paused_conversations (
        conversation_id TEXT PRIMARY KEY,
        paused_at REAL NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


@dataclass
class _Job:
    work: Callable[[sqlite3.Connection], Any]
    future: Future = field(default_factory=Future)
    after_commit: Callable[[sqlite3.Connection], None] | None = None


@dataclass(frozen=True)
class SQLiteBackend:
    """The built-in `sqlite` backend: one SQLite file at `store.path`, relative to the bot directory."""

    name: str = "sqlite"

    def open(self, root: Path, config: StoreConfig, *, create: bool = True) -> "SQLiteStore":
        path = Path(root) / config.path
        if not create and not path.exists():
            raise StoreError(f"no conversation log at {path}: the bot has not logged a conversation yet")
        return SQLiteStore(path, retention_days=config.retention_days)


sqlite = SQLiteBackend()  # registered as `sqlite` (smallbot.registry)


class SQLiteStore:
    """The default store: one SQLite file, WAL, one write connection with group commit.

    >>> store = SQLiteStore(Path("mybot/.smallbot/conversations.sqlite3"), retention_days=90)
    >>> message_id = store.log_turn(Message("c1", "hi"), Reply(ReplyKind.RESPOND, "Hello!"))
    >>> store.log_feedback("c1", message_id, +1)
    >>> store.close()
    """

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = 0,
        synchronous: str = "NORMAL",
        clock: Callable[[], float] = time.time,
    ):
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise StoreError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._closed = False
        writer = self._connect(synchronous.upper())
        try:
            self._migrate(writer)
        except BaseException:
            writer.close()
            raise
        self._reader = self._connect(synchronous.upper())
        self._read_lock = threading.Lock()
        self._writer = writer
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._queue: queue.Queue = queue.Queue()  # not SimpleQueue: its timed get() can hang when others get_nowait()
        self._thread = threading.Thread(target=self._write_loop, name=f"smallbot-store:{self.path.name}", daemon=True)
        self._thread.start()
        if retention_days > 0:
            self.purge(self._clock() - retention_days * _DAY)

    # -- set-up ------------------------------------------------------------------------------------

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the conversation store {self.path}: {exc} "
                "(is it an SQLite file? move it away to start a new log)"
            ) from exc
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # erased conversations must not linger in free pages
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this smallbot's "
                f"{SCHEMA_VERSION}: upgrade smallbot, or point store.path in bot.yml at a new file"
            )
        if version == 0 and _has_table(db, "messages"):
            version = 1  # files of the first release may predate user_version being set
        for target in range(version + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(_MIGRATIONS[target - 1]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={target}")
                db.execute("COMMIT")
            except BaseException as exc:
                db.execute("ROLLBACK")
                raise StoreError(
                    f"migrating {self.path} to schema version {target} failed: {exc}; "
                    "the file is unchanged (restore a backup or start a new file)"
                ) from exc

    # -- the writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            with self._write_lock:
                self._commit_pending([job])

    def _commit_pending(self, jobs: list[_Job]) -> None:
        """Group commit (caller holds the write lock): everything that queued up goes in one transaction."""
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if jobs:
            self._run_batch(self._writer, jobs)

    def _run_batch(self, db: sqlite3.Connection, jobs: list[_Job]) -> None:
        results: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            isolate = len(jobs) > 1  # a savepoint per job costs two statements: only worth it in a group
            for job in jobs:
                if isolate:
                    db.execute("SAVEPOINT job")  # one bad write fails alone, not the whole batch
                try:
                    results.append((job, job.work(db), None))
                    if isolate:
                        db.execute("RELEASE job")
                except Exception as exc:  # noqa: BLE001 - handed to the caller through its future
                    if not isolate:
                        db.execute("ROLLBACK")
                        job.future.set_exception(_as_store_error(exc, self.path))
                        return
                    db.execute("ROLLBACK TO job")
                    db.execute("RELEASE job")
                    results.append((job, None, exc))
            db.execute("COMMIT")
        except BaseException as exc:  # the commit itself failed: nothing of this batch is durable
            if db.in_transaction:
                db.execute("ROLLBACK")
            for job in jobs:
                job.future.set_exception(StoreError(f"could not write to {self.path}: {exc}"))
            return
        for job in jobs:
            if job.after_commit is not None:
                try:
                    job.after_commit(db)
                except sqlite3.Error:  # the write itself is committed; only the clean-up is late
                    log.warning("post-commit step on %s failed; it runs again with the next erasure", self.path)
        for job, value, error in results:  # acknowledged only now, after COMMIT returned
            if error is None:
                job.future.set_result(value)
            else:
                job.future.set_exception(_as_store_error(error, self.path))

    def _submit(
        self,
        work: Callable[[sqlite3.Connection], Any],
        after_commit: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Future:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        job = _Job(work, after_commit=after_commit)
        self._queue.put(job)
        return job.future

    def _call(
        self,
        work: Callable[[sqlite3.Connection], Any],
        after_commit: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Any:
        """Blocking write. The caller commits the queue itself when the writer is free (no thread hand-off on
        a quiet store) and rides along in someone else's group commit when it is busy."""
        future = self._submit(work, after_commit)
        with self._write_lock:
            if not future.done():
                self._commit_pending([])
        return future.result()

    # -- writes -----------------------------------------------------------------------------------

    def log_turn(self, message: Message, reply: Reply) -> int:
        """Log one turn; returns the message id once it is committed. A handoff reply opens a handoff."""
        return self._call(self._turn_writer(message, reply))

    async def alog_turn(self, message: Message, reply: Reply) -> int:
        """`log_turn` for the event loop: resolves once the row is committed, never blocks the loop."""
        return await asyncio.wrap_future(self._submit(self._turn_writer(message, reply)))

    def log_feedback(self, conversation_id: str, message_id: int | str | None, score: int, comment: str = "") -> int:
        """Record +1 / -1 on a reply; `message_id=None` means the conversation's latest reply."""
        return self._call(self._feedback_writer(conversation_id, message_id, score, comment))

    async def alog_feedback(
        self, conversation_id: str, message_id: int | str | None, score: int, comment: str = ""
    ) -> int:
        return await asyncio.wrap_future(
            self._submit(self._feedback_writer(conversation_id, message_id, score, comment))
        )

    def open_handoff(self, conversation_id: str, message_id: int | None = None, reason: str = "") -> int:
        """Open a handoff for a conversation already in the log; returns the handoff id."""
        now = self._clock()

        def work(db: sqlite3.Connection) -> int:
            _require_conversation(db, conversation_id)
            return _insert_handoff(db, conversation_id, message_id, reason, now)

        return self._call(work)

    def resolve_handoff(self, conversation_id: str, resolution: str = "") -> int:
        """Close the conversation's open handoffs; returns how many were open."""
        now = self._clock()

        def work(db: sqlite3.Connection) -> int:
            return db.execute(
                "UPDATE handoffs SET resolved_at=?, resolution=? WHERE conversation_id=? AND resolved_at IS NULL",
                (now, resolution, conversation_id),
            ).rowcount

        return self._call(work)

    def forget(self, conversation_id: str) -> Erased:
        """Erase one conversation with its messages, feedback, handoffs and pause (erasure requests).

        `secure_delete` zeroes the freed pages and the WAL is checkpointed and truncated afterwards, so the
        erased text is gone from the files on disk too, not only from query results.
        """
        return self._call(
            lambda db: _delete(db, "conversation_id = ?", "id = ?", (conversation_id,)), after_commit=_checkpoint
        )

    def purge(self, before: float) -> Erased:
        """Erase every conversation last active before `before` (a Unix time): the retention rule."""
        inner = "conversation_id IN (SELECT id FROM conversations WHERE updated_at < ?)"
        return self._call(lambda db: _delete(db, inner, "updated_at < ?", (before,)))

    # -- connector state: deliveries taken, conversations paused ------------------------------------

    async def aclaim_delivery(self, delivery_id: str, lease: float) -> bool:
        """Take a channel's delivery (a Slack event id) unless it is being handled or was handled already.

        True means "handle it now": the first delivery, a retry of one that failed, or a retry of one whose
        handler held it longer than `lease` seconds without finishing (its process died). The check and the
        claim are one transaction, so of several replicas sharing the file exactly one gets True.
        """
        now = self._clock()

        def work(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM deliveries WHERE expires_at < ?", (now,))  # expiry: the index keeps it cheap
            row = db.execute("SELECT status FROM deliveries WHERE id=?", (delivery_id,)).fetchone()
            if row is not None and row[0] != "failed":
                return False
            db.execute(
                "INSERT INTO deliveries(id, status, expires_at) VALUES (?, 'handling', ?) ON CONFLICT(id) "
                "DO UPDATE SET status='handling', expires_at=excluded.expires_at",
                (delivery_id, now + lease),
            )
            return True

        return await asyncio.wrap_future(self._submit(work))

    async def afinish_delivery(self, delivery_id: str, ok: bool, keep: float) -> None:
        """Mark a claimed delivery done (its retries are dropped) or failed (the next retry is taken); the
        row is kept `keep` seconds, longer than the channel goes on retrying."""
        expires_at = self._clock() + keep

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO deliveries(id, status, expires_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE "
                "SET status=excluded.status, expires_at=excluded.expires_at",
                (delivery_id, "done" if ok else "failed", expires_at),
            )

        await asyncio.wrap_future(self._submit(work))

    def delivery_status(self, delivery_id: str) -> str | None:
        """'handling', 'done', 'failed', or None when unknown or expired."""
        rows = self._read("SELECT status FROM deliveries WHERE id=? AND expires_at >= ?", (delivery_id, self._clock()))
        return rows[0][0] if rows else None

    async def apause(self, conversation_id: str, detail: Mapping[str, str]) -> None:
        """Pause a conversation (a person has it); `detail` is what the connector needs to resume it."""
        row = (conversation_id, self._clock(), json.dumps(dict(detail)))

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO paused_conversations(conversation_id, paused_at, detail) VALUES (?, ?, ?) "
                "ON CONFLICT(conversation_id) DO UPDATE SET paused_at=excluded.paused_at, "
                "detail=excluded.detail",
                row,
            )

        await asyncio.wrap_future(self._submit(work))

    async def aresume(self, conversation_id: str) -> dict[str, str] | None:
        """Un-pause a conversation; returns the pause's detail, or None when it was not paused (so of two
        clicks on "resolved", on one replica or two, exactly one gets the detail)."""

        def work(db: sqlite3.Connection) -> dict[str, str] | None:
            row = db.execute(
                "SELECT detail FROM paused_conversations WHERE conversation_id=?", (conversation_id,)
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM paused_conversations WHERE conversation_id=?", (conversation_id,))
            return json.loads(row[0])

        return await asyncio.wrap_future(self._submit(work))

    def paused(self, conversation_id: str) -> dict[str, str] | None:
        """The pause's detail while the conversation is paused, else None."""
        rows = self._read("SELECT detail FROM paused_conversations WHERE conversation_id=?", (conversation_id,))
        return json.loads(rows[0][0]) if rows else None

    async def apaused(self, conversation_id: str) -> dict[str, str] | None:
        """`paused` for the event loop (the read runs in a worker thread)."""
        return await asyncio.to_thread(self.paused, conversation_id)

    def _turn_writer(self, message: Message, reply: Reply) -> Callable[[sqlite3.Connection], int]:
        at = float(message.received_at) if message.received_at else self._clock()
        conversation = (message.conversation_id, message.channel, message.user, at, at)
        row = (
            message.conversation_id,
            message.text,
            reply.kind.value,
            reply.text,
            reply.intent,
            float(reply.confidence),
            json.dumps([s.entry_id for s in reply.sources]),
            json.dumps({k: float(v) for k, v in reply.timings.items()}),
            at,
            reply.reason,
            json.dumps([s.entry_id for s in reply.suggestions]),
            str(message.metadata.get("message_ref", "")),
        )
        is_handoff = reply.kind is ReplyKind.HANDOFF

        def work(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO conversations(id, channel, user, started_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated_at=max(updated_at, excluded.updated_at)",
                conversation,
            )
            message_id = _rowid(
                db.execute(
                    "INSERT INTO messages(conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
                    "timings, created_at, reason, suggestions, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            )
            if is_handoff:
                _insert_handoff(db, message.conversation_id, message_id, reply.reason, at)
            return message_id

        return work

    def _feedback_writer(
        self, conversation_id: str, message_id: int | str | None, score: int, comment: str
    ) -> Callable[[sqlite3.Connection], int]:
        if score not in (1, -1) or isinstance(score, bool):
            raise StoreError(f"feedback score must be +1 or -1, got {score!r}")
        now = self._clock()

        def work(db: sqlite3.Connection) -> int:
            _require_conversation(db, conversation_id)
            target = message_id
            if isinstance(target, str):  # a connector's reference (Message.metadata["message_ref"])
                row = db.execute(
                    "SELECT max(id) FROM messages WHERE conversation_id=? AND ref=?", (conversation_id, target)
                ).fetchone()
                if row[0] is None:
                    raise StoreError(
                        f"no reply {target!r} in conversation {conversation_id!r}: "
                        "rate a reply with the message_id it came with"
                    )
                target = int(row[0])
            elif target is None:
                row = db.execute("SELECT max(id) FROM messages WHERE conversation_id=?", (conversation_id,)).fetchone()
                target = row[0]
            elif (
                db.execute(
                    "SELECT 1 FROM messages WHERE id=? AND conversation_id=?", (target, conversation_id)
                ).fetchone()
                is None
            ):
                raise StoreError(
                    f"message {target} is not part of conversation {conversation_id!r}: "
                    "send feedback with the id log_turn returned for that conversation"
                )
            if target is None:
                raise StoreError(f"conversation {conversation_id!r} has no messages to give feedback on")
            return _rowid(
                db.execute(
                    "INSERT INTO feedback(conversation_id, message_id, score, comment, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, target, score, comment, now),
                )
            )

        return work

    # -- reads ------------------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    def history(self, conversation_id: str, limit: int = 50) -> list[dict]:
        """The last `limit` turns of a conversation, oldest first, as plain dicts (for templates)."""
        rows = self._read(
            "SELECT text, reply_kind, reply_text, intent, confidence, sources, created_at FROM messages "
            "WHERE conversation_id=? ORDER BY id DESC LIMIT ?",
            (conversation_id, limit),
        )
        return [
            {
                "text": r[0],
                "reply_kind": r[1],
                "reply_text": r[2],
                "intent": r[3],
                "confidence": r[4],
                "sources": json.loads(r[5]),
                "created_at": r[6],
            }
            for r in reversed(rows)
        ]

    def turns(
        self, conversation_id: str | None = None, since: float | None = None, last: int | None = None
    ) -> list[TurnRecord]:
        """Logged turns in the order they were written, optionally of one conversation, since a time, or only
        the `last` few (the bot reads a conversation's state back from its last turns: one index range scan)."""
        where, params = _filters(conversation_id, since, "created_at")
        columns = (
            "SELECT id, conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
            f"suggestions, reason, timings, created_at FROM messages{where}"
        )
        if last is None:
            rows = self._read(f"{columns} ORDER BY id", params)
        else:
            rows = self._read(f"{columns} ORDER BY id DESC LIMIT ?", (*params, last))[::-1]
        return [
            TurnRecord(
                r[0],
                r[1],
                r[2],
                ReplyKind(r[3]),
                r[4],
                r[5],
                r[6],
                tuple(json.loads(r[7])),
                tuple(json.loads(r[8])),
                r[9],
                json.loads(r[10]),
                r[11],
            )
            for r in rows
        ]

    def feedback(self, conversation_id: str | None = None) -> list[FeedbackRecord]:
        where, params = _filters(conversation_id, None, "")
        rows = self._read(
            f"SELECT id, conversation_id, message_id, score, comment, created_at FROM feedback{where} ORDER BY id",
            params,
        )
        return [FeedbackRecord(*r) for r in rows]

    def handoffs(self, conversation_id: str | None = None) -> list[HandoffRecord]:
        where, params = _filters(conversation_id, None, "")
        rows = self._read(
            "SELECT id, conversation_id, message_id, reason, opened_at, resolved_at, resolution "
            f"FROM handoffs{where} ORDER BY id",
            params,
        )
        return [HandoffRecord(*r) for r in rows]

    def conversations(self) -> list[ConversationRecord]:
        rows = self._read("SELECT id, channel, user, started_at, updated_at FROM conversations ORDER BY started_at, id")
        return [ConversationRecord(*r) for r in rows]

    def close(self) -> None:
        """Finish every queued write, then close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._thread.join()
        with self._write_lock:
            self._commit_pending([])
            self._writer.close()
        with self._read_lock:
            self._reader.close()

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- helpers ----------------------------------------------------------------------------------------


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _filters(conversation_id: str | None, since: float | None, time_column: str) -> tuple[str, tuple]:
    clauses: list[str] = []
    params: list[str | float] = []
    if conversation_id is not None:
        clauses.append("conversation_id = ?")
        params.append(conversation_id)
    if since is not None:
        clauses.append(f"{time_column} >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _require_conversation(db: sqlite3.Connection, conversation_id: str) -> None:
    if db.execute("SELECT 1 FROM conversations WHERE id=?", (conversation_id,)).fetchone() is None:
        raise StoreError(f"no conversation {conversation_id!r} in the log: log a turn before feedback or handoffs")


def _insert_handoff(
    db: sqlite3.Connection, conversation_id: str, message_id: int | None, reason: str, at: float
) -> int:
    return _rowid(
        db.execute(
            "INSERT INTO handoffs(conversation_id, message_id, reason, opened_at) VALUES (?, ?, ?, ?)",
            (conversation_id, message_id, reason, at),
        )
    )


def _rowid(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote (sqlite3 types it optional: None only before any INSERT)."""
    if cursor.lastrowid is None:
        raise StoreError("the database reported no id for the row just inserted")
    return cursor.lastrowid


def _delete(db: sqlite3.Connection, child_where: str, conversation_where: str, params: tuple) -> Erased:
    # explicit deletes, children first: files migrated from older versions may lack ON DELETE CASCADE
    feedback = db.execute(f"DELETE FROM feedback WHERE {child_where}", params).rowcount
    handoffs = db.execute(f"DELETE FROM handoffs WHERE {child_where}", params).rowcount
    db.execute(f"DELETE FROM paused_conversations WHERE {child_where}", params)  # its detail quotes the user
    messages = db.execute(f"DELETE FROM messages WHERE {child_where}", params).rowcount
    conversations = db.execute(f"DELETE FROM conversations WHERE {conversation_where}", params).rowcount
    return Erased(conversations, messages, feedback, handoffs)


def _checkpoint(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _as_store_error(error: BaseException, path: Path) -> BaseException:
    if isinstance(error, StoreError):
        return error
    return StoreError(f"could not write to {path}: {error}")
