"""The web app mounts HTTP connectors through the registry and knows none by name; connectors see the bot
only through `BotService`."""

from __future__ import annotations

import io

from smallbot.runtime.bot import Bot
from smallbot.connectors import Connector
from smallbot.connectors.slack import SlackConfig, SlackConnector
from smallbot.connectors.terminal import TerminalConnector
from smallbot.connectors.web import CONNECTORS, WebSettings, create_app
from smallbot.plugins import BotService
from smallbot.project.loader import load_project


def _bot(root, bot_yml: str, encoder) -> Bot:
    (root / "bot.yml").write_text(bot_yml)
    return Bot.from_build(load_project(root), encoder=encoder, with_store=False)


def _post_paths(app) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.method == "POST"}


def test_slack_enabled_in_bot_yml_mounts_its_routes_with_its_own_section(tiny_copy, encoder, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    bot = _bot(tiny_copy, "name: Tiny\nslack:\n  enabled: true\n  bot_token: ${SLACK_BOT_TOKEN}\n"
                          "  signing_secret: ${SLACK_SIGNING_SECRET}\n  support_channel: C0HELP\n", encoder)
    app = create_app(bot, WebSettings.from_config(bot.config, port=0))
    assert {"/slack/events", "/slack/interactions", "/slack/commands", "/api/messages"} <= _post_paths(app)
    slack = app[CONNECTORS]["slack"]
    assert isinstance(slack, SlackConnector) and isinstance(slack, Connector)
    assert isinstance(slack.config, SlackConfig) and slack.config.support_channel == "C0HELP"


def test_a_switched_off_or_absent_connector_adds_no_routes(tiny_copy, encoder):
    for text in ("name: Tiny\n", "name: Tiny\nslack:\n  enabled: false\n"):
        app = create_app(_bot(tiny_copy, text, encoder), WebSettings(port=0))
        assert not any(path.startswith("/slack") for path in _post_paths(app))
        assert app[CONNECTORS] == {}


def test_the_bot_is_a_bot_service_and_the_shells_are_connectors(tiny_bot):
    assert isinstance(tiny_bot, BotService)
    assert tiny_bot.name == "Tiny" and tiny_bot.store is not None and tiny_bot.connector_state is not None
    assert tiny_bot.sample_questions(2) == ["How do I reset my password?", "What are your opening hours?"]


def test_the_terminal_shell_is_a_connector(tiny_bot):
    terminal = TerminalConnector(tiny_bot, io.StringIO(), io.StringIO())
    assert isinstance(terminal, Connector)
    assert terminal.parse("  hi  ").text == "hi" and terminal.parse("   ") is None
