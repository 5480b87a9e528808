"""The one error tree of smallbot.

Library code raises; only a connector's shell catches, once per incoming message.

    SmallbotError
    ├── ConfigError (also ValueError)      a bot project or bot.yml is wrong; lists every problem
    │   └── ProjectError                   problems found while loading a bot project, with file and line
    ├── ModelNotFoundError                 a model name/dir/hub id cannot be resolved offline
    ├── ArtifactError                      `.smallbot/` is missing, stale or of another format version
    ├── NotReadyError                      a component was used before `load()`
    ├── TrainingError (also ValueError)    training data that cannot produce a model
    ├── ConnectorError                     a channel failed (bad credentials, unreachable API)
    └── StoreError                         the conversation store cannot be opened, migrated or written
"""

from __future__ import annotations

from dataclasses import dataclass


class SmallbotError(Exception):
    """Root of every error smallbot raises on purpose."""


class ConfigError(SmallbotError, ValueError):
    """A configuration value is wrong; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a bot project, located as precisely as the loader can."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ProjectError(ConfigError):
    """Every problem found in a bot project at once, so the author fixes them in one pass."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        head = f"bot project has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class ModelNotFoundError(SmallbotError):
    """A model could not be found offline; the message says what to install."""


class ArtifactError(SmallbotError):
    """A trained artifact is missing, incomplete or of an incompatible format."""


class NotReadyError(SmallbotError):
    """A component was used before its `load()` (or training) ran."""


class TrainingError(SmallbotError, ValueError):
    """Training data cannot produce a usable model."""


class ConnectorError(SmallbotError):
    """A connector could not talk to its channel."""


class StoreError(SmallbotError):
    """The conversation store failed: unreadable file, newer schema, a write that could not commit."""
