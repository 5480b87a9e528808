"""The registry of connectors and stores: components are chosen by short registered names, never by import
paths written in `bot.yml`.

Two sources, merged:

- the built-ins (`web`, `slack` and `terminal` connectors, the `sqlite` and `postgres` stores), registered here
  in code so a source checkout or an editable install made before a built-in was added still finds them;
- Python entry points of installed distributions, in the groups ``smallbot.connectors`` and
  ``smallbot.stores`` (read with `importlib.metadata`). A third party adds a connector by declaring, in its
  own pyproject.toml::

      [project.entry-points."smallbot.connectors"]
      teams = "smallbot_teams:connector"

A name is a `bot.yml` section for a connector and a `store.backend` value for a store. Looking names up is
cheap (nothing is imported); a component is imported the first time it is used, so a bot without a `slack:`
section never imports the Slack SDK. An entry point that reuses a name already taken by something else is an
error that names both, never a silent replacement.

    >>> connector_names()
    ('slack', 'terminal', 'web')
    >>> load_connector("web").name
    'web'
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from smallbot.errors import ConfigError

if TYPE_CHECKING:
    from smallbot.plugins import ConnectorPlugin, StorePlugin

CONNECTORS = "smallbot.connectors"
STORES = "smallbot.stores"
BUILT_IN = "smallbot"  # the origin of what this package registers itself

_BUILT_INS: dict[str, dict[str, str]] = {
    CONNECTORS: {
        "web": "smallbot.connectors.web.plugin:connector",
        "slack": "smallbot.connectors.slack.plugin:connector",
        "terminal": "smallbot.connectors.terminal:connector",
    },
    STORES: {
        "sqlite": "smallbot.store.sqlite:sqlite",
        "postgres": "smallbot.store.postgres:postgres",  # needs the `postgres` extra (psycopg)
    },
}


@dataclass(frozen=True)
class Registration:
    """One registered name: where its object lives (``module:attribute``) and which distribution said so."""

    group: str
    name: str
    target: str
    origin: str

    def load(self) -> Any:
        try:
            return metadata.EntryPoint(self.name, self.target, self.group).load()
        except Exception as exc:  # an ImportError, or any error the plugin's module raises on import
            raise ConfigError(
                f"{_kind(self.group)} '{self.name}' from {self.origin} ({self.target}) failed to "
                f"load: {type(exc).__name__}: {exc}; reinstall {self.origin} or remove its "
                "section"
            ) from exc


_lock = threading.Lock()
_table: dict[str, dict[str, Registration | ConfigError]] | None = None
_loaded: dict[tuple[str, str], Any] = {}


def refresh() -> None:
    """Forget what was read; the next look-up reads the installed entry points again (after an install)."""
    global _table
    with _lock:
        _table = None
        _loaded.clear()


def connector_names() -> tuple[str, ...]:
    """Every registered connector name (the `bot.yml` sections connectors own), sorted; imports nothing."""
    return tuple(sorted(_registrations(CONNECTORS)))


def store_names() -> tuple[str, ...]:
    """Every registered store backend name (values of `store.backend`), sorted; imports nothing."""
    return tuple(sorted(_registrations(STORES)))


def registration(group: str, name: str) -> Registration:
    """Where `name` comes from; ConfigError naming the known names (and the closest) when none is registered."""
    entry = _registrations(group).get(name)
    if entry is None:
        known = sorted(_registrations(group))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known) or 'none'}"
        raise ConfigError(f"no {_kind(group)} named '{name}' is installed: {hint}")
    if isinstance(entry, ConfigError):
        raise entry
    return entry


def load_connector(name: str) -> "ConnectorPlugin":
    """The connector registered as `name`, imported on first use and checked against `ConnectorPlugin`."""
    from smallbot.plugins import ConnectorPlugin

    return _load(CONNECTORS, name, ConnectorPlugin)


def load_store(name: str) -> "StorePlugin":
    """The store backend registered as `name`, imported on first use and checked against `StorePlugin`."""
    from smallbot.plugins import StorePlugin

    return _load(STORES, name, StorePlugin)


def _load(group: str, name: str, protocol: type) -> Any:
    key = (group, name)
    if key in _loaded:
        return _loaded[key]
    entry = registration(group, name)
    plugin = entry.load()
    if not isinstance(plugin, protocol):
        raise ConfigError(
            f"{_kind(group)} '{name}' from {entry.origin} ({entry.target}) is not a "
            f"{protocol.__name__}: it lacks {', '.join(_missing(plugin, protocol))}"
        )
    if getattr(plugin, "name", None) != name:
        raise ConfigError(
            f"{_kind(group)} registered as '{name}' by {entry.origin} calls itself "
            f"'{getattr(plugin, 'name', None)}': the entry point's name and the object's `name` "
            "must be the same"
        )
    with _lock:
        _loaded[key] = plugin
    return plugin


def _registrations(group: str) -> dict[str, Registration | ConfigError]:
    global _table
    with _lock:
        if _table is None:
            _table = {g: _read(g) for g in _BUILT_INS}
        return _table[group]


def _read(group: str) -> dict[str, Registration | ConfigError]:
    """Built-ins first, then every installed entry point of `group`; a clash is kept as the error it is."""
    table: dict[str, Registration | ConfigError] = {
        name: Registration(group, name, target, BUILT_IN) for name, target in _BUILT_INS[group].items()
    }
    for point in metadata.entry_points(group=group):
        dist = point.dist.name if point.dist is not None else "an unnamed distribution"
        if dist.replace("_", "-").lower() == BUILT_IN:
            continue  # this package's own declarations (if any) are the built-ins above
        mine = Registration(group, point.name, point.value, dist)
        other = table.get(point.name)
        if other is None:
            table[point.name] = mine
        elif isinstance(other, Registration) and other.target == mine.target:
            continue  # the same distribution seen twice on sys.path
        else:
            first = other.origin if isinstance(other, Registration) else "two distributions"
            table[point.name] = ConfigError(
                f"{_kind(group)} name '{point.name}' is registered twice, by {first} and by {dist}: uninstall "
                "one of them"
            )
    return table


def _kind(group: str) -> str:
    return "connector" if group == CONNECTORS else "store backend"


def _missing(obj: Any, protocol: type) -> list[str]:
    wanted = [name for name in dir(protocol) if not name.startswith("_")]
    wanted += list(getattr(protocol, "__annotations__", {}))
    return sorted({name for name in wanted if not hasattr(obj, name)}) or ["a member of the protocol"]
