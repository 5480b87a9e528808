"""A bot whose bot.yml names the PostgreSQL store: it logs through it, and `smallbot report` and `smallbot learn`
read the same log (the commands open it through `open_store`, as they open SQLite)."""

from __future__ import annotations

import yaml

from smallbot.analytics.learn import REVIEW_FILE
from smallbot.cli import main
from smallbot.project.loader import load_project
from smallbot.runtime.bot import Bot
from smallbot.types import Message, ReplyKind
from tests.bot.test_store_learn import PARAPHRASES, STRICT
from tests.support.stores import bot_yml_store


def test_report_and_learn_read_the_log_a_postgres_bot_wrote(tiny_copy, encoder, postgres_url, capsys):
    (tiny_copy / "bot.yml").write_text(STRICT + bot_yml_store("postgres"))
    bot = Bot.from_build(load_project(tiny_copy), encoder=encoder)
    try:
        assert type(bot.store).__name__ == "PostgresStore"
        for n, text in enumerate(PARAPHRASES):
            for repeat in range(2):
                assert bot.handle(Message(f"p{n}-{repeat}", text)).kind in (ReplyKind.SUGGEST, ReplyKind.FALLBACK)
        assert len(bot.store.turns()) == 2 * len(PARAPHRASES)
    finally:
        bot.close()
    assert not (tiny_copy / ".smallbot" / "conversations.sqlite3").exists()  # nothing went to a file

    assert main(["learn", str(tiny_copy)]) == 0
    proposals = {p["text"]: p for p in yaml.safe_load((tiny_copy / REVIEW_FILE).read_text())["proposals"]}
    for text, entry_id in PARAPHRASES.items():
        assert (proposals[text]["target"], proposals[text]["asked"]) == (entry_id, 2)

    out = tiny_copy / "report-out"
    assert main(["report", str(tiny_copy), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "I can&#39;t remember my login credentials" in html or "I can't remember my login credentials" in html
    assert f"{2 * len(PARAPHRASES)} messages" in capsys.readouterr().err
