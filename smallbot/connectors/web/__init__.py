"""Web chat: an aiohttp server with REST, WebSocket streaming, an embeddable widget and the demo page; other
HTTP connectors (`HttpConnector`) add their routes to the same application.

>>> from smallbot.connectors.web import create_app, WebSettings
>>> app = create_app(bot, WebSettings.from_config(bot.config, port=0))
"""

from .app import STATE, create_app
from .mount import CONNECTORS, HttpConnector, mount_connectors
from .protocol import BadRequest, Feedback, parse, parse_feedback, render
from .settings import WebConfig, WebSettings

__all__ = [
    "CONNECTORS",
    "STATE",
    "BadRequest",
    "Feedback",
    "HttpConnector",
    "WebConfig",
    "WebSettings",
    "create_app",
    "mount_connectors",
    "parse",
    "parse_feedback",
    "render",
]
