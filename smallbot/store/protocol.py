"""The two halves a store backend provides, one per consumer: `ConversationLog` (what was said; the bot,
`report`, `learn` and `forget` use it) and `ConnectorState` (what channels remember between deliveries; only
connectors use it). A backend provides both (`Store`).
"""

from __future__ import annotations

from typing import Mapping, Protocol, runtime_checkable

from smallbot.store.records import ConversationRecord, Erased, FeedbackRecord, HandoffRecord, TurnRecord
from smallbot.types import Message, Reply


class ConversationLog(Protocol):
    """What was said: turns, the state read back from them, feedback, handoffs, retention and erasure, and
    the reads behind `smallbot report` and `smallbot learn`. Writes return row ids once the row is durable.

    The bot and the commands depend on this half only; connectors reach it as `bot.store`.
    """

    def log_turn(self, message: Message, reply: Reply) -> int: ...

    async def alog_turn(self, message: Message, reply: Reply) -> int: ...

    def log_feedback(
        self, conversation_id: str, message_id: int | str | None, score: int, comment: str = ""
    ) -> int: ...

    async def alog_feedback(
        self, conversation_id: str, message_id: int | str | None, score: int, comment: str = ""
    ) -> int: ...

    def open_handoff(self, conversation_id: str, message_id: int | None = None, reason: str = "") -> int: ...

    def resolve_handoff(self, conversation_id: str, resolution: str = "") -> int: ...

    def history(self, conversation_id: str, limit: int = 50) -> list[dict]: ...

    def turns(
        self, conversation_id: str | None = None, since: float | None = None, last: int | None = None
    ) -> list[TurnRecord]: ...

    def feedback(self, conversation_id: str | None = None) -> list[FeedbackRecord]: ...

    def handoffs(self, conversation_id: str | None = None) -> list[HandoffRecord]: ...

    def conversations(self) -> list[ConversationRecord]: ...

    def forget(self, conversation_id: str) -> Erased:
        """Erase one conversation; a backend that also keeps connector state erases its pause too."""

    def purge(self, before: float) -> Erased: ...

    def close(self) -> None: ...


@runtime_checkable
class ConnectorState(Protocol):
    """What channels must remember between deliveries, shared by every process serving the bot: delivery ids
    already taken (a channel's retries are dropped) and conversations paused while a person has them.

    Only connectors use this half (the Slack connector through `smallbot.connectors.slack.state`); they reach
    it as `bot.connector_state`.
    """

    async def aclaim_delivery(self, delivery_id: str, lease: float) -> bool: ...

    async def afinish_delivery(self, delivery_id: str, ok: bool, keep: float) -> None: ...

    def delivery_status(self, delivery_id: str) -> str | None: ...

    async def apause(self, conversation_id: str, detail: Mapping[str, str]) -> None: ...

    async def aresume(self, conversation_id: str) -> dict[str, str] | None: ...

    async def apaused(self, conversation_id: str) -> dict[str, str] | None: ...


class Store(ConversationLog, ConnectorState, Protocol):
    """What a store backend provides: both halves over one storage, so that erasing a conversation also
    erases its pause in one step. Backends are registered by name (smallbot.registry) and opened by
    `open_store` alone.

    Implementations: `SQLiteStore` (`sqlite`). tests/bot/test_store_contract.py is the suite every registered
    backend must pass.
    """
