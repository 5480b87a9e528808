"""The seams a connector or a store backend is written against: what it must provide (`ConnectorPlugin`,
`StorePlugin`) and what a connector may use of the bot (`BotService`).

A connector is registered under a short name (smallbot.registry) that is also its `bot.yml` section; it reads
that section through `Section` and never sees the rest of the file. It talks to the bot only through
`BotService`, so it can be tested against a small fake bot and cannot reach into the router, the models or the
store's other half. HTTP connectors add one hook, `routes` (smallbot.connectors.web.HttpConnector), to put
their endpoints on the one aiohttp application; this module names no web framework.

    >>> class Echo:                       # a complete connector plugin: a name and its section's reader
    ...     name = "echo"
    ...     def read_config(self, section: Section) -> EchoConfig:
    ...         return section.read(EchoConfig)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Protocol, runtime_checkable

from smallbot.project.config import BotConfig, Section, StoreConfig
from smallbot.types import Message, Reply

if TYPE_CHECKING:
    from smallbot.store import ConnectorState, ConversationLog, Store

__all__ = ["BotService", "ConnectorPlugin", "Section", "StorePlugin"]


@runtime_checkable
class BotService(Protocol):
    """What a connector may call on the bot. `smallbot.Bot` is one.

    `store` is the conversation log (turns, feedback, handoffs; None for a bot built without a store) and
    `connector_state` what connectors must remember between deliveries (ids already taken, conversations a
    person has); both are None without a store, and a connector then keeps its state in memory.

    >>> async def on_post(bot: BotService, text: str) -> str:
    ...     return (await bot.ahandle(Message("c1", text, channel="mychannel"))).text
    """

    @property
    def name(self) -> str:
        """The bot's display name (`name:` in bot.yml)."""

    @property
    def config(self) -> BotConfig: ...

    @property
    def root(self) -> Path | None:
        """The bot project directory (None for a bot assembled in code)."""

    @property
    def store(self) -> "ConversationLog | None": ...

    @property
    def connector_state(self) -> "ConnectorState | None": ...

    def handle(self, message: Message) -> Reply:
        """Answer one message, blocking (CPU-bound; call it from a worker thread, never the event loop)."""

    def stream(self, message: Message) -> Iterator[str | Reply]:
        """Blocking `astream`."""

    async def ahandle(self, message: Message) -> Reply:
        """Answer one message without blocking the event loop; the turn is logged before it returns."""

    def astream(self, message: Message) -> AsyncIterator[str | Reply]:
        """Text chunks as they are produced, then the final Reply (whose text wins over the chunks)."""

    def reset(self, conversation_id: str) -> None:
        """Start a conversation over (its suggestions and the generator's history are forgotten)."""

    def sample_questions(self, limit: int) -> list[str]:
        """Up to `limit` FAQ questions, to show a new user what to ask."""

    def reload_knowledge_if_changed(self) -> Any:
        """Pick up edited knowledge files (None when nothing changed); ProjectError when one is broken."""

    def reload_build_if_published(self) -> bool:
        """Serve a build `smallbot train` published since (True when swapped in); False when there is none."""


@runtime_checkable
class ConnectorPlugin(Protocol):
    """A registered connector: its name (= its bot.yml section) and the reader of that section.

    `read_config` returns the connector's own settings value (a frozen dataclass, typically through
    `section.read(MyConfig)`), reporting problems with `section.problem(...)`; it is also called with
    `section.data` None to get the defaults, so it must not require keys when the section is absent.
    """

    @property
    def name(self) -> str:
        """The registered name, which is also the bot.yml section it owns."""

    def read_config(self, section: Section) -> Any: ...


@runtime_checkable
class StorePlugin(Protocol):
    """A registered store backend, chosen by `store.backend` in bot.yml (smallbot.store.open_store).

    `open` returns one object with both halves of `smallbot.store.Store`; with `create=False` a log that
    does not exist yet raises StoreError instead of being created (`smallbot forget` must not create one).
    """

    @property
    def name(self) -> str:
        """The registered name: the value of `store.backend` that selects it."""

    def open(self, root: Path, config: StoreConfig, *, create: bool = True) -> "Store": ...
