"""Channels: terminal, web (aiohttp + widget) and Slack. Each turns channel events into `Message`s and
`Reply`s into channel output, and holds no routing logic. Nothing depends on this package."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol

from smallbot.types import Message, Reply

Handle = Callable[[Message], Awaitable[Reply]]


class Connector(Protocol):
    """A channel: pure `parse`/`render` halves and a thin transport shell around them."""

    def parse(self, raw: Any) -> Message | None: ...

    def render(self, reply: Reply) -> Any: ...
