"""The `postgres` store backend: the conversation log and the connector state in PostgreSQL, shared by every
replica on every host (`store.backend: postgres`, `store.url: ${DATABASE_URL}`).

Why it is built the way it is:

- A sync connection pool (psycopg_pool.ConnectionPool), not an async one: the Store protocol is synchronous
  and called from the bot's worker threads; its few async methods hand their work to a thread, as the SQLite
  store does, so one pool serves both without an event loop of its own.
- Writes go through one queue and one writer thread per process, which commits everything that piled up in one
  transaction (group commit; a savepoint per write so one bad write fails alone). A write is acknowledged only
  after COMMIT returned, and PostgreSQL's COMMIT returns once the WAL is flushed (`synchronous_commit=on`, the
  server default), so a killed replica never loses an acknowledged turn. Ids follow the order writes were made
  in this process.
- Reads take a pooled connection each; PostgreSQL's MVCC lets them run beside the writer.
- Exactly-once claims across processes and hosts are single statements (INSERT ... ON CONFLICT DO UPDATE ...
  WHERE, DELETE ... RETURNING): PostgreSQL locks the row, so of concurrent claimers exactly one gets it.
- The schema has numbered migrations of its own (smallbot/store/migrations/postgres/NNNN_name.sql), recorded in
  `schema_version` and applied in one transaction under an advisory lock, so replicas starting together
  neither race nor half-apply one.
- The web API's rate limit is a token bucket per client in `rate_limits`, on the database's clock, so every
  replica counts a client's requests together (`arate_limit`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from smallbot.errors import StoreError
from smallbot.store.records import ConversationRecord, Erased, FeedbackRecord, HandoffRecord, TurnRecord
from smallbot.types import Message, Reply, ReplyKind

if TYPE_CHECKING:
    import psycopg

    from smallbot.project.config import StoreConfig

log = logging.getLogger(__name__)

_DAY = 86400.0
MIGRATION_LOCK = 0x736D616C6C626F74  # pg_advisory_xact_lock key: "smallbot" in ASCII
POOL_SIZE = 4  # per process: replicas x workers x this must stay under the server's max_connections
CONNECT_TIMEOUT = 10.0
MAX_BATCH = 256  # writes per group commit
_RATE_SWEEP_SECONDS = 60.0  # how often one process deletes idle clients' full buckets
RATE_LIMIT_WAIT = 1.0  # seconds a request waits for a pooled connection before its replica's own bucket decides


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file of migrations/postgres."""

    version: int
    name: str
    sql: str


