"""Slack fixtures: a real trained bot, the real aiohttp routes on loopback, and the package's local
stand-in of Slack's Web API. Requests are signed with the SDK's verifier against a fixed clock."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_asyncio

from smallbot.runtime.bot import Bot
from smallbot.connectors.slack.testing import SlackAPIStandIn
from smallbot.project.loader import load_project

from slack_helpers import BOT_TOKEN, SIGNING_SECRET, SlackClient, start_slack


@pytest.fixture
def slack_env(monkeypatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)


@pytest_asyncio.fixture
async def slack_api():
    async with SlackAPIStandIn(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def tiny_bot(trained_tiny, encoder) -> Bot:
    """A fresh Bot (fresh conversation state) over the session's trained tiny project."""
    return Bot.from_build(load_project(trained_tiny), encoder=encoder, with_store=False)


@pytest.fixture
def suggesting_bot(tiny_bot) -> Bot:
    """The tiny bot with bands that make most questions "did you mean" suggestions, as
    `thresholds: {faq_answer: 1.0, faq_suggest: 0.3}` in bot.yml would."""
    tiny_bot.policy = dataclasses.replace(tiny_bot.policy, faq_answer=1.0, faq_suggest=0.3)
    return tiny_bot


@pytest_asyncio.fixture
async def slack(aiohttp_client, slack_env, tiny_bot, slack_api) -> SlackClient:
    return await start_slack(aiohttp_client, tiny_bot, slack_api)
