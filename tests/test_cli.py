"""The CLI as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def smallbot(*args, check=True, timeout=300):
    return subprocess.run([sys.executable, "-m", "smallbot", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=check)


def test_init_train_ask_and_skip_when_unchanged(tmp_path):
    root = tmp_path / "newbot"
    out = smallbot("init", root)
    assert "created" in out.stdout and (root / "bot.yml").exists()
    first = json.loads(smallbot("train", root, "--json").stdout)
    assert sorted(first["trained"]) == ["intents", "knowledge"]
    assert (root / ".smallbot" / "manifest.json").exists()
    again = json.loads(smallbot("train", root, "--json").stdout)
    assert again["trained"] == [] and sorted(again["skipped"]) == ["intents", "knowledge"]
    reply = json.loads(smallbot("ask", root, "when do you open?", "--json").stdout)
    assert reply["kind"] == "answer" and reply["sources"][0]["id"] == "opening-hours"


def test_ask_on_untrained_bot_trains_first_and_says_so(tiny_project):
    out = smallbot("ask", tiny_project, "I forgot my password")
    assert "not trained" in out.stderr and "training first" in out.stderr
    assert out.stdout.strip() == 'Click "Forgot password" on the sign-in page.'


def test_invalid_project_exits_2_with_every_problem(tmp_path, tiny_project):
    (tiny_project / "knowledge" / "bad.yml").write_text(
        "faqs:\n  - id: refund\n    question: q\n    answer: a\n  - id: blank\n    question: q2\n    answer: ''\n")
    out = smallbot("train", tiny_project, check=False)
    assert out.returncode == 2
    assert "knowledge/faq.yml:10: duplicate FAQ id 'refund' (first defined at knowledge/bad.yml:2)" in out.stderr
    assert "knowledge/bad.yml:7: FAQ 'blank' has an empty answer" in out.stderr
    assert "Traceback" not in out.stderr


def test_init_refuses_a_non_empty_directory(tiny_project):
    out = smallbot("init", tiny_project, check=False)
    assert out.returncode == 2 and "is not empty" in out.stderr


def test_chat_reads_piped_input_when_not_a_tty(tiny_copy):
    root = tiny_copy
    out = subprocess.run([sys.executable, "-m", "smallbot", "chat", str(root)], input="hello\nI forgot my password\n",
                         capture_output=True, text=True, timeout=300, check=True)
    assert "\x1b[" not in out.stdout  # no colour codes when piped
    assert "bot> Hello!" in out.stdout
    assert 'Click "Forgot password" on the sign-in page.' in out.stdout
    assert "[source: reset-password]" in out.stdout
    assert out.stdout.rstrip().endswith("bye")
