"""Signed HTTP requests to the real aiohttp routes on loopback, a real trained bot, and the Web API
calls landing in the local stand-in of Slack."""

from __future__ import annotations

import json

import pytest

from smallbot.connectors.slack.testing import BOT_USER, event_body

from slack_helpers import NOW, SUPPORT, click_payload, start_slack

pytestmark = pytest.mark.asyncio

QUESTION = f"<@{BOT_USER}> How do I reset my password?"


def blocks_text(call) -> str:
    blocks = call.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


@pytest.mark.parametrize("path", ["/slack/events", "/slack/interactions", "/slack/commands"])
@pytest.mark.parametrize("case", ["bad signature", "old timestamp", "missing headers", "future timestamp"])
async def test_unverifiable_requests_get_401_and_no_reply(slack, path, case):
    body = event_body(QUESTION)
    if case == "bad signature":
        response = await slack.send(path, body, headers={"X-Slack-Request-Timestamp": str(NOW),
                                                         "X-Slack-Signature": "v0=" + "0" * 64})
    elif case == "old timestamp":  # correctly signed, but 5 minutes and 1 second before the clock
        response = await slack.send(path, body, timestamp=NOW - 301)
    elif case == "future timestamp":
        response = await slack.send(path, body, timestamp=NOW + 301)
    else:
        response = await slack.send(path, body, headers={})
    assert response.status == 401
    await slack.settled()
    assert slack.api.posts() == []


async def test_body_changed_after_signing_gets_401(slack):
    from smallbot.connectors.slack.testing import signed_headers

    from slack_helpers import SIGNING_SECRET

    headers = signed_headers(event_body("hi"), SIGNING_SECRET, NOW)
    response = await slack.send("/slack/events", event_body("talk to a human"), headers=headers)
    assert response.status == 401


async def test_url_verification_echoes_the_challenge(slack):
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    response = await slack.event(body)
    assert response.status == 200
    assert await response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_mention_is_answered_in_the_thread_of_the_question(slack):
    response = await slack.event(event_body(QUESTION, channel="C0SUPPORT", ts="1690000000.000100"))
    assert response.status == 200
    await slack.settled()
    [post] = slack.api.posts()
    assert post.args["channel"] == "C0SUPPORT"
    assert post.args["thread_ts"] == "1690000000.000100"
    assert "Forgot password" in blocks_text(post)
    assert post.token == "xoxb-test-token"


async def test_mention_inside_a_thread_is_answered_in_that_thread(slack):
    await slack.event(event_body(QUESTION, ts="1690000050.000200", thread_ts="1690000000.000100"))
    await slack.settled()
    [post] = slack.api.posts()
    assert post.args["thread_ts"] == "1690000000.000100"


async def test_follow_up_in_a_thread_the_bot_answered_needs_no_mention(slack):
    thread = "1690000000.000100"
    await slack.event(event_body(QUESTION, ts=thread, event_id="Ev1"))
    await slack.settled()

    def follow_up(ts, thread_ts, event_id):
        return event_body("What are your opening hours?", kind="message", channel_type="channel", ts=ts,
                          thread_ts=thread_ts, event_id=event_id)

    await slack.event(follow_up("1690000010.000100", thread, "Ev2"))
    await slack.event(follow_up("1690000030.000100", "1690000020.000100", "Ev3"))  # a thread we are not in
    await slack.settled()
    first, second = slack.api.posts(thread_ts=thread)
    assert "Monday to Friday" in blocks_text(second)
    assert slack.api.posts(thread_ts="1690000020.000100") == []


async def test_direct_message_is_answered(slack):
    await slack.event(event_body("What are your opening hours?", kind="message", channel="D0ALICE"))
    await slack.settled()
    [post] = slack.api.posts(channel="D0ALICE")
    assert "Monday to Friday" in blocks_text(post)


@pytest.mark.parametrize("extra", [
    {"bot_id": "B0OTHER"},  # another bot
    {"user": BOT_USER},  # ourselves
    {"subtype": "message_changed"},  # an edit
])
async def test_bot_and_edited_messages_are_ignored(slack, extra):
    await slack.event(event_body("What are your opening hours?", kind="message", channel="D0ALICE", **extra))
    await slack.settled()
    assert slack.api.posts() == []


