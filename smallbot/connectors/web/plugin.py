"""The web connector as registered under `web` (smallbot.registry): it owns the `web:` section. It is the host
of the one aiohttp application (`create_app`), so it adds no routes through the registry itself; the other
HTTP connectors add theirs to its application (`smallbot.connectors.web.mount`)."""

from __future__ import annotations

from dataclasses import dataclass

from smallbot.project.config import Section

from .settings import WebConfig, read_web_config


@dataclass(frozen=True)
class WebPlugin:
    name: str = "web"

    def read_config(self, section: Section) -> WebConfig:
        return read_web_config(section)


connector = WebPlugin()
