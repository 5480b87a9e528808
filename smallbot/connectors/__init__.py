"""Channels: terminal, web (aiohttp + widget) and Slack, and any installed through the `smallbot.connectors`
entry points. Each turns channel events into `Message`s and `Reply`s into channel output, holds no routing
logic, and talks to the bot only through `BotService`. Nothing depends on this package.

Writing one (the README's "Writing a connector" has a complete example):

- a shell class that is a `Connector`: pure `parse` (the channel's payload -> Message) and `render`
  (Reply -> the channel's payload) around a thin transport;
- a registered object that is a `ConnectorPlugin`: its `name` (= its bot.yml section) and `read_config`;
  an HTTP connector adds `routes(app, bot, config)` (smallbot.connectors.web.HttpConnector).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol, runtime_checkable

from smallbot.project.config import Section
from smallbot.plugins import BotService, ConnectorPlugin
from smallbot.types import Message, Reply

__all__ = ["BotService", "Connector", "ConnectorPlugin", "Handle", "Section"]

Handle = Callable[[Message], Awaitable[Reply]]


@runtime_checkable
class Connector(Protocol):
    """A channel's shell: pure `parse`/`render` halves and a thin transport around them.

    >>> shell.parse({"text": "hi", "conversation_id": "c1"})
    Message(conversation_id='c1', text='hi', ...)
    >>> shell.render(reply)            # whatever the channel sends back: JSON, Block Kit, a terminal line
    """

    def parse(self, raw: Any) -> Message | None:
        """The channel's payload as a Message; None for payloads that are not a message to answer."""

    def render(self, reply: Reply) -> Any:
        """The reply in the channel's format."""
