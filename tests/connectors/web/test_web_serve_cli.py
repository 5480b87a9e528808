"""`smallbot serve` as a real process: it binds, answers over HTTP, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def test_serve_answers_over_http_and_stops_on_ctrl_c(trained_helpdesk):
    process = subprocess.Popen([sys.executable, "-m", "smallbot", "serve", str(trained_helpdesk), "--port", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stderr:
            seen.append(line)
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
                break
        else:
            pytest.fail("serve exited before listening:\n" + "".join(seen))
        with urllib.request.urlopen(url + "/healthz", timeout=60) as response:
            assert json.load(response) == {"status": "ok", "bot": "Tallyo Helpdesk"}
        request = urllib.request.Request(url + "/api/messages", data=json.dumps({"text": "hello"}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.load(response)
        assert (reply["kind"], reply["intent"]) == ("respond", "greet")
        with urllib.request.urlopen(url + "/", timeout=60) as response:
            assert b"/widget.js" in response.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
