"""A build published by `smallbot train` reaches every replica serving the same bot directory, without a
restart: each server notices the new manifest and swaps the whole build in (Bot.reload_build)."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smallbot.runtime.bot import Bot
from smallbot.project.loader import load_project
from smallbot.types import Message

NEW_GREETING = "Hello from the new build!"


def _start(directory: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-m", "smallbot", "serve", str(directory), "--port", "0",
                                "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        match = re.search(r"Running on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return process, int(match.group(1))
    process.wait()
    pytest.fail("serve exited before listening:\n" + "".join(seen))


def _say(port: int, text: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/api/messages", json.dumps({"text": text}), {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        return body
    finally:
        conn.close()


@pytest.mark.slow
def test_a_build_trained_on_one_host_reaches_both_replicas_without_a_restart(trained_tiny, tmp_path):
    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    with open(root / "bot.yml", "a") as f:
        f.write("\nweb:\n  reload_seconds: 0.3\n  rate_limit_per_minute: 100000\n  rate_limit_burst: 1000\n")
    servers = [_start(root), _start(root)]
    try:
        ports = [port for _, port in servers]
        assert all(_say(port, "hello there")["text"] == "Hello!" for port in ports)
        intents = root / "intents" / "basics.yml"
        intents.write_text(intents.read_text().replace('response: "Hello{% if user %} {{ user }}{% endif %}!"',
                                                       f'response: "{NEW_GREETING}"'))
        time.sleep(1.0)  # several watcher ticks: an edited intent file alone is not served
        assert all(_say(port, "hello there")["text"] == "Hello!" for port in ports)

        trained = subprocess.run([sys.executable, "-m", "smallbot", "train", str(root)], capture_output=True,
                                 text=True, timeout=300)
        assert trained.returncode == 0, trained.stderr
        for port in ports:
            deadline = time.monotonic() + 60
            while _say(port, "hello there")["text"] != NEW_GREETING:
                assert time.monotonic() < deadline, f"the server on port {port} still serves the old build"
                time.sleep(0.3)
        for process, _ in servers:
            assert process.poll() is None  # the same processes: no restart
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr:
                process.stderr.close()


def test_a_half_written_build_is_not_served_until_it_is_whole(tiny_copy, encoder):
    """A replica that looks while `smallbot train` is still writing keeps the build it has, then takes the new
    one at a later tick once it is complete."""
    bot = Bot.from_build(load_project(tiny_copy), encoder=encoder, with_store=False)
    try:
        build = tiny_copy / ".smallbot"
        assert not bot.build_published()
        intents = build / "intents"
        aside = tiny_copy / "intents-aside"
        intents.rename(aside)  # as between a component's removal and its rename into place
        manifest = build / "manifest.json"
        manifest.write_text(manifest.read_text() + "\n")
        assert bot.build_published()
        assert bot.reload_build() is False
        assert bot.handle(Message("c1", "hello there")).text == "Hello!"  # still serving the old build
        aside.rename(intents)
        assert bot.reload_build_if_published() is True
        assert not bot.build_published()
        assert bot.handle(Message("c2", "hello there")).text == "Hello!"
        assert bot.reload_build_if_published() is False  # nothing new since
    finally:
        bot.close()
