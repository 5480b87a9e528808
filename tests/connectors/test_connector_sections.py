"""Each built-in connector validates its own bot.yml section, with the file and line of every problem."""

from __future__ import annotations

import textwrap

from smallbot.project.config import load_config
from smallbot.connectors.slack import SlackConfig
from smallbot.connectors.web import WebConfig


def _problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "bot.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    problems: list = []
    load_config(path, problems)
    return [str(p) for p in problems]


def test_web_section_is_read_by_the_web_connector(tmp_path):
    path = tmp_path / "bot.yml"
    path.write_text("web:\n  port: 9001\n  allowed_origins: [https://a.example]\n")
    problems: list = []
    config = load_config(path, problems)
    assert problems == []
    assert config.connector("web") == WebConfig(port=9001, allowed_origins=["https://a.example"])
    assert config.connector("slack") == SlackConfig()  # no section: the connector's defaults


def test_web_section_problems_name_the_line(tmp_path):
    assert _problems(tmp_path, """
        name: x
        web:
          port: eighty
          max_request_bytes: 10
          rate_limit_brust: 3
    """) == [
        "bot.yml:3: 'web.port' must be an integer, got 'eighty'",
        "bot.yml:5: unknown key 'web.rate_limit_brust': did you mean 'web.rate_limit_burst'?",
        "bot.yml:4: 'web.max_request_bytes' is 10; use at least 256",
    ]


def test_enabled_slack_without_its_secrets_is_refused_at_load_with_the_line(tmp_path):
    problems = _problems(tmp_path, """
        name: x
        slack:
          enabled: true
          socket_mode: true
    """)
    assert problems == [
        "bot.yml:3: 'slack.bot_token' is missing: set it to ${SLACK_BOT_TOKEN} (the xoxb-... token from your Slack "
        "app's OAuth & Permissions page)",
        "bot.yml:4: 'slack.app_token' is missing but slack.socket_mode is true: set it to ${SLACK_APP_TOKEN} (an "
        "xapp-... token with connections:write)",
    ]
    assert _problems(tmp_path, "slack:\n  enabled: false\n") == []  # a switched-off Slack needs nothing
