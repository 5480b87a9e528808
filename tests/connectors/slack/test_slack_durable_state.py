"""Slack state that outlives the process: a bot with its SQLite store is stopped and a new one (new Bot,
new connector, new app) is started over the same file, as a restart or a second replica would be."""

from __future__ import annotations

import json

import pytest

from smallbot.runtime.bot import Bot
from smallbot.connectors.slack import StoreSlackState
from smallbot.connectors.slack.testing import BOT_USER, event_body
from smallbot.project.loader import load_project

from slack_helpers import SUPPORT, click_payload, start_slack

pytestmark = pytest.mark.asyncio

QUESTION = f"<@{BOT_USER}> How do I reset my password?"
THREAD = "1690000000.000100"


@pytest.fixture
def restart(aiohttp_client, slack_env, slack_api, tiny_copy, encoder):
    """`await restart()` stops the running Slack app and its bot (if any) and starts fresh ones over the
    same bot directory and store file; everything is stopped after the test."""
    running: list = []

    async def stop() -> None:
        while running:
            client, bot = running.pop()
            await client.http.close()  # runs the app's clean-up: the connector closes
            bot.close()

    async def start():
        await stop()
        bot = Bot.from_build(load_project(tiny_copy), encoder=encoder)
        client = await start_slack(aiohttp_client, bot, slack_api)
        running.append((client, bot))
        assert isinstance(client.connector.state, StoreSlackState)
        return client

    yield start
    # aiohttp_client closes what is still open; the bot's store is ours to close
    for _, bot in running:
        bot.close()


async def test_a_retried_event_after_a_restart_is_still_dropped(restart):
    slack = await restart()
    body = event_body(QUESTION, ts=THREAD, event_id="Ev0DURABLE")
    await slack.event(body)
    await slack.settled()
    assert len(slack.api.posts(thread_ts=THREAD)) == 1

    slack = await restart()
    assert slack.connector.state.status("Ev0DURABLE") == "done"
    response = await slack.event(body, retry_num=1)
    await slack.settled()
    assert response.status == 200
    assert len(slack.api.posts(thread_ts=THREAD)) == 1  # the stand-in outlives the restarts: one reply in all


async def test_a_handed_off_thread_stays_paused_across_restarts_until_resolved(restart):
    slack = await restart()
    await slack.event(event_body(f"<@{BOT_USER}> talk to a human", ts=THREAD, event_id="Ev1"))
    await slack.settled()
    [notice] = slack.api.posts(channel=SUPPORT)
    assert len(slack.api.posts(thread_ts=THREAD)) == 1

    slack = await restart()  # the person still has the thread
    await slack.event(event_body(QUESTION, ts="1690000010.000100", thread_ts=THREAD, event_id="Ev2"))
    await slack.settled()
    assert len(slack.api.posts(thread_ts=THREAD)) == 1

    # "Mark resolved" after the restart still updates the notice with what it said
    await slack.click(click_payload(notice.args, "smallbot_resolve", user="U0AGENT", channel=SUPPORT,
                                    message_ts=notice.response["ts"]))
    await slack.settled()
    [update] = slack.api.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (SUPPORT, notice.response["ts"])
    blocks = json.dumps(update.args["blocks"])
    assert "resolved" in blocks and "talk to a human" in blocks and "U0ALICE" in blocks
    assert any("marked this resolved" in p.args["text"] for p in slack.api.posts(thread_ts=THREAD))

    slack = await restart()  # resolved durably: the bot answers in the thread again
    await slack.event(event_body(QUESTION, ts="1690000030.000100", thread_ts=THREAD, event_id="Ev3"))
    await slack.settled()
    assert "Forgot password" in json.dumps(slack.api.posts(thread_ts=THREAD)[-1].args["blocks"])
    # and a second click on the old notice does nothing
    await slack.click(click_payload(notice.args, "smallbot_resolve", user="U0AGENT", channel=SUPPORT,
                                    message_ts=notice.response["ts"]))
    await slack.settled()
    assert len(slack.api.calls_to("chat.update")) == 1


async def test_a_follow_up_without_mention_in_a_thread_answered_before_a_restart_is_answered(restart):
    slack = await restart()
    await slack.event(event_body(QUESTION, ts=THREAD, event_id="Ev1"))
    await slack.settled()

    slack = await restart()
    follow_up = event_body("What are your opening hours?", kind="message", channel_type="channel",
                           ts="1690000010.000100", thread_ts=THREAD, event_id="Ev2")
    elsewhere = event_body("What are your opening hours?", kind="message", channel_type="channel",
                           ts="1690000030.000100", thread_ts="1690000020.000100", event_id="Ev3")
    await slack.event(follow_up)
    await slack.event(elsewhere)
    await slack.settled()
    first, second = slack.api.posts(thread_ts=THREAD)
    assert "Monday to Friday" in json.dumps(second.args["blocks"])
    assert slack.api.posts(thread_ts="1690000020.000100") == []
