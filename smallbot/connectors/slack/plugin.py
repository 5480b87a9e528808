"""The Slack connector as registered under `slack` (smallbot.registry): it owns the `slack:` section and, when
`slack.enabled`, puts its Events API routes on the web server's application (`smallbot serve`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from smallbot.project.config import Section
from smallbot.plugins import BotService

from .config import SlackConfig, read_slack_config
from .connector import SlackConnector


@dataclass(frozen=True)
class SlackPlugin:
    name: str = "slack"

    def read_config(self, section: Section) -> SlackConfig:
        return read_slack_config(section)

    def routes(self, app: web.Application, bot: BotService, config: SlackConfig) -> SlackConnector | None:
        """Mount /slack/events, /slack/interactions and /slack/commands (or Socket Mode) when enabled."""
        if not config.enabled:
            return None
        from . import SLACK, setup

        setup(app, bot, config)
        return app[SLACK]


connector = SlackPlugin()
