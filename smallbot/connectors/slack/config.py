"""`SlackConfig`: the `slack:` section of bot.yml, owned and validated by the Slack connector."""

from __future__ import annotations

from dataclasses import dataclass

from smallbot.project.config import Secret, Section


@dataclass(frozen=True)
class SlackConfig:
    """What the Slack connector needs; secrets are environment-variable references, read at start-up.

    >>> SlackConfig(enabled=True, bot_token=Secret("SLACK_BOT_TOKEN"), signing_secret=Secret("SLACK_SIGNING_SECRET"))
    """

    enabled: bool = False
    bot_token: Secret | None = None
    signing_secret: Secret | None = None
    support_channel: str = ""
    # Socket Mode instead of the public HTTP endpoints (needs an app-level token, xapp-...)
    socket_mode: bool = False
    app_token: Secret | None = None
    # Slack's Web API; tests point it at smallbot.connectors.slack.testing.SlackAPIStandIn
    api_base_url: str = "https://slack.com/api/"


def read_slack_config(section: Section) -> SlackConfig:
    """The section as a SlackConfig; an enabled Slack without the secrets it needs is a problem at load time,
    with its line, instead of a failed start-up later."""
    config = section.read(SlackConfig)
    if not config.enabled:
        return config
    if config.bot_token is None:
        section.problem(
            "'slack.bot_token' is missing: set it to ${SLACK_BOT_TOKEN} (the xoxb-... token from your "
            "Slack app's OAuth & Permissions page)",
            key="enabled",
        )
    if config.socket_mode and config.app_token is None:
        section.problem(
            "'slack.app_token' is missing but slack.socket_mode is true: set it to ${SLACK_APP_TOKEN} "
            "(an xapp-... token with connections:write)",
            key="socket_mode",
        )
    if not config.socket_mode and config.signing_secret is None:
        section.problem(
            "'slack.signing_secret' is missing: set it to ${SLACK_SIGNING_SECRET} (Basic Information "
            "page of your Slack app), or use socket_mode: true with an app_token",
            key="enabled",
        )
    return config
