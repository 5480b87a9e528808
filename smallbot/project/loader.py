"""A bot project directory: find its files, load and validate all of them, report every problem at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smallbot.project.config import BotConfig, load_config
from smallbot.errors import Problem, ProjectError

if TYPE_CHECKING:  # imported lazily at run time to keep smallbot light
    from smallbot.intents.dataset import IntentDataset
    from smallbot.knowledge.entries import FaqEntry

BUILD_DIR = ".smallbot"


@dataclass(frozen=True)
class Project:
    """A validated bot project: settings, intents and FAQ entries, plus the files they came from."""

    root: Path
    config: BotConfig
    intents: IntentDataset
    knowledge: tuple[FaqEntry, ...]
    intent_files: tuple[Path, ...] = ()
    knowledge_files: tuple[Path, ...] = ()
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def build_dir(self) -> Path:
        return self.root / BUILD_DIR


def intent_files(root: Path) -> list[Path]:
    folder = root / "intents"
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".yml", ".yaml")) if folder.is_dir() else []


def knowledge_files(root: Path) -> list[Path]:
    from smallbot.knowledge.loaders import SUFFIXES

    folder = root / "knowledge"
    return (
        sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES) if folder.is_dir() else []
    )


def load_project(root: str | Path) -> Project:
    """Load and validate a bot project; raises ProjectError listing every problem with file and line."""
    from smallbot.intents.dataset import load_intents
    from smallbot.knowledge.loaders import load_knowledge

    root = Path(root).resolve()
    if not root.is_dir():
        raise ProjectError([Problem(str(root), None, "not a directory: create a bot with `smallbot init DIR`")])
    problems: list[Problem] = []
    warnings: list[Problem] = []
    config = load_config(root / "bot.yml", problems)
    i_files = intent_files(root)
    k_files = knowledge_files(root)
    if not i_files and not k_files:
        problems.append(Problem(str(root), None, "no intents/*.yml and no knowledge/ files: nothing to train"))
    intents = load_intents(i_files, problems, root)
    knowledge = load_knowledge(k_files, problems, root, warnings)
    warnings.extend(intents.warnings)
    if problems:
        raise ProjectError(problems)
    return Project(root, config, intents, tuple(knowledge), tuple(i_files), tuple(k_files), tuple(warnings))
