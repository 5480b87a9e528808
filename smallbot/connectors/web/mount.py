"""HTTP connectors on the one aiohttp application: every connector whose section is in bot.yml and that has a
`routes` hook (`HttpConnector`) adds its endpoints, so the web server knows no channel by name.

A hook may decline (Slack with `enabled: false`) by returning None. What each mounted connector returned is
kept under `CONNECTORS`, by name, for operations and tests.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from smallbot.plugins import BotService, ConnectorPlugin
from smallbot.registry import load_connector

from .. import Connector

CONNECTORS = web.AppKey("smallbot_connectors", dict[str, Connector])


@runtime_checkable
class HttpConnector(ConnectorPlugin, Protocol):
    """A connector that serves over HTTP next to the widget.

    `routes` adds its handlers (and any start-up/shut-down work in ``app.cleanup_ctx``) to `app`, using
    `config` (what its own `read_config` returned). Its paths must not start with ``/api/`` (the widget's)
    and should start with its own name (``/slack/...``, ``/webhook``).

    >>> def routes(self, app, bot, config):
    ...     shell = TeamsConnector(bot, config)
    ...     app.router.add_post("/teams/messages", shell.on_post)
    ...     return shell
    """

    def routes(self, app: web.Application, bot: BotService, config: Any) -> Connector | None: ...


def mount_connectors(app: web.Application, bot: BotService) -> dict[str, Connector]:
    """Let every configured HTTP connector add its routes to `app`; returns what each mounted, by name."""
    mounted: dict[str, Connector] = {}
    for name in sorted(bot.config.connectors):
        plugin = load_connector(name)
        if isinstance(plugin, HttpConnector):
            shell = plugin.routes(app, bot, bot.config.connectors[name])
            if shell is not None:
                mounted[name] = shell
    app[CONNECTORS] = mounted
    return mounted
