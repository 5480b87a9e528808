"""The web connector's settings: `WebConfig` is its `web:` section of bot.yml (the web connector owns and
validates it); `WebSettings` is what the server runs with, drawn from `web:` and `limits:` with overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from smallbot.config import BotConfig, Section
from smallbot.errors import ConfigError


@dataclass(frozen=True)
class WebConfig:
    """The `web:` section as written in bot.yml."""

    host: str = "127.0.0.1"
    port: int = 8080
    allowed_origins: list[str] = field(default_factory=list)
    max_request_bytes: int = 16384  # larger request bodies get 413
    rate_limit_per_minute: float = 30.0  # per client address; over it: 429 with Retry-After
    rate_limit_burst: int = 10
    reload_seconds: float = 2.0  # how often a running server picks up edited knowledge files (0 = never)


def read_web_config(section: Section) -> WebConfig:
    """The section as a WebConfig; limits the server would refuse at start-up are reported now, with the line."""
    config = section.read(WebConfig)
    if config.max_request_bytes < 256:
        section.problem(f"'web.max_request_bytes' is {config.max_request_bytes}; use at least 256",
                        key="max_request_bytes")
    if config.rate_limit_per_minute <= 0:
        section.problem("'web.rate_limit_per_minute' must be > 0", key="rate_limit_per_minute")
    if config.rate_limit_burst < 1:
        section.problem("'web.rate_limit_burst' must be 1 or more", key="rate_limit_burst")
    if not 0 <= config.port <= 65535:
        section.problem(f"'web.port' is {config.port}; use 0 (any free port) to 65535", key="port")
    return config


@dataclass(frozen=True)
class WebSettings:
    """Server limits and the embedding policy.

    >>> WebSettings.from_config(bot.config, port=0).port
    0
    """

    host: str = "127.0.0.1"
    port: int = 8080
    allowed_origins: tuple[str, ...] = ()  # origins whose pages may embed the widget; "*" for any
    max_request_bytes: int = 16_384  # larger bodies get 413
    max_message_chars: int = 1000  # longer messages get 422
    rate_limit_per_minute: float = 30.0  # per client address, sustained
    rate_limit_burst: int = 10  # per client address, at once
    reload_seconds: float = 2.0  # how often changed knowledge files are picked up without a restart (0 = never)

    def __post_init__(self) -> None:
        if self.max_request_bytes < 256:
            raise ConfigError(f"web.max_request_bytes is {self.max_request_bytes}; use at least 256")
        if self.rate_limit_per_minute <= 0 or self.rate_limit_burst < 1:
            raise ConfigError("web.rate_limit_per_minute must be > 0 and web.rate_limit_burst >= 1")

    @classmethod
    def from_config(cls, config: BotConfig, **overrides: Any) -> "WebSettings":
        web: WebConfig = config.connector("web")
        values: dict[str, Any] = {
            "host": web.host,
            "port": web.port,
            "allowed_origins": tuple(web.allowed_origins),
            "max_message_chars": config.limits.max_message_chars,
            "max_request_bytes": web.max_request_bytes,
            "rate_limit_per_minute": web.rate_limit_per_minute,
            "rate_limit_burst": web.rate_limit_burst,
            "reload_seconds": web.reload_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["allowed_origins"] = tuple(values["allowed_origins"])
        return cls(**values)

    def replace(self, **changes: Any) -> "WebSettings":
        return dataclasses.replace(self, **changes)
