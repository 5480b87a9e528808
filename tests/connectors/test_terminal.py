"""`smallbot chat` in a real pseudo-terminal (pexpect), as a person types into it."""

from __future__ import annotations

import signal
import sys

import pexpect
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def chat(tiny_copy):
    root = tiny_copy
    # A suite started in the background (`cmd &` from a script) inherits SIGINT ignored, and so would the chat
    # child: give it the default disposition a person's terminal gives it, so Ctrl-C means what it means there.
    child = pexpect.spawn(sys.executable, ["-m", "smallbot", "chat", str(root), "--user", "Ada"], encoding="utf-8",
                          timeout=120, dimensions=(40, 120),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child.expect("is ready")
    child.expect("you>")
    yield child
    child.close(force=True)


def test_chat_session_with_help_answers_suggestions_reset_and_ctrl_d(chat):
    chat.sendline("/help")
    chat.expect("pick a numbered suggestion")
    chat.expect("you>")
    chat.sendline("hi there")
    chat.expect("Hello Ada!")
    chat.expect("you>")
    chat.sendline("I forgot my password")
    chat.expect('Forgot password" on the sign-in page')
    chat.expect(r"\[source: reset-password\]")
    chat.expect("you>")
    chat.sendline("/reset")
    chat.expect(r"\(conversation reset\)")
    chat.expect("you>")
    chat.sendeof()
    chat.expect("bye")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_ctrl_c_exits_cleanly(chat):
    chat.sendintr()
    chat.expect("bye")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0
