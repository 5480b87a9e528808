"""smallbot: a chatbot and FAQ framework built on small models.

    >>> from smallbot import Bot, Message
    >>> bot = Bot.load("examples/helpdesk", train=True)
    >>> print(bot.handle(Message("c1", "how do I reset my password?")).text)

Heavy modules (torch, transformers, faiss) load only when `Bot` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smallbot.errors import (
    ArtifactError,
    ConfigError,
    ConnectorError,
    ModelNotFoundError,
    NotReadyError,
    Problem,
    ProjectError,
    SmallbotError,
    TrainingError,
)
from smallbot.types import Decision, Hit, IntentPrediction, Message, Reply, ReplyKind, Route, Source, Suggestion

__version__ = "0.1.0"

if TYPE_CHECKING:
    from smallbot.runtime.bot import Bot
    from smallbot.project.loader import Project, load_project

__all__ = [
    "ArtifactError",
    "Bot",
    "ConfigError",
    "ConnectorError",
    "Decision",
    "Hit",
    "IntentPrediction",
    "Message",
    "ModelNotFoundError",
    "NotReadyError",
    "Problem",
    "Project",
    "ProjectError",
    "Reply",
    "ReplyKind",
    "Route",
    "SmallbotError",
    "Source",
    "Suggestion",
    "TrainingError",
    "load_project",
    "__version__",
]


def __getattr__(name: str):
    if name == "Bot":
        from smallbot.runtime.bot import Bot

        return Bot
    if name in ("Project", "load_project"):
        from smallbot import project

        return getattr(project, name)
    raise AttributeError(f"module 'smallbot' has no attribute {name!r}")
