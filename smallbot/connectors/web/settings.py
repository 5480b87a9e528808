"""The web connector's settings: `WebConfig` is its `web:` section of bot.yml (the web connector owns and
validates it); `WebSettings` is what the server runs with, drawn from `web:` and `limits:` with overrides."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

from smallbot.project.config import BotConfig, Secret, Section
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
    api_key: Secret | None = None  # ${ENV_VAR}: callers sending it as a Bearer token may choose conversation ids
    # load balancers (addresses or networks) whose X-Forwarded-For names the client for the rate limit
    trusted_proxies: list[str] = field(default_factory=list)


def read_web_config(section: Section) -> WebConfig:
    """The section as a WebConfig; limits the server would refuse at start-up are reported now, with the line."""
    config = section.read(WebConfig)
    if config.max_request_bytes < 256:
        section.problem(
            f"'web.max_request_bytes' is {config.max_request_bytes}; use at least 256", key="max_request_bytes"
        )
    if config.rate_limit_per_minute <= 0:
        section.problem("'web.rate_limit_per_minute' must be > 0", key="rate_limit_per_minute")
    if config.rate_limit_burst < 1:
        section.problem("'web.rate_limit_burst' must be 1 or more", key="rate_limit_burst")
    for proxy in config.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            section.problem(
                f"'web.trusted_proxies' has {proxy!r}: give addresses or networks like 10.0.0.0/8",
                key="trusted_proxies",
            )
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
    trusted_proxies: tuple[str, ...] = ()  # balancers whose X-Forwarded-For names the client (access.ClientAddress)
    max_request_bytes: int = 16_384  # larger bodies get 413
    max_message_chars: int = 1000  # longer messages get 422
    rate_limit_per_minute: float = 30.0  # per client address, sustained
    rate_limit_burst: int = 10  # per client address, at once
    reload_seconds: float = 2.0  # how often changed knowledge files are picked up without a restart (0 = never)
    # A connection must finish its request headers within this many seconds of opening, and an idle
    # keep-alive connection is closed after it (aiohttp times both with one keep-alive timer).
    keepalive_timeout: float = 15.0
    body_timeout: float = 10.0  # a request body must arrive within this many seconds (408 otherwise)
    shutdown_timeout: float = 5.0  # on stop, in-flight replies get this long to finish
    # the environment variable holding the API key of server-to-server callers (web.api_key in bot.yml);
    # the name only, so the key never travels in a worker's command line
    api_key_env: str = ""

    def __post_init__(self) -> None:
        if self.max_request_bytes < 256:
            raise ConfigError(f"web.max_request_bytes is {self.max_request_bytes}; use at least 256")
        if self.rate_limit_per_minute <= 0 or self.rate_limit_burst < 1:
            raise ConfigError("web.rate_limit_per_minute must be > 0 and web.rate_limit_burst >= 1")
        if min(self.keepalive_timeout, self.body_timeout, self.shutdown_timeout) <= 0:
            raise ConfigError("the web server's keep-alive, body and shutdown timeouts must be > 0 seconds")

    def server_options(self) -> dict[str, Any]:
        """What every process serving the app passes to aiohttp (`web.run_app` or `web.AppRunner`), so no
        worker runs with aiohttp's defaults (an `AppRunner` keeps idle and half-sent connections 3,630 s)."""
        return {
            "keepalive_timeout": self.keepalive_timeout,
            "shutdown_timeout": self.shutdown_timeout,
            "access_log": access_logger(),
        }

    @classmethod
    def from_config(cls, config: BotConfig, **overrides: Any) -> "WebSettings":
        web: WebConfig = config.connector("web")
        values: dict[str, Any] = {
            "host": web.host,
            "port": web.port,
            "allowed_origins": tuple(web.allowed_origins),
            "trusted_proxies": tuple(web.trusted_proxies),
            "max_message_chars": config.limits.max_message_chars,
            "max_request_bytes": web.max_request_bytes,
            "rate_limit_per_minute": web.rate_limit_per_minute,
            "rate_limit_burst": web.rate_limit_burst,
            "reload_seconds": web.reload_seconds,
            "api_key_env": web.api_key.env_var if web.api_key is not None else "",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["allowed_origins"] = tuple(values["allowed_origins"])
        values["trusted_proxies"] = tuple(values["trusted_proxies"])
        return cls(**values)

    def replace(self, **changes: Any) -> "WebSettings":
        return dataclasses.replace(self, **changes)


def access_logger() -> logging.Logger:
    """One line per request at INFO ("smallbot.access": client address, request line, status, size, time;
    never a body), shown by `smallbot serve` even when other loggers are at WARNING; set its level to
    WARNING to silence it."""
    logger = logging.getLogger("smallbot.access")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger
