"""Web chat: an aiohttp server with REST, WebSocket streaming, an embeddable widget and the demo page.

>>> from smallbot.connectors.web import create_app, WebSettings
>>> app = create_app(bot, WebSettings.from_config(bot.config, port=0))
"""

from .app import STATE, create_app
from .protocol import BadRequest, Feedback, parse, parse_feedback, render
from .settings import WebSettings

__all__ = ["STATE", "BadRequest", "Feedback", "WebSettings", "create_app", "parse", "parse_feedback", "render"]