def migrations() -> tuple[Migration, ...]:
    """The packaged migrations in order; numbers start at 1 and have no gaps (checked, so a bad file name in a
    release fails every start-up, not one database's)."""
    folder = resources.files("smallbot.store").joinpath("migrations", "postgres")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, name = entry.name[: -len(".sql")].partition("_")
            found.append(Migration(int(number), name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"the packaged PostgreSQL migrations are not numbered 1..n: {[m.version for m in found]}")
    return tuple(found)


def describe(conninfo: str) -> str:
    """host:port/dbname of a connection string, for messages: never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by the caller; never echo it
        return "the database in store.url"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def apply_migrations(conn: "psycopg.Connection", where: str, *, create: bool = True) -> int:
    """Bring the database's schema up to this smallbot's version in one transaction under an advisory lock;
    returns the version. `create=False` refuses a database that holds no log yet (StoreError)."""
    import psycopg

    known = migrations()
    latest = known[-1].version
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
            if not (exists and exists[0]):
                if not create:
                    raise StoreError(f"no conversation log in {where}: the bot has not logged a conversation yet")
                conn.execute(
                    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "applied_at DOUBLE PRECISION NOT NULL)"
                )
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
            newest = max(applied, default=0)
            if newest > latest:
                raise StoreError(
                    f"{where} has schema version {newest}, newer than this smallbot's {latest}: upgrade smallbot "
                    "(every replica runs the same release), or point store.url at another database"
                )
            for migration in known:
                if migration.version in applied:
                    continue
                conn.execute(migration.sql.encode())  # bytes: several statements, no parameters
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, time.time()),
                )
                log.info("%s: applied migration %04d %s", where, migration.version, migration.name)
    except psycopg.Error as exc:
        raise StoreError(f"migrating the conversation log in {where} failed: {exc}; nothing was changed") from exc
    return latest


@dataclass(frozen=True)
class PostgresBackend:
    """The built-in `postgres` backend: a PostgreSQL database named by `store.url` (a secret reference)."""

    name: str = "postgres"

    def open(self, root: Path, config: "StoreConfig", *, create: bool = True) -> "PostgresStore":
        if config.url is None:
            raise StoreError(
                "bot.yml: store.backend 'postgres' needs store.url, a reference to the variable holding the "
                "database URL: store.url: ${DATABASE_URL}"
            )
        try:
            conninfo = config.url.get()
        except Exception as exc:  # ConfigError: the variable is unset
            raise StoreError(f"bot.yml: store.url: {exc}") from exc
        return PostgresStore(conninfo, retention_days=config.retention_days, create=create)


postgres = PostgresBackend()  # registered as `postgres` (smallbot.registry)


@dataclass
class _Job:
    work: Callable[["psycopg.Connection"], Any]
    future: Future = field(default_factory=Future)


class _Refused(Exception):
    """A write failed in a group without savepoints: roll the transaction back (and run the group again)."""

    def __init__(self, error: BaseException):
        self.error = error


class PostgresStore:
    """The shared store: one PostgreSQL database for every replica.

    >>> store = PostgresStore("postgresql://bot:secret@db:5432/smallbot", retention_days=90)
    >>> message_id = store.log_turn(Message("c1", "hi"), Reply(ReplyKind.RESPOND, "Hello!"))
    >>> store.close()
    """

    def __init__(
        self,
        conninfo: str,
        *,
        retention_days: int = 0,
        create: bool = True,
        pool_size: int = POOL_SIZE,
        clock: Callable[[], float] = time.time,
    ):
        import psycopg
        from psycopg_pool import ConnectionPool

        self.where = describe(conninfo)
        self._clock = clock
        self._closed = False
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)) as conn:
                apply_migrations(conn, self.where, create=create)
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the PostgreSQL conversation log at {self.where}: {exc}") from exc
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(2, pool_size),
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not used
            name=f"smallbot-store:{self.where}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            self._pool.close()
            raise StoreError(f"cannot open connections to the PostgreSQL conversation log at {self.where}") from exc
        self._stopping = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._rate_swept = 0.0
        self._thread = threading.Thread(target=self._write_loop, name=f"smallbot-store:{self.where}", daemon=True)
        self._thread.start()
        if retention_days > 0:
            self.purge(self._clock() - retention_days * _DAY)

    # -- the writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            jobs = [job]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(jobs)

    def _run_batch(self, jobs: list[_Job]) -> None:
        """Commit `jobs` in one transaction. The first try has no savepoints (each costs two round trips per
        write); when a write fails, the transaction is rolled back and, in a group, run again with a savepoint
        per write, so the failed one fails alone. Writes only touch the database, so running one again is safe."""
        try:
            with self._pool.connection() as conn:
                try:
                    results = self._attempt(conn, jobs, isolate=False)
                except _Refused as refused:
                    if len(jobs) == 1:
                        jobs[0].future.set_exception(self._as_store_error(refused.error))
                        return
                    results = self._attempt(conn, jobs, isolate=True)
        except BaseException as exc:  # the transaction or the connection failed: nothing of it is durable
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(StoreError(f"could not write to {self.where}: {exc}"))
            if not isinstance(exc, Exception):
                raise
            return
        for job, value, error in results:  # acknowledged only now, after COMMIT returned
            if error is None:
                job.future.set_result(value)
            else:
                job.future.set_exception(self._as_store_error(error))

    @staticmethod
    def _attempt(
        conn: "psycopg.Connection", jobs: list[_Job], *, isolate: bool
    ) -> list[tuple[_Job, Any, BaseException | None]]:
        results: list[tuple[_Job, Any, BaseException | None]] = []
        with conn.transaction():
            for job in jobs:
                if not isolate:
                    try:
                        results.append((job, job.work(conn), None))
                    except Exception as exc:  # noqa: BLE001 - rolled back, then handed to the caller
                        raise _Refused(exc) from exc
                    continue
                try:
                    with conn.transaction():  # a savepoint: one bad write fails alone
                        value = job.work(conn)
                    results.append((job, value, None))
                except Exception as exc:  # noqa: BLE001 - handed to the caller through its future
                    results.append((job, None, exc))
        return results

    def _as_store_error(self, error: BaseException) -> BaseException:
        return error if isinstance(error, StoreError) else StoreError(f"could not write to {self.where}: {error}")

    def _submit(self, work: Callable[["psycopg.Connection"], Any]) -> Future:
        if self._closed:
            raise StoreError(f"the store {self.where} is closed")
        job = _Job(work)
        self._queue.put(job)
        return job.future

    def _call(self, work: Callable[["psycopg.Connection"], Any]) -> Any:
        return self._submit(work).result()

    # -- writes -----------------------------------------------------------------------------------

    def log_turn(self, message: Message, reply: Reply) -> int:
        """Log one turn; returns the message id once it is committed. A handoff reply opens a handoff."""
        return int(self._call(self._turn_writer(message, reply)))

    async def alog_turn(self, message: Message, reply: Reply) -> int:
        """`log_turn` for the event loop: resolves once the row is committed, never blocks the loop."""
        return int(await asyncio.wrap_future(self._submit(self._turn_writer(message, reply))))

    def log_feedback(self, conversation_id: str, message_id: int | str | None, score: int, comment: str = "") -> int:
        """Record +1 / -1 on a reply; `message_id=None` means the conversation's latest reply."""
        return int(self._call(self._feedback_writer(conversation_id, message_id, score, comment)))

    async def alog_feedback(
        self, conversation_id: str, message_id: int | str | None, score: int, comment: str = ""
    ) -> int:
        return int(
            await asyncio.wrap_future(self._submit(self._feedback_writer(conversation_id, message_id, score, comment)))
        )

    def open_handoff(self, conversation_id: str, message_id: int | None = None, reason: str = "") -> int:
        """Open a handoff for a conversation already in the log; returns the handoff id."""
        now = self._clock()

        def work(db: "psycopg.Connection") -> int:
            _require_conversation(db, conversation_id)
            return _insert_handoff(db, conversation_id, message_id, reason, now)

        return int(self._call(work))

    def resolve_handoff(self, conversation_id: str, resolution: str = "") -> int:
        """Close the conversation's open handoffs; returns how many were open."""
        now = self._clock()

        def work(db: "psycopg.Connection") -> int:
            return db.execute(
                "UPDATE handoffs SET resolved_at=%s, resolution=%s WHERE conversation_id=%s AND resolved_at IS NULL",
                (now, resolution, conversation_id),
            ).rowcount

        return int(self._call(work))

    def forget(self, conversation_id: str) -> Erased:
        """Erase one conversation with its messages, feedback, handoffs, pause and import records.

        The rows are deleted in one transaction; a VACUUM of the tables afterwards frees the dead row versions,
        so the erased text no longer sits in the tables' live pages. Bytes may linger in free space and in WAL
        segments and backups until they are reused or expire: the operator's backup retention governs those.
        """
        erased: Erased = self._call(lambda db: _delete(db, "conversation_id = %s", "id = %s", (conversation_id,)))
        self._vacuum()  # here, not in the writer thread: other replicas' and this one's writes go on meanwhile
        return erased

    def purge(self, before: float) -> Erased:
        """Erase every conversation last active before `before` (a Unix time): the retention rule."""
        inner = "conversation_id IN (SELECT id FROM conversations WHERE updated_at < %s)"
        return self._call(lambda db: _delete(db, inner, "updated_at < %s", (before,)))

    def _vacuum(self) -> None:
        """After an erasure: free the deleted row versions (VACUUM runs outside a transaction: autocommit)."""
        import psycopg

        try:
            with self._pool.connection() as conn:
                for table in (*_LOG_TABLES, "imported_messages", "imported_feedback", "imported_handoffs"):
                    conn.execute(f"VACUUM {table}".encode())
        except psycopg.Error as exc:  # the rows are deleted; only the freeing of their old versions waits
            log.warning("VACUUM after an erasure on %s failed (%s); autovacuum frees the rows later", self.where, exc)

    # -- connector state: deliveries taken, conversations paused ------------------------------------

    async def aclaim_delivery(self, delivery_id: str, lease: float) -> bool:
        """Take a channel's delivery (a Slack event id) unless it is being handled or was handled already.

        True means "handle it now": the first delivery, a retry of one that failed, or a retry of one whose
        handler held it longer than `lease` seconds (its process died). One statement: PostgreSQL locks the
        row, so of several replicas on any number of hosts exactly one gets True.
        """
        now = self._clock()

        def work(db: "psycopg.Connection") -> bool:
            db.execute("DELETE FROM deliveries WHERE expires_at < %s", (now,))  # expiry: the index keeps it cheap
            row = db.execute(
                "INSERT INTO deliveries AS d (id, status, expires_at) VALUES (%s, 'handling', %s) "
                "ON CONFLICT (id) DO UPDATE SET status='handling', expires_at=excluded.expires_at "
                "WHERE d.status = 'failed' OR d.expires_at < %s RETURNING id",
                (delivery_id, now + lease, now),
            ).fetchone()
            return row is not None

        return bool(await asyncio.wrap_future(self._submit(work)))

    async def afinish_delivery(self, delivery_id: str, ok: bool, keep: float) -> None:
        """Mark a claimed delivery done (its retries are dropped) or failed (the next retry is taken); the
        row is kept `keep` seconds, longer than the channel goes on retrying."""
        expires_at = self._clock() + keep

        def work(db: "psycopg.Connection") -> None:
            db.execute(
                "INSERT INTO deliveries (id, status, expires_at) VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET status=excluded.status, expires_at=excluded.expires_at",
                (delivery_id, "done" if ok else "failed", expires_at),
            )

        await asyncio.wrap_future(self._submit(work))

    def delivery_status(self, delivery_id: str) -> str | None:
        """'handling', 'done', 'failed', or None when unknown or expired."""
        rows = self._read(
            "SELECT status FROM deliveries WHERE id=%s AND expires_at >= %s", (delivery_id, self._clock())
        )
        return str(rows[0][0]) if rows else None

    async def apause(self, conversation_id: str, detail: Mapping[str, str]) -> None:
        """Pause a conversation (a person has it); `detail` is what the connector needs to resume it."""
        from psycopg.types.json import Jsonb

        row = (conversation_id, self._clock(), Jsonb(dict(detail)))

        def work(db: "psycopg.Connection") -> None:
            db.execute(
                "INSERT INTO paused_conversations (conversation_id, paused_at, detail) VALUES (%s, %s, %s) "
                "ON CONFLICT (conversation_id) DO UPDATE SET paused_at=excluded.paused_at, detail=excluded.detail",
                row,
            )

        await asyncio.wrap_future(self._submit(work))

    async def aresume(self, conversation_id: str) -> dict[str, str] | None:
        """Un-pause a conversation; returns the pause's detail, or None when it was not paused (so of two
        clicks on "resolved", on one replica or two, exactly one gets the detail: DELETE ... RETURNING)."""

        def work(db: "psycopg.Connection") -> dict[str, str] | None:
            row = db.execute(
                "DELETE FROM paused_conversations WHERE conversation_id=%s RETURNING detail", (conversation_id,)
            ).fetchone()
            return dict(row[0]) if row is not None else None

        result: dict[str, str] | None = await asyncio.wrap_future(self._submit(work))
        return result

    def paused(self, conversation_id: str) -> dict[str, str] | None:
        """The pause's detail while the conversation is paused, else None."""
        rows = self._read("SELECT detail FROM paused_conversations WHERE conversation_id=%s", (conversation_id,))
        return dict(rows[0][0]) if rows else None

    async def apaused(self, conversation_id: str) -> dict[str, str] | None:
        """`paused` for the event loop (the read runs in a worker thread)."""
        return await asyncio.to_thread(self.paused, conversation_id)

    # -- the shared rate limit ----------------------------------------------------------------------

    async def arate_limit(self, client: str, per_minute: float, burst: int) -> float:
        """Take one token from `client`'s bucket (`per_minute` sustained, `burst` at once), shared by every
        replica; 0.0 when taken, else the seconds until a token is free (the Retry-After)."""
        return await asyncio.to_thread(self.rate_limit, client, per_minute, burst)

    def rate_limit(self, client: str, per_minute: float, burst: int) -> float:
        """Blocking `arate_limit`. One UPSERT on the database's clock (replicas' clocks may differ); not through
        the log's writer, and committed without waiting for the WAL flush: a bucket lost in a crash only lets a
        client send a little more, and a request must not wait behind the log's group commit."""
        import psycopg
        from psycopg_pool import PoolTimeout

        if per_minute <= 0 or burst < 1:
            raise StoreError("rate limit needs per_minute > 0 and burst >= 1")
        if self._closed:
            raise StoreError(f"the store {self.where} is closed")
        rate = per_minute / 60.0
        params = {"client": client, "rate": rate, "burst": float(burst)}
        refilled = "least(%(burst)s, r.tokens + greatest(0.0, excluded.updated_at - r.updated_at) * %(rate)s)"
        try:
            with self._pool.connection(timeout=RATE_LIMIT_WAIT) as conn, conn.transaction():
                conn.execute("SET LOCAL synchronous_commit TO OFF")
                row = conn.execute(
                    "INSERT INTO rate_limits AS r (client, tokens, allowed, updated_at) "
                    "VALUES (%(client)s, %(burst)s - 1.0, true, extract(epoch FROM clock_timestamp())::float8) "
                    f"ON CONFLICT (client) DO UPDATE SET allowed = {refilled} >= 1.0, "
                    f"tokens = CASE WHEN {refilled} >= 1.0 THEN {refilled} - 1.0 ELSE {refilled} END, "
                    "updated_at = excluded.updated_at RETURNING allowed, tokens, updated_at",
                    params,
                ).fetchone()
                assert row is not None  # an UPSERT always returns its row
                allowed, tokens, now = bool(row[0]), float(row[1]), float(row[2])
                if now - self._rate_swept > _RATE_SWEEP_SECONDS:
                    self._rate_swept = now
                    full_after = max(burst / rate, _RATE_SWEEP_SECONDS)  # an idle bucket is full again by then
                    conn.execute("DELETE FROM rate_limits WHERE updated_at < %s", (now - full_after,))
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"could not check the rate limit in {self.where}: {exc}") from exc
        return 0.0 if allowed else (1.0 - tokens) / rate

    # -- writers ----------------------------------------------------------------------------------

    def _turn_writer(self, message: Message, reply: Reply) -> Callable[["psycopg.Connection"], int]:
        from psycopg.types.json import Jsonb

        at = float(message.received_at) if message.received_at else self._clock()
        conversation = (message.conversation_id, message.channel, message.user, at, at)
        row = (
            message.conversation_id,
            message.text,
            reply.kind.value,
            reply.text,
            reply.intent,
            float(reply.confidence),
            Jsonb([s.entry_id for s in reply.sources]),
            Jsonb({k: float(v) for k, v in reply.timings.items()}),
            at,
            reply.reason,
            Jsonb([s.entry_id for s in reply.suggestions]),
            str(message.metadata.get("message_ref", "")),
        )
        is_handoff = reply.kind is ReplyKind.HANDOFF

        def work(db: "psycopg.Connection") -> int:
            # one statement, one round trip: the conversation's upsert rides along as a data-modifying CTE (the
            # foreign key is checked at the end of the statement, when the conversation row exists)
            message_id = _returned_id(
                db.execute(
                    "WITH c AS (INSERT INTO conversations AS c (id, channel, user_name, started_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                    "updated_at = greatest(c.updated_at, excluded.updated_at)) "
                    "INSERT INTO messages (conversation_id, text, reply_kind, reply_text, intent, confidence, "
                    "sources, timings, created_at, reason, suggestions, ref) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (*conversation, *row),
                )
            )
            if is_handoff:
                _insert_handoff(db, message.conversation_id, message_id, reply.reason, at)
            return message_id

        return work

    def _feedback_writer(
        self, conversation_id: str, message_id: int | str | None, score: int, comment: str
    ) -> Callable[["psycopg.Connection"], int]:
        if score not in (1, -1) or isinstance(score, bool):
            raise StoreError(f"feedback score must be +1 or -1, got {score!r}")
        now = self._clock()

        def work(db: "psycopg.Connection") -> int:
            _require_conversation(db, conversation_id)
            target: Any = message_id
            if isinstance(target, str):  # a connector's reference (Message.metadata["message_ref"])
                row = db.execute(
                    "SELECT max(id) FROM messages WHERE conversation_id=%s AND ref=%s", (conversation_id, target)
                ).fetchone()
                if row is None or row[0] is None:
                    raise StoreError(
                        f"no reply {target!r} in conversation {conversation_id!r}: "
                        "rate a reply with the message_id it came with"
                    )
                target = int(row[0])
            elif target is None:
                row = db.execute("SELECT max(id) FROM messages WHERE conversation_id=%s", (conversation_id,)).fetchone()
                target = row[0] if row is not None else None
            elif (
                db.execute(
                    "SELECT 1 FROM messages WHERE id=%s AND conversation_id=%s", (target, conversation_id)
                ).fetchone()
                is None
            ):
                raise StoreError(
                    f"message {target} is not part of conversation {conversation_id!r}: "
                    "send feedback with the id log_turn returned for that conversation"
                )
            if target is None:
                raise StoreError(f"conversation {conversation_id!r} has no messages to give feedback on")
            return _returned_id(
                db.execute(
                    "INSERT INTO feedback (conversation_id, message_id, score, comment, created_at) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (conversation_id, target, score, comment, now),
                )
            )

        return work

    # -- reads ------------------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        if self._closed:
            raise StoreError(f"the store {self.where} is closed")
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"could not read from {self.where}: {exc}") from exc

    def history(self, conversation_id: str, limit: int = 50) -> list[dict]:
        """The last `limit` turns of a conversation, oldest first, as plain dicts (for templates)."""
        rows = self._read(
            "SELECT text, reply_kind, reply_text, intent, confidence, sources, created_at FROM messages "
            "WHERE conversation_id=%s ORDER BY id DESC LIMIT %s",
            (conversation_id, limit),
        )
        return [
            {
                "text": r[0],
                "reply_kind": r[1],
                "reply_text": r[2],
                "intent": r[3],
                "confidence": r[4],
                "sources": list(r[5]),
                "created_at": r[6],
            }
            for r in reversed(rows)
        ]

    def turns(
        self, conversation_id: str | None = None, since: float | None = None, last: int | None = None
    ) -> list[TurnRecord]:
        """Logged turns in the order they were written, optionally of one conversation, since a time, or only
        the `last` few (the bot reads a conversation's state back from its last turns: one index range scan).
        This is how a follow-up ("2") on one replica finds the suggestions another replica offered."""
        where, params = _filters(conversation_id, since, "created_at")
        columns = (
            "SELECT id, conversation_id, text, reply_kind, reply_text, intent, confidence, sources, "
            f"suggestions, reason, timings, created_at FROM messages{where}"
        )
        if last is None:
            rows = self._read(f"{columns} ORDER BY id", params)
        else:
            rows = self._read(f"{columns} ORDER BY id DESC LIMIT %s", (*params, last))[::-1]
        return [
            TurnRecord(
                int(r[0]),
                r[1],
                r[2],
                ReplyKind(r[3]),
                r[4],
                r[5],
                float(r[6]),
                tuple(r[7]),
                tuple(r[8]),
                r[9],
                dict(r[10]),
                float(r[11]),
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
        rows = self._read(
            "SELECT id, channel, user_name, started_at, updated_at FROM conversations ORDER BY started_at, id"
        )
        return [ConversationRecord(*r) for r in rows]

    def close(self) -> None:
        """Finish every queued write, then close the pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._thread.join()
        leftover: list[_Job] = []
        while True:
            try:
                leftover.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if leftover:
            self._run_batch(leftover)
        self._pool.close()

    def __enter__(self) -> "PostgresStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- helpers ----------------------------------------------------------------------------------------


def _filters(conversation_id: str | None, since: float | None, time_column: str) -> tuple[str, tuple]:
    clauses: list[str] = []
    params: list[str | float] = []
    if conversation_id is not None:
        clauses.append("conversation_id = %s")
        params.append(conversation_id)
    if since is not None:
        clauses.append(f"{time_column} >= %s")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _require_conversation(db: "psycopg.Connection", conversation_id: str) -> None:
    if db.execute("SELECT 1 FROM conversations WHERE id=%s", (conversation_id,)).fetchone() is None:
        raise StoreError(f"no conversation {conversation_id!r} in the log: log a turn before feedback or handoffs")


def _insert_handoff(
    db: "psycopg.Connection", conversation_id: str, message_id: int | None, reason: str, at: float
) -> int:
    return _returned_id(
        db.execute(
            "INSERT INTO handoffs (conversation_id, message_id, reason, opened_at) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (conversation_id, message_id, reason, at),
        )
    )


def _returned_id(cursor: "psycopg.Cursor") -> int:
    row = cursor.fetchone()
    if row is None:
        raise StoreError("the database returned no id for the row just inserted")
    return int(row[0])


_LOG_TABLES = ("feedback", "handoffs", "paused_conversations", "messages", "conversations")


def _delete(db: "psycopg.Connection", child_where: str, conversation_where: str, params: tuple) -> Erased:
    # children first and counted (the foreign keys cascade too, and take the import records with them)
    feedback = db.execute(f"DELETE FROM feedback WHERE {child_where}", params).rowcount
    handoffs = db.execute(f"DELETE FROM handoffs WHERE {child_where}", params).rowcount
    db.execute(f"DELETE FROM paused_conversations WHERE {child_where}", params)  # its detail quotes the user
    messages = db.execute(f"DELETE FROM messages WHERE {child_where}", params).rowcount
    conversations = db.execute(f"DELETE FROM conversations WHERE {conversation_where}", params).rowcount
    return Erased(conversations, messages, feedback, handoffs)
