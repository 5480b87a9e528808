"""Conversation log and connector state: every turn, feedback and handoff, and what channels remember between
deliveries. A backend is registered by name (smallbot.registry, entry points `smallbot.stores`) and opened in
one place, `open_store`; nothing else names a concrete store class. `sqlite` is the embedded default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smallbot.errors import ConfigError, StoreError
from smallbot.store.protocol import ConnectorState, ConversationLog, Store
from smallbot.store.records import ConversationRecord, Erased, FeedbackRecord, HandoffRecord, TurnRecord

if TYPE_CHECKING:
    from smallbot.project.config import StoreConfig

__all__ = [
    "ConnectorState",
    "ConversationLog",
    "ConversationRecord",
    "Erased",
    "FeedbackRecord",
    "HandoffRecord",
    "Store",
    "TurnRecord",
    "open_store",
]


def open_store(root: Path, config: StoreConfig, *, create: bool = True) -> Store:
    """The store a bot project's `store:` settings ask for, with retention applied at start-up: the one place
    that turns `store.backend` into a backend (through the registry, so an installed backend plugs in).

    `create=False` refuses to create a log that does not exist yet (StoreError), for commands that only read
    or erase.

    >>> with open_store(project.root, project.config.store) as store: ...
    """
    from smallbot.registry import load_store

    try:
        backend = load_store(config.backend)
    except ConfigError as exc:
        raise StoreError(f"bot.yml: store.backend: {exc}") from exc
    return backend.open(Path(root), config, create=create)