async def test_a_retried_event_gets_one_reply(slack):
    body = event_body(QUESTION, event_id="Ev0RETRY")
    first = await slack.event(body)
    retry_while_handling = await slack.event(body, retry_num=1)
    await slack.settled()
    retry_after_reply = await slack.event(body, retry_num=2)
    await slack.settled()
    assert [first.status, retry_while_handling.status, retry_after_reply.status] == [200, 200, 200]
    assert len(slack.api.posts()) == 1


async def test_a_retry_of_an_event_whose_reply_failed_is_processed(slack):
    slack.api.fail_next("chat.postMessage", error="internal_error", status=500)
    body = event_body(QUESTION, event_id="Ev0FAIL")
    await slack.event(body)
    await slack.settled()
    assert slack.api.posts() == []
    assert slack.connector.state.status("Ev0FAIL") == "failed"
    await slack.event(body, retry_num=1)
    await slack.settled()
    [post] = slack.api.posts()
    assert "Forgot password" in blocks_text(post)


async def test_rate_limited_post_is_retried_after_retry_after_and_posted_once(slack):
    slack.api.rate_limit_next("chat.postMessage", retry_after=1)
    await slack.event(event_body(QUESTION))
    await slack.settled()
    attempts = slack.api.calls_to("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert len(slack.api.posts()) == 1


async def test_clicking_a_suggestion_answers_that_faq_in_the_thread(aiohttp_client, slack_env, suggesting_bot,
                                                                    slack_api):
    slack = await start_slack(aiohttp_client, suggesting_bot, slack_api)
    await slack.event(event_body(f"<@{BOT_USER}> password", ts="1690000000.000100"))
    await slack.settled()
    [offer] = slack.api.posts()
    assert "Did you mean" in blocks_text(offer)
    click = click_payload(offer.args, "smallbot_suggest")
    picked = json.loads(click["actions"][0]["value"])["text"]
    response = await slack.click(click)
    assert response.status == 200
    await slack.settled()
    first, answer = slack.api.posts(thread_ts="1690000000.000100")
    assert first is offer
    assert picked == "How do I reset my password?"
    assert "Forgot password" in blocks_text(answer)


async def test_typing_a_suggestion_number_in_the_thread_picks_it(aiohttp_client, slack_env, suggesting_bot,
                                                                 slack_api):
    slack = await start_slack(aiohttp_client, suggesting_bot, slack_api)
    await slack.event(event_body(f"<@{BOT_USER}> refund", ts="1690000000.000100", event_id="Ev1"))
    await slack.settled()
    await slack.event(event_body(f"<@{BOT_USER}> 1", ts="1690000009.000100", thread_ts="1690000000.000100",
                                 event_id="Ev2"))
    await slack.settled()
    offer, answer = slack.api.posts(thread_ts="1690000000.000100")
    assert "Did you mean" in blocks_text(offer)
    assert "Refunds within 30 days" in blocks_text(answer)


async def test_feedback_click_thanks_the_user_privately(slack):
    await slack.event(event_body(QUESTION, ts="1690000000.000100"))
    await slack.settled()
    [answer] = slack.api.posts()
    await slack.click(click_payload(answer.args, "smallbot_feedback:up"))
    await slack.settled()
    [thanks] = slack.api.calls_to("chat.postEphemeral")
    assert thanks.args["user"] == "U0ALICE"
    assert thanks.args["thread_ts"] == "1690000000.000100"


async def test_handoff_pauses_the_thread_until_a_person_marks_it_resolved(slack):
    thread = "1690000000.000100"
    await slack.event(event_body(f"<@{BOT_USER}> talk to a human", ts=thread, event_id="Ev1"))
    await slack.settled()
    handoff_reply = slack.api.posts(thread_ts=thread)
    [notice] = slack.api.posts(channel=SUPPORT)
    [permalink] = slack.api.calls_to("chat.getPermalink")
    assert "Connecting you to a person" in blocks_text(handoff_reply[0])
    assert permalink.args == {"channel": "C0SUPPORT", "message_ts": thread}
    assert "p1690000000000100" in blocks_text(notice)  # the thread's permalink
    assert "<@U0ALICE>" in blocks_text(notice)

    # while a person has the thread, the bot stays quiet there, but still answers other threads
    await slack.event(event_body(QUESTION, ts="1690000010.000100", thread_ts=thread, event_id="Ev2"))
    await slack.event(event_body(QUESTION, ts="1690000020.000100", event_id="Ev3"))
    await slack.settled()
    assert len(slack.api.posts(thread_ts=thread)) == 1
    assert len(slack.api.posts(thread_ts="1690000020.000100")) == 1

    # a support person clicks "Mark resolved" in the support channel (twice: the second does nothing)
    for _ in range(2):
        await slack.click(click_payload(notice.args, "smallbot_resolve", user="U0AGENT", channel=SUPPORT,
                                        message_ts=notice.response["ts"]))
        await slack.settled()
    [update] = slack.api.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (SUPPORT, notice.response["ts"])
    assert "resolved" in json.dumps(update.args["blocks"])
    [back] = [p for p in slack.api.posts(thread_ts=thread) if "marked this resolved" in p.args["text"]]
    assert back.args["text"].startswith("<@U0AGENT> marked this resolved")

    await slack.event(event_body(QUESTION, ts="1690000030.000100", thread_ts=thread, event_id="Ev4"))
    await slack.settled()
    assert "Forgot password" in blocks_text(slack.api.posts(thread_ts=thread)[-1])


async def test_retry_after_a_failed_handoff_notice_notifies_support_without_repeating_the_reply(slack):
    thread = "1690000000.000100"
    slack.api.fail_next("chat.getPermalink", error="internal_error")
    body = event_body(f"<@{BOT_USER}> talk to a human", ts=thread, event_id="EvHand")
    await slack.event(body)
    await slack.settled()
    assert len(slack.api.posts(thread_ts=thread)) == 1
    assert slack.api.posts(channel=SUPPORT) == []
    assert slack.connector.state.status("EvHand") == "failed"
    await slack.event(body, retry_num=1)
    await slack.settled()
    assert len(slack.api.posts(thread_ts=thread)) == 1
    assert len(slack.api.posts(channel=SUPPORT)) == 1


async def test_ask_command_posts_the_question_and_answers_in_its_thread(slack):
    response = await slack.command("How do I delete my account?", channel="C0GENERAL")
    assert response.status == 200
    await slack.settled()
    question, answer = slack.api.posts(channel="C0GENERAL")
    assert question.args.get("thread_ts") is None
    assert "<@U0ALICE> asked: How do I delete my account?" == question.args["text"]
    assert answer.args["thread_ts"] == question.response["ts"]
    assert "Delete account" in blocks_text(answer)


async def test_ask_command_without_a_question_explains_itself(slack):
    response = await slack.command("  ")
    body = await response.json()
    assert body["response_type"] == "ephemeral"
    assert "/ask" in body["text"]


async def test_feedback_click_is_stored_against_the_reply_it_was_on(aiohttp_client, slack_env, slack_api, tiny_copy,
                                                                    encoder):
    from smallbot.runtime.bot import Bot
    from smallbot.project.loader import load_project

    bot = Bot.from_build(load_project(tiny_copy), encoder=encoder)  # with its SQLite store
    try:
        slack = await start_slack(aiohttp_client, bot, slack_api)
        thread = "1690000000.000100"
        await slack.event(event_body(QUESTION, ts=thread, event_id="Ev1"))
        await slack.settled()
        await slack.event(event_body(f"<@{BOT_USER}> when are you open", ts="1690000005.000100", thread_ts=thread,
                                     event_id="Ev2"))
        await slack.settled()
        first, second = slack.api.posts(thread_ts=thread)
        await slack.click(click_payload(first.args, "smallbot_feedback:down"))
        await slack.click(click_payload(second.args, "smallbot_feedback:up"))
        await slack.settled()
        cid = f"T0TEST:C0SUPPORT:{thread}"
        turns = bot.store.turns(cid)
        assert [t.sources for t in turns] == [("reset-password",), ("opening-hours",)]
        stored = {(f.message_id, f.score) for f in bot.store.feedback(cid)}
        assert stored == {(turns[0].id, -1), (turns[1].id, 1)}
        assert len(slack.api.calls_to("chat.postEphemeral")) == 2  # each still thanked privately
    finally:
        bot.close()
