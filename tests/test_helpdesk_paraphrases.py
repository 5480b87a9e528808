"""The example bot on customer paraphrases that appear in none of its files (tests/data), through
the same Bot the CLI uses, plus a few through the real `smallbot ask --json` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from smallbot.runtime.bot import Bot
from smallbot.project.loader import load_project
from smallbot.types import Message, ReplyKind

DATA = yaml.safe_load((Path(__file__).parent / "data" / "helpdesk_paraphrases.yml").read_text())


@pytest.fixture(scope="module")
def helpdesk(trained_helpdesk, encoder):
    bot = Bot.from_build(load_project(trained_helpdesk), encoder=encoder, with_store=False)
    yield bot
    bot.close()


def top_faq(reply) -> str | None:
    if reply.kind is ReplyKind.ANSWER:
        return reply.sources[0].entry_id
    if reply.kind is ReplyKind.SUGGEST:
        return reply.suggestions[0].entry_id
    return None


def test_test_set_is_held_out_from_the_bot_files(trained_helpdesk):
    project = load_project(trained_helpdesk)
    known = {" ".join(t.casefold().split()) for e in project.knowledge for t in e.phrasings}
    known |= {" ".join(t.casefold().split()) for i in project.intents.intents for t in i.examples}
    texts = [p["text"] for p in DATA["paraphrases"]] + DATA["off_topic"]
    assert len(DATA["paraphrases"]) >= 40 and len(DATA["off_topic"]) >= 20
    assert not [t for t in texts if " ".join(t.casefold().split()) in known]


def test_paraphrases_find_the_right_faq_first(helpdesk):
    # bars: the example bot's figures on its hand-written validation set (right first 77.8%, 44% answered at
    # 1.3% wrong: benchmarks/helpdesk_answers.py) less some headroom; the targets (95% right first, 80% answered)
    # are not met yet, benchmarks/RESULTS.md says by how much
    results = [(p, helpdesk.handle(Message(f"p{i}", p["text"]))) for i, p in enumerate(DATA["paraphrases"])]
    right = [p for p, reply in results if top_faq(reply) == p["faq"]]
    answered = [p for p, reply in results if reply.kind is ReplyKind.ANSWER]
    wrong_answers = [p for p, reply in results if reply.kind is ReplyKind.ANSWER and top_faq(reply) != p["faq"]]
    top1 = len(right) / len(results)
    assert top1 >= 0.74, f"top-1 {top1:.1%}; misses: {[p['text'] for p, r in results if top_faq(r) != p['faq']]}"
    assert len(answered) >= 0.25 * len(results), f"only {len(answered)} of {len(results)} answered directly"
    assert len(wrong_answers) <= 0.03 * len(answered), wrong_answers


def test_off_topic_messages_are_rarely_answered_from_the_faq(helpdesk):
    # the target is none; questions about other companies' products that reuse the bot's words ("reset my
    # Netflix password") are the ones that slip through (1 in 30 of the validation set's off-topic messages)
    kinds = {text: helpdesk.handle(Message(f"o{i}", text)).kind for i, text in enumerate(DATA["off_topic"])}
    answered = [text for text, kind in kinds.items() if kind is ReplyKind.ANSWER]
    assert len(answered) <= 2, answered


@pytest.mark.slow
def test_ask_cli_returns_json_with_the_faq_id(trained_helpdesk):
    sample = DATA["paraphrases"][:2]
    for item in sample:
        out = subprocess.run([sys.executable, "-m", "smallbot", "ask", str(trained_helpdesk), item["text"], "--json"],
                             capture_output=True, text=True, timeout=120, check=True)
        reply = json.loads(out.stdout)
        assert reply["kind"] in ("answer", "suggest")
        ids = [s["id"] for s in reply["sources"]] + [s["id"] for s in reply["suggestions"]]
        assert ids and set(reply) >= {"kind", "text", "sources", "suggestions", "confidence", "timings_ms"}
