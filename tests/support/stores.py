"""The settings each store backend is opened with in tests: one place, so every store test (the contract,
the bot, the commands) runs against every registered backend the same way a bot opens it."""

from __future__ import annotations

import pytest

from smallbot.project.config import Secret, StoreConfig

DATABASE_URL_VAR = "SMALLBOT_TEST_DATABASE_URL"  # test bot.yml files say store.url: ${SMALLBOT_TEST_DATABASE_URL}


def store_config(backend: str, request: pytest.FixtureRequest) -> StoreConfig:
    """`store:` settings for `backend`; a server backend gets a fresh database of its own (fixture
    `postgres_url`, which also sets $SMALLBOT_TEST_DATABASE_URL)."""
    if backend == "postgres":
        request.getfixturevalue("postgres_url")
        return StoreConfig(backend="postgres", url=Secret(DATABASE_URL_VAR))
    return StoreConfig(backend=backend)


def bot_yml_store(backend: str) -> str:
    """The `store:` section of a test bot.yml for `backend`."""
    if backend == "postgres":
        return f"store:\n  backend: postgres\n  url: ${{{DATABASE_URL_VAR}}}\n"
    return f"store:\n  backend: {backend}\n"
