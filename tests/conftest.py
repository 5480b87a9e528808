"""Shared fixtures: the real packaged encoder loaded once per session, small bot projects written on
the fly, and a guard that refuses non-loopback sockets so no test can reach the network."""

from __future__ import annotations

import os
import shutil
import socket
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
HELPDESK = REPO / "examples" / "helpdesk"
ARTIFACTS = Path(os.environ.get("SMALLBOT_TEST_ARTIFACTS", REPO / "test-artifacts"))

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        raise RuntimeError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only


@pytest.fixture(scope="session")
def encoder():
    """The real all-MiniLM-L6-v2 from its wheel, loaded once."""
    from smallbot.encoding.encoder import Encoder

    return Encoder("all-MiniLM-L6-v2").load()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write a bot project from {relative path: text}; text is dedented."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


TINY_BOT = {
    "bot.yml": """
        name: Tiny
        fallback: "I don't know."
    """,
    "intents/basics.yml": """
        intents:
          - name: greet
            route: respond
            examples: [hi, hello, hey there, good morning, hiya, hello bot, howdy, greetings]
            response: "Hello{% if user %} {{ user }}{% endif %}!"
          - name: goodbye
            route: respond
            examples: [bye, goodbye, see you later, cya, talk to you later, bye bye, have a nice day, farewell]
            response: "Bye!"
          - name: talk_to_human
            route: handoff
            examples: [talk to a human, real person please, connect me to an agent, I want to speak to someone,
                       live agent, get me a human, customer service representative, operator please]
            response: "Connecting you to a person."
        out_of_scope:
          - what's the weather tomorrow
          - tell me a joke
          - who won the football game yesterday
          - how tall is mount everest
          - set an alarm for 7am
          - what's 15 times 12
          - translate hello into french
          - what's the stock price of apple
    """,
    "knowledge/faq.yml": """
        faqs:
          - id: reset-password
            question: How do I reset my password?
            alternates: [I forgot my password, cannot log in need new password, password reset link]
            answer: Click "Forgot password" on the sign-in page.
          - id: opening-hours
            question: What are your opening hours?
            alternates: [when are you open, what time do you open, business hours]
            answer: Monday to Friday, 9 to 5.
          - id: refund
            question: Can I get a refund?
            alternates: [I want my money back, how do refunds work, return policy]
            answer: Refunds within 30 days of purchase.
          - id: delete-account
            question: How do I delete my account?
            alternates: [remove my account, close my account permanently, erase my profile]
            answer: Settings, Account, Delete account.
    """,
}


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A four-FAQ, three-intent bot written fresh for each test."""
    return write_project(tmp_path / "tiny", TINY_BOT)


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory, encoder) -> Path:
    """The tiny bot, trained once per session (tests copy it before changing it)."""
    from smallbot.build.pipeline import train_project
    from smallbot.project.loader import load_project

    root = write_project(tmp_path_factory.mktemp("trained") / "tiny", TINY_BOT)
    train_project(load_project(root), encoder=encoder)
    return root


@pytest.fixture
def tiny_copy(trained_tiny: Path, tmp_path: Path) -> Path:
    """A private copy of the trained tiny bot at `tmp_path / "tiny"`, for tests that change or serve it.

    Copying the build (a few MB) costs milliseconds; training it again would cost seconds.
    """
    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    return root


@pytest.fixture
def tiny_bot(tiny_copy: Path, encoder):
    """A Bot over a private copy of the trained tiny bot, with its own SQLite store; closed afterwards."""
    from smallbot.runtime.bot import Bot
    from smallbot.project.loader import load_project

    bot = Bot.from_build(load_project(tiny_copy), encoder=encoder)
    yield bot
    bot.close()


@pytest.fixture(scope="session")
def trained_helpdesk(tmp_path_factory, encoder) -> Path:
    """A copy of examples/helpdesk, trained once per session."""
    from smallbot.build.pipeline import train_project
    from smallbot.project.loader import load_project

    root = tmp_path_factory.mktemp("helpdesk") / "helpdesk"
    shutil.copytree(HELPDESK, root, ignore=shutil.ignore_patterns(".smallbot"))
    train_project(load_project(root), encoder=encoder)
    return root


# -- PostgreSQL: one throwaway server per session, one database per test ---------------------------------



@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server started for this session (initdb into a temporary directory, loopback, a free port),
    stopped and removed at the end. Skips where the server binaries are not installed, unless
    SMALLBOT_REQUIRE_POSTGRES=1 (CI sets it) makes that a failure."""
    from tests.support.postgres import PostgresUnavailable, start_postgres

    try:
        server = start_postgres("127.0.0.1")
    except PostgresUnavailable as exc:
        if os.environ.get("SMALLBOT_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, monkeypatch) -> str:
    """A fresh, empty database for one test, also in $SMALLBOT_TEST_DATABASE_URL; dropped afterwards."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    from tests.support.stores import DATABASE_URL_VAR

    monkeypatch.setenv(DATABASE_URL_VAR, url)
    yield url
    postgres_server.drop_database(name)
