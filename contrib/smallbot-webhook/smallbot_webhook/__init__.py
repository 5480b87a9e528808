"""A generic outgoing-webhook connector for smallbot, registered as `webhook` through the
``smallbot.connectors`` entry point (see pyproject.toml). It uses only smallbot's public seams:
`Section` for its bot.yml section, `BotService` for the bot, and the `routes` hook of HTTP connectors.

>>> headers = signed_headers(body, "s3cret")   # what a sender puts on its POST
"""

from .config import WebhookConfig, read_webhook_config
from .connector import WebhookConnector, WebhookPlugin, connector
from .protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse, render, signature, signed_headers, verify

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookConfig", "WebhookConnector", "WebhookPlugin",
           "connector", "parse", "read_webhook_config", "render", "signature", "signed_headers", "verify"]
