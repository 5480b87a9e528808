"""The `webhook:` section of bot.yml, validated by the connector itself with smallbot's `Section`."""

from __future__ import annotations

from dataclasses import dataclass

from smallbot.project.config import Secret, Section


@dataclass(frozen=True)
class WebhookConfig:
    """What the webhook connector needs.

    >>> WebhookConfig(secret=Secret("WEBHOOK_SECRET"), path="/hooks/helpdesk")
    """

    secret: Secret | None = None  # the shared HMAC key, by environment-variable name
    path: str = "/webhook"
    max_body_bytes: int = 16384
    tolerance_seconds: int = 300  # how far a request's timestamp may be from our clock (replays are refused)


def read_webhook_config(section: Section) -> WebhookConfig:
    """The section as a WebhookConfig. A written `webhook:` section switches the connector on, so it must
    name its secret; every problem is reported with its line."""
    config = section.read(WebhookConfig)
    if section.data is None:
        return config  # the defaults, asked for without a section: nothing is switched on
    if config.secret is None:
        section.problem("'webhook.secret' is required: set it to ${WEBHOOK_SECRET} and export the key you share "
                        "with the sender")
    if not config.path.startswith("/") or config.path.startswith("/api/"):
        section.problem(f"'webhook.path' is {config.path!r}: use a path that starts with '/' and is outside "
                        "/api/ (the widget's), e.g. /webhook", key="path")
    if config.max_body_bytes < 256:
        section.problem(f"'webhook.max_body_bytes' is {config.max_body_bytes}; use at least 256",
                        key="max_body_bytes")
    if config.tolerance_seconds < 1:
        section.problem("'webhook.tolerance_seconds' must be 1 or more", key="tolerance_seconds")
    return config
