"""`smallbot learn` on the fine-tuned example bot: off-topic questions that share words with an FAQ entry are
not proposed as its alternates; the bot's own out-of-scope check and calibrated FAQ confidence decide."""

from __future__ import annotations

import shutil

import pytest
import yaml

from smallbot.cli import main
from smallbot.analytics.learn import REVIEW_FILE
from smallbot.store.sqlite import SQLiteStore
from smallbot.types import Message, Reply, ReplyKind

pytestmark = pytest.mark.slow

OFF_TOPIC = ["what is my credit rating", "how do I reset my wifi router", "what time does the football game start",
             "what are the opening hours of the louvre", "when does the bank open on sunday",
             "what's the weather like tomorrow", "recommend me a good pizza place", "who won the election"]
ON_TOPIC = {"my card payment got declined": "failed-payment", "change the currency on my invoices": "multi-currency",
            "i can't log in anymore": "reset-password"}


def test_learn_keeps_off_topic_questions_out_of_the_alternates(trained_helpdesk, tmp_path, capsys):
    root = tmp_path / "helpdesk"
    shutil.copytree(trained_helpdesk, root, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    with SQLiteStore(root / ".smallbot" / "conversations.sqlite3") as store:
        for n, text in enumerate([*OFF_TOPIC, *ON_TOPIC]):
            store.log_turn(Message(f"c{n}", text), Reply(ReplyKind.FALLBACK, "Sorry, I don't know that yet."))
    assert main(["learn", str(root)]) == 0
    capsys.readouterr()
    proposals = {p["text"]: p for p in yaml.safe_load((root / REVIEW_FILE).read_text())["proposals"]}
    for text in OFF_TOPIC:
        assert proposals[text]["add_to"] == "new", proposals[text]
        assert proposals[text]["evidence"].startswith("off-topic for the bot")
    for text, entry in ON_TOPIC.items():
        assert (proposals[text]["add_to"], proposals[text]["target"]) == ("faq", entry), proposals[text]
