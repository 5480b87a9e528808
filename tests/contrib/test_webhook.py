"""The generic-webhook connector in contrib/smallbot-webhook: built outside the core package, installed
with pip like any third-party distribution, found through its `smallbot.connectors` entry point, configured
in bot.yml and served by `smallbot serve` with no line of the core naming it.

The distribution is pip-installed (offline, no build isolation: setuptools comes with the test environment)
into a folder of its own that goes on sys.path for this module and on PYTHONPATH for the served process, so
the test environment itself is left as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from smallbot import registry
from smallbot.project.config import load_config

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "contrib" / "smallbot-webhook"
SECRET = "webhook-test-secret"
WEBHOOK_YML = "name: Tiny\nwebhook:\n  secret: ${WEBHOOK_SECRET}\n  path: /hooks/tiny\n"
_SITES: list[str] = []  # where this module installed the distribution


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """smallbot-webhook pip-installed into a folder of its own, on sys.path for this module."""
    work = tmp_path_factory.mktemp("webhook-dist")
    source = work / "src"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), str(source)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"pip could not install {SOURCE.name}:\n{done.stdout}\n{done.stderr}")
    sys.path.insert(0, str(site))
    _SITES.append(str(site))
    registry.refresh()
    yield site
    sys.path.remove(str(site))
    _SITES.remove(str(site))
    for name in [m for m in sys.modules if m == "smallbot_webhook" or m.startswith("smallbot_webhook.")]:
        del sys.modules[name]
    registry.refresh()


@pytest.fixture
def webhook_project(tiny_copy: Path, monkeypatch) -> Path:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    (tiny_copy / "bot.yml").write_text(WEBHOOK_YML)
    return tiny_copy


def _signed(body: bytes, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    from smallbot_webhook import signed_headers

    return signed_headers(body, secret, int(time.time()) if at is None else at)


def test_without_the_distribution_its_section_is_an_unknown_key(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in _SITES])
    registry.refresh()
    try:
        (tmp_path / "bot.yml").write_text(WEBHOOK_YML)
        problems: list = []
        load_config(tmp_path / "bot.yml", problems)
    finally:
        registry.refresh()  # read again, with the path restored, at the next look-up
    assert [str(p) for p in problems] == ["bot.yml:2: unknown key 'webhook': did you mean 'web'?"]


def test_the_distribution_registers_the_webhook_connector_through_its_entry_point(installed):
    import smallbot_webhook

    entry = registry.registration(registry.CONNECTORS, "webhook")
    assert (entry.origin, entry.target) == ("smallbot-webhook", "smallbot_webhook:connector")
    assert registry.load_connector("webhook") is smallbot_webhook.connector
    assert Path(smallbot_webhook.__file__).is_relative_to(installed)


def test_the_connector_validates_its_own_section_with_lines(installed, tmp_path):
    (tmp_path / "bot.yml").write_text("name: x\nwebhook:\n  path: api/hook\n  secrt: ${WEBHOOK_SECRET}\n")
    problems: list = []
    load_config(tmp_path / "bot.yml", problems)
    assert [str(p) for p in problems] == [
        "bot.yml:4: unknown key 'webhook.secrt': did you mean 'webhook.secret'?",
        "bot.yml:2: 'webhook.secret' is required: set it to ${WEBHOOK_SECRET} and export the key you share with "
        "the sender",
        "bot.yml:3: 'webhook.path' is 'api/hook': use a path that starts with '/' and is outside /api/ (the "
        "widget's), e.g. /webhook",
    ]


@pytest.mark.asyncio
async def test_signed_requests_are_answered_and_bad_ones_refused(installed, webhook_project, encoder,
                                                                  aiohttp_client):
    from smallbot.runtime.bot import Bot
    from smallbot.connectors.web import CONNECTORS, WebSettings, create_app
    from smallbot.project.loader import load_project

    bot = Bot.from_build(load_project(webhook_project), encoder=encoder)
    try:
        app = create_app(bot, WebSettings(port=0))
        assert type(app[CONNECTORS]["webhook"]).__name__ == "WebhookConnector"
        client = await aiohttp_client(app)

        async def post(body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
            response = await client.post("/hooks/tiny", data=body, headers=headers)
            return response.status, await response.json()

        body = json.dumps({"conversation_id": "ticket-1", "text": "How do I reset my password?",
                           "user": "ada"}).encode()
        status, reply = await post(body, _signed(body))
        assert status == 200
        assert (reply["conversation_id"], reply["kind"], reply["text"]) == (
            "ticket-1", "answer", 'Click "Forgot password" on the sign-in page.')
        assert reply["sources"][0]["id"] == "reset-password"

        refused = [
            (body, _signed(body, secret="not-the-secret"), 401, "bad_signature"),
            (body, _signed(body, at=int(time.time()) - 3600), 401, "stale_timestamp"),
            (body, {"Content-Type": "application/json"}, 401, "unsigned"),
            (b'{"conversation_id": "ticket-2", "text": ', None, 400, "bad_json"),
            (b'{"conversation_id": "ticket-2", "text": "  "}', None, 422, "empty_message"),
            (b'{"conversation_id": "ticket-2", "text": "' + b"x" * 20_000 + b'"}', None, 413, "request_too_large"),
        ]
        for data, headers, want_status, want_error in refused:
            status, error = await post(data, headers if headers is not None else _signed(data))
            assert (status, error["error"]) == (want_status, want_error), error
            assert error["reason"]
        # what was refused left nothing in the log; the answered turn is there under the channel's namespace
        assert [t.text for t in bot.store.turns()] == ["How do I reset my password?"]
        assert [c.channel for c in bot.store.conversations()] == ["webhook"]
        assert bot.store.turns("webhook:ticket-1")
    finally:
        bot.close()


@pytest.mark.slow
def test_smallbot_serve_answers_a_signed_webhook_over_loopback(installed, webhook_project):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")]),
           "WEBHOOK_SECRET": SECRET}
    process = subprocess.Popen([sys.executable, "-m", "smallbot", "serve", str(webhook_project), "--port", "0",
                                "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        seen = []
        for line in process.stderr:
            seen.append(line)
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1) + "/hooks/tiny"
                break
        else:
            pytest.fail("serve exited before listening:\n" + "".join(seen))
        body = json.dumps({"conversation_id": "t-9", "text": "hello", "user": "Ada"}).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=_signed(body)),
                                    timeout=60) as response:
            reply = json.load(response)
        assert (reply["conversation_id"], reply["kind"], reply["intent"], reply["text"]) == (
            "t-9", "respond", "greet", "Hello Ada!")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, data=body, headers=_signed(body, secret="wrong")),
                                   timeout=60)
        assert refused.value.code == 401 and json.load(refused.value)["error"] == "bad_signature"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
