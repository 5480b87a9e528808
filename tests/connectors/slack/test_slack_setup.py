"""`setup` mounts the routes on any aiohttp app and refuses configurations that cannot work."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web

from smallbot.project.config import Secret
from smallbot.connectors.slack import SLACK, SlackConfig, setup
from smallbot.errors import ConfigError


def test_setup_mounts_the_three_endpoints(slack_env, tiny_bot):
    app = web.Application()
    setup(app, tiny_bot, SlackConfig(enabled=True, bot_token=Secret("SLACK_BOT_TOKEN"),
                                     signing_secret=Secret("SLACK_SIGNING_SECRET")))
    paths = {r.resource.canonical for r in app.router.routes() if r.method == "POST"}
    assert paths == {"/slack/events", "/slack/interactions", "/slack/commands"}
    assert app[SLACK].bot is tiny_bot


BASE = SlackConfig(enabled=True, bot_token=Secret("SLACK_BOT_TOKEN"), signing_secret=Secret("SLACK_SIGNING_SECRET"))


@pytest.mark.parametrize("changes, unset, names", [
    (dict(signing_secret=None), None, "slack.signing_secret"),
    (dict(bot_token=None), None, "slack.bot_token"),
    (dict(socket_mode=True), None, "slack.app_token"),
    ({}, "SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET"),
    ({}, "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
])
def test_setup_refuses_missing_secrets_naming_the_key(slack_env, monkeypatch, tiny_bot, changes, unset, names):
    if unset:
        monkeypatch.delenv(unset)
    with pytest.raises(ConfigError, match=names):
        setup(web.Application(), tiny_bot, dataclasses.replace(BASE, **changes))


def test_bot_yml_slack_section_reads_socket_mode_keys(tmp_path):
    from smallbot.project.config import load_config

    path = tmp_path / "bot.yml"
    path.write_text("slack:\n  enabled: true\n  bot_token: ${SLACK_BOT_TOKEN}\n  socket_mode: true\n"
                    "  app_token: ${SLACK_APP_TOKEN}\n  api_base_url: http://127.0.0.1:9/api/\n"
                    "  support_channel: C0HELPERS\n")
    problems = []
    slack = load_config(path, problems).connector("slack")
    assert problems == []
    assert (slack.socket_mode, slack.app_token, slack.api_base_url, slack.support_channel) == \
        (True, Secret("SLACK_APP_TOKEN"), "http://127.0.0.1:9/api/", "C0HELPERS")
    assert "***" in repr(slack.bot_token)


def test_bot_yml_refuses_a_literal_app_token(tmp_path):
    from smallbot.project.config import load_config

    path = tmp_path / "bot.yml"
    path.write_text("slack:\n  app_token: xapp-1-A0-secret\n")
    problems = []
    load_config(path, problems)
    assert any("slack.app_token" in str(p) and "environment variable" in str(p) for p in problems)
