"""`smallbot slack DIR` as a real process: signed events in over HTTP, replies out to the stand-in."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp
import pytest

from smallbot.connectors.slack.testing import BOT_USER, event_body, signed_headers

from slack_helpers import BOT_TOKEN, SIGNING_SECRET, SUPPORT

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


async def test_slack_command_serves_signed_events_until_terminated(tiny_copy, slack_api):
    root = tiny_copy
    with open(root / "bot.yml", "a", encoding="utf-8") as config:
        config.write(f"slack:\n  enabled: true\n  bot_token: ${{SLACK_BOT_TOKEN}}\n"
                     f"  signing_secret: ${{SLACK_SIGNING_SECRET}}\n  support_channel: {SUPPORT}\n"
                     f"  api_base_url: {slack_api.base_url}\n")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smallbot", "slack", str(root), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/slack/events", line)
        assert match, line + (await process.stderr.read()).decode()
        url = f"http://127.0.0.1:{match.group(1)}/slack/events"
        body = event_body(f"<@{BOT_USER}> How do I reset my password?", ts="1690000000.000100")
        async with aiohttp.ClientSession() as http:
            forged = await http.post(url, data=body, headers={**signed_headers(body, "not-the-secret"),
                                                             "Content-Type": "application/json"})
            signed = await http.post(url, data=body, headers={**signed_headers(body, SIGNING_SECRET),
                                                             "Content-Type": "application/json"})
        assert (forged.status, signed.status) == (401, 200)
        [post] = await slack_api.wait_for("chat.postMessage")
        assert post.args["thread_ts"] == "1690000000.000100"
        assert "Forgot password" in post.args["text"]
        assert slack_api.calls_to("auth.test")  # the token was checked at start-up
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0


async def test_serve_with_slack_enabled_answers_a_signed_event_on_every_worker(tiny_copy, slack_api):
    """The README's path: `smallbot serve` mounts /slack/ next to the widget when slack.enabled is true."""
    root = tiny_copy
    with open(root / "bot.yml", "a", encoding="utf-8") as config:
        config.write(f"slack:\n  enabled: true\n  bot_token: ${{SLACK_BOT_TOKEN}}\n"
                     f"  signing_secret: ${{SLACK_SIGNING_SECRET}}\n  support_channel: {SUPPORT}\n"
                     f"  api_base_url: {slack_api.base_url}\n")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smallbot", "serve", str(root), "--port", "0", "--workers", "2",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    seen: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 180)).decode()
            seen.append(line)
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match or not line:
                break
        assert match, "serve did not start:\n" + "".join(seen)
        url = match.group(1) + "/slack/events"
        async with aiohttp.ClientSession() as http:
            for i in range(4):  # fresh connections: the kernel spreads them over both workers
                body = event_body(f"<@{BOT_USER}> How do I reset my password?", ts=f"169000000{i}.000100",
                                  event_id=f"EvServe{i}")
                async with http.post(url, data=body, headers={**signed_headers(body, SIGNING_SECRET),
                                                             "Content-Type": "application/json",
                                                             "Connection": "close"}) as response:
                    assert response.status == 200
        posts = await slack_api.wait_for("chat.postMessage", count=4)
        assert sorted(p.args["thread_ts"] for p in posts) == [f"169000000{i}.000100" for i in range(4)]
        assert all("Forgot password" in p.args["text"] for p in posts)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0, "".join(seen)
