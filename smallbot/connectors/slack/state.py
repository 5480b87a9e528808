"""What the Slack connector must remember between events: which event ids it has taken (Slack retries an
event it thinks we missed: https://api.slack.com/apis/events-api#retries) and which threads a person has
(handoff), with what the support-channel notice said so "Mark resolved" can update it, and which threads
it has answered in (follow-ups there need no mention).

Two implementations of one small protocol. `StoreSlackState` keeps both in the bot's connector state (the
store's `ConnectorState` half; the threads answered in are read from its conversation log), so a restart
or a second replica sharing the file still drops a retried event and still leaves a handed-off thread to
the person; its writes go through the store's writer thread and never block the event loop.
`MemorySlackState` is for a bot built without a store (tests, `with_store=False`): it forgets on restart.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Protocol

from smallbot.plugins import BotService
from smallbot.store import ConnectorState, ConversationLog

HANDLING, DONE, FAILED = "handling", "done", "failed"

# Slack retries after about 1 s, 1 min and 5 min; an hour covers them with room for clock skew.
DEDUP_SECONDS = 3600.0
# A claim not finished within this long is taken to be from a process that died: its next retry is taken.
HANDLING_LEASE_SECONDS = 120.0


@dataclass(frozen=True)
class Handoff:
    """A thread waiting for a person: what the support-channel notice says, to update it on resolve."""

    user: str
    question: str
    permalink: str
    notice_channel: str
    notice_ts: str


class SlackState(Protocol):
    """Event dedup and paused threads, as the connector uses them."""

    async def begin(self, event_id: str) -> bool:
        """True when this event should be handled now (first delivery, or a retry after a failure)."""

    async def finish(self, event_id: str, ok: bool) -> None: ...

    def status(self, event_id: str) -> str | None:
        """'handling', 'done', 'failed' or None (unknown or expired)."""

    async def pause(self, conversation_id: str, handoff: Handoff) -> None: ...

    async def paused(self, conversation_id: str) -> Handoff | None: ...

    async def resume(self, conversation_id: str) -> Handoff | None:
        """Un-pause; the handoff it ended, or None when the thread was not paused (a second click)."""

    async def knows_thread(self, conversation_id: str) -> bool:
        """Whether the bot answered in this thread before (the connector asks only on a cache miss)."""


class EventDeduplicator:
    """Remembers the newest `capacity` event ids and whether each is being handled, done or failed.

    Slack retries an event it thinks we missed; a retry of an event that is in hand or answered is
    dropped, a retry of one whose handling failed is taken again.

    >>> seen = EventDeduplicator()
    >>> seen.begin("Ev1"), seen.begin("Ev1")
    (True, False)
    """

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._status: OrderedDict[str, str] = OrderedDict()

    def begin(self, event_id: str) -> bool:
        """True when this event should be handled now (first delivery, or a retry after a failure)."""
        if self._status.get(event_id) in (HANDLING, DONE):
            return False
        self._status[event_id] = HANDLING
        self._status.move_to_end(event_id)
        while len(self._status) > self.capacity:
            self._status.popitem(last=False)
        return True

    def finish(self, event_id: str, ok: bool) -> None:
        self._status[event_id] = DONE if ok else FAILED

    def status(self, event_id: str) -> str | None:
        return self._status.get(event_id)


class MemorySlackState:
    """In-process state for a bot without a store; lost on restart, not shared between replicas.

    >>> state = MemorySlackState()
    >>> await state.begin("Ev1"), await state.begin("Ev1")
    (True, False)
    """

    def __init__(self, capacity: int = 10_000):
        self.events = EventDeduplicator(capacity)
        self._paused: dict[str, Handoff] = {}

    async def begin(self, event_id: str) -> bool:
        return self.events.begin(event_id)

    async def finish(self, event_id: str, ok: bool) -> None:
        self.events.finish(event_id, ok)

    def status(self, event_id: str) -> str | None:
        return self.events.status(event_id)

    async def pause(self, conversation_id: str, handoff: Handoff) -> None:
        self._paused[conversation_id] = handoff

    async def paused(self, conversation_id: str) -> Handoff | None:
        return self._paused.get(conversation_id)

    async def resume(self, conversation_id: str) -> Handoff | None:
        return self._paused.pop(conversation_id, None)

    async def knows_thread(self, conversation_id: str) -> bool:
        return False  # the connector's own cache of threads is all there is


class StoreSlackState:
    """State in the bot's store (SQLite by default): survives restarts, shared by replicas on one file.

    Event ids are namespaced (``slack:Ev123``) so other channels can use the same table.

    >>> state = StoreSlackState(bot.connector_state, bot.store)
    >>> await state.begin("Ev1")   # a retry of Ev1, even after a restart, now gets False
    True
    """

    def __init__(
        self,
        store: ConnectorState,
        log: ConversationLog | None = None,
        *,
        keep_seconds: float = DEDUP_SECONDS,
        lease_seconds: float = HANDLING_LEASE_SECONDS,
    ):
        self.store = store
        self.log = log
        self.keep_seconds = keep_seconds
        self.lease_seconds = lease_seconds

    async def begin(self, event_id: str) -> bool:
        return await self.store.aclaim_delivery(_key(event_id), self.lease_seconds)

    async def finish(self, event_id: str, ok: bool) -> None:
        await self.store.afinish_delivery(_key(event_id), ok, self.keep_seconds)

    def status(self, event_id: str) -> str | None:
        return self.store.delivery_status(_key(event_id))

    async def pause(self, conversation_id: str, handoff: Handoff) -> None:
        await self.store.apause(conversation_id, asdict(handoff))

    async def paused(self, conversation_id: str) -> Handoff | None:
        return _handoff(await self.store.apaused(conversation_id))

    async def resume(self, conversation_id: str) -> Handoff | None:
        return _handoff(await self.store.aresume(conversation_id))

    async def knows_thread(self, conversation_id: str) -> bool:
        # the bot logs every turn under the thread's conversation id, so the log already says where it
        # answered; the read runs in a worker thread, off the event loop
        if self.log is None:
            return False
        return bool(await asyncio.to_thread(self.log.history, conversation_id, 1))


def slack_state(bot: BotService) -> SlackState:
    """The bot's durable connector state when it has a store, else in-memory state."""
    if bot.connector_state is None:
        return MemorySlackState()
    return StoreSlackState(bot.connector_state, bot.store)


def _key(event_id: str) -> str:
    return "slack:" + event_id


def _handoff(detail: dict[str, str] | None) -> Handoff | None:
    if detail is None:
        return None
    return Handoff(**{name: str(detail.get(name, "")) for name in Handoff.__dataclass_fields__})
