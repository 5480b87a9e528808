"""The learning loop end to end: a real bot logs what it could not answer, `smallbot learn` proposes the
right FAQ entry or intent for each question, `--apply` writes the accepted ones into the author's files
(comments kept) and the next `train` answers them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from smallbot.runtime.bot import Bot
from smallbot.build.pipeline import train_project
from smallbot.cli import main
from smallbot.errors import ConfigError
from smallbot.analytics.learn import REVIEW_FILE, _insert_csv, _insert_markdown, _insert_yaml, read_review
from smallbot.project.loader import load_project
from smallbot.store.sqlite import SQLiteStore
from smallbot.types import Message, Reply, ReplyKind

# strict bands so that paraphrases the stock tiny bot answers are only suggested or abstained here (the
# answer threshold is on the calibrated confidence P(right), which never reaches 1: only exact matches answer)
STRICT = 'name: Tiny\nfallback: "I don\'t know."\nthresholds:\n  faq_answer: 1.0\n  faq_suggest: 0.3\n'

PARAPHRASES = {
    "I can't remember my login credentials": "reset-password",
    "lost access to my account password": "reset-password",
    "at what hour does your shop close": "opening-hours",
    "is it possible to get reimbursed for my purchase": "refund",
    "how can I get rid of my account": "delete-account",
}


@pytest.fixture(scope="module")
def logged_tiny(trained_tiny, encoder, tmp_path_factory) -> Path:
    """The trained tiny bot with strict bands and a log: paraphrases, a rephrase, an off-topic question."""
    root = tmp_path_factory.mktemp("learn") / "tiny"
    shutil.copytree(trained_tiny, root)
    (root / "bot.yml").write_text(STRICT)
    faq = root / "knowledge" / "faq.yml"
    faq.write_text("# FAQ of the tiny bot: keep answers short\n" + faq.read_text())
    bot = Bot.from_build(load_project(root), encoder=encoder)
    try:
        for n, text in enumerate(PARAPHRASES):
            for repeat in range(2):
                reply = bot.handle(Message(f"p{n}-{repeat}", text))
                assert reply.kind in (ReplyKind.SUGGEST, ReplyKind.FALLBACK), (text, reply)
        # the user rephrases to the exact question and gets the answer: the strongest evidence
        assert bot.handle(Message("r1", "my password stopped working what now")).kind is not ReplyKind.ANSWER
        assert bot.handle(Message("r1", "no")).reason == "declined suggestions"
        assert bot.handle(Message("r1", "How do I reset my password?")).sources[0].entry_id == "reset-password"
        bot.handle(Message("o1", "do you ship parcels to canada by boat"))
    finally:
        bot.close()
    with SQLiteStore(root / ".smallbot" / "conversations.sqlite3") as store:  # a question only an intent fits
        store.log_turn(Message("h1", "I need to speak with an actual human being"), Reply(ReplyKind.FALLBACK, "?"))
    return root


def _proposals(root: Path, capsys) -> dict[str, dict]:
    assert main(["learn", str(root)]) == 0
    assert "proposals" in capsys.readouterr().out
    data = yaml.safe_load((root / REVIEW_FILE).read_text())
    return {p["text"]: p for p in data["proposals"]}


def test_learn_proposes_the_right_entry_for_paraphrases_of_known_questions(logged_tiny, capsys):
    proposals = _proposals(logged_tiny, capsys)
    for text, entry_id in PARAPHRASES.items():
        assert (proposals[text]["add_to"], proposals[text]["target"]) == ("faq", entry_id), proposals[text]
        assert proposals[text]["asked"] == 2 and proposals[text]["accept"] is False
    rephrased = proposals["my password stopped working what now"]
    assert (rephrased["target"], rephrased["evidence"]) == (
        "reset-password", "after this question, the user rephrased and got the answer of 'reset-password'")
    assert (proposals["I need to speak with an actual human being"]["add_to"],
            proposals["I need to speak with an actual human being"]["target"]) == ("intent", "talk_to_human")
    assert proposals["do you ship parcels to canada by boat"]["add_to"] == "new"
    for text, proposal in proposals.items():  # evidence from another question names that question
        if "a question like it" in proposal["evidence"]:
            assert repr(text) not in proposal["evidence"]
    assert "How do I reset my password?" not in proposals  # answered questions are not proposed


def test_apply_merges_accepted_proposals_and_the_next_train_answers_them(logged_tiny, encoder, capsys, tmp_path,
                                                                         artifacts_dir):
    root = tmp_path / "tiny"
    shutil.copytree(logged_tiny, root)
    proposals = _proposals(root, capsys)
    review = root / REVIEW_FILE
    text = review.read_text()
    for phrase in [*PARAPHRASES, "I need to speak with an actual human being"]:
        block = text.index(f"text: {phrase}") if f"text: {phrase}" in text else text.index(f"text: '{phrase}'")
        end = text.index("accept: false", block)
        text = text[:end] + "accept: true" + text[end + len("accept: false"):]
    review.write_text(text)
    assert len([p for p in read_review(review) if p.accept]) == 6

    shown = artifacts_dir / "store-learn"  # for people to look at: the review file and the merged files
    shown.mkdir(exist_ok=True)
    shutil.copy(review, shown / "review.yml")
    assert main(["learn", str(root), "--apply"]) == 0
    for name in ("knowledge/faq.yml", "intents/basics.yml"):
        shutil.copy(root / name, shown / name.replace("/", "-"))
    assert "added 5 FAQ alternates and 1 intent examples" in capsys.readouterr().out
    faq_text = (root / "knowledge" / "faq.yml").read_text()
    assert faq_text.startswith("# FAQ of the tiny bot: keep answers short\n")  # the author's comment survives
    project = load_project(root)
    alternates = {e.id: e.alternates for e in project.knowledge}
    for phrase, entry_id in PARAPHRASES.items():
        assert phrase in alternates[entry_id]
    assert "I need to speak with an actual human being" in project.intents.by_name("talk_to_human").examples
    left = {p.text for p in read_review(review)}  # applied proposals leave the review file, the rest stay
    assert left == set(proposals) - {*PARAPHRASES, "I need to speak with an actual human being"}

    train_project(project, encoder=encoder)
    bot = Bot.from_build(load_project(root), encoder=encoder, with_store=False)
    for phrase, entry_id in PARAPHRASES.items():
        reply = bot.handle(Message(f"after-{phrase}", phrase))
        assert (reply.kind, reply.sources[0].entry_id) == (ReplyKind.ANSWER, entry_id), (phrase, reply.reason)
    assert bot.handle(Message("after-h", "I need to speak with an actual human being")).kind is ReplyKind.HANDOFF


def test_apply_without_a_review_file_says_to_run_learn_first(tiny_copy):
    root = tiny_copy
    with pytest.raises(ConfigError, match="run `smallbot learn DIR` first"):
        from smallbot.analytics.learn import apply_review
        apply_review(root)


YAML_FILE = """\
faqs:
  # account questions
  - id: a
    question: "First?"   # keep me
    alternates:
      - one
      - two  # trailing comment
    answer: |
      Multi
      line.
  - id: b
    question: Second?
    alternates: [x, y]
    answer: B.
  - id: c
    question: Third?
    answer: C.
"""


@pytest.mark.parametrize("entry_id, expected", [
    ("a", ["one", "two", 'new: "quoted" text']),
    ("b", ["x", "y", 'new: "quoted" text']),
    ("c", ['new: "quoted" text']),
])
def test_yaml_insertion_appends_to_the_right_list_and_keeps_comments(entry_id, expected):
    out = _insert_yaml(YAML_FILE, "faqs", "id", entry_id, "alternates", 'new: "quoted" text', anchor="question")
    data = yaml.safe_load(out)
    assert [e.get("alternates") for e in data["faqs"] if e["id"] == entry_id] == [expected]
    assert [e["answer"] for e in data["faqs"]] == ["Multi\nline.\n", "B.", "C."]
    for comment in ("# account questions", "# keep me", "# trailing comment"):
        assert comment in out


ODD_YAML_FILE = """\
---
# Tallyo FAQ, edited by hand
faqs:
  # account questions
  - id: a
    question: 'First?'   # single-quoted, with a comment
    alternates:
      - "one"
      - two    # trailing comment

    answer: >-
      Folded
      text.
  - {id: b, question: "Second?", answer: B.}   # a flow mapping
  - id: c
    answer: "An answer line far longer than eighty characters, which a dumper with a line width would wrap"
    question: Third?
    alternates:   # left empty on purpose
"""


@pytest.mark.parametrize("entry_id, changed", [
    ("a", ["+      - 'new: \"quoted\" text'"]),
    # on the one line that changes, the comment stays, one space after the value
    ("b", ["-  - {id: b, question: \"Second?\", answer: B.}   # a flow mapping",
           "+  - {id: b, question: \"Second?\", alternates: ['new: \"quoted\" text'], answer: B.} # a flow mapping"]),
    ("c", ["-    alternates:   # left empty on purpose",
           "+    alternates: ['new: \"quoted\" text'] # left empty on purpose"]),
])
def test_yaml_insertion_changes_only_the_list_it_extends(entry_id, changed):
    """Odd but valid formatting (a document marker, quotes of both kinds, a blank line inside an entry, a folded
    block, a flow mapping, a long line, keys out of the usual order, comments everywhere) comes back line for
    line. (ruamel.yaml writes one indentation for the whole file, guessed from it: a file that mixes several
    gets the one it uses most.)"""
    import difflib

    out = _insert_yaml(ODD_YAML_FILE, "faqs", "id", entry_id, "alternates", 'new: "quoted" text', anchor="question")
    diff = [line.rstrip("\n") for line in difflib.unified_diff(ODD_YAML_FILE.splitlines(True), out.splitlines(True))
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff == changed
    alternates = {e["id"]: e.get("alternates") for e in yaml.safe_load(out)["faqs"]}
    assert alternates[entry_id][-1] == 'new: "quoted" text'


@pytest.mark.parametrize("text, message", [
    ("faqs:\n  - id: a\n    question: Q?\n    alternates: {x: y}\n", r"faq\.yml:4: 'alternates' of 'a' is neither"),
    ("faqs:\n  - id: a\n    question: [Q?\n", r"faq\.yml:\d+: not valid YAML"),
])
def test_yaml_insertion_errors_name_the_file_and_line(text, message):
    with pytest.raises(ConfigError, match=message):
        _insert_yaml(text, "faqs", "id", "a", "alternates", "new", anchor="question", source="knowledge/faq.yml")


def test_csv_and_markdown_insertions_are_read_back_by_the_loaders(tmp_path):
    from smallbot.knowledge.loaders import load_knowledge

    csv_path = tmp_path / "faq.csv"
    csv_path.write_text("id,question,alternates,answer\nship,Do you ship abroad?,international shipping,Yes.\n"
                        "pay,How can I pay?,,Card.\n")
    csv_path.write_text(_insert_csv(_insert_csv(csv_path.read_text(), "ship", "send to canada"), "pay", "paypal ok?"))
    md_path = tmp_path / "faq.md"
    md_path.write_text("## Do you ship abroad?\nid: ship\nalternates:\n- international shipping\n\nYes.\n\n"
                       "## How can I pay?\n- Card\n- Cash\n")
    md = _insert_markdown(md_path.read_text(), "Do you ship abroad?", "send to canada")
    md_path.write_text(_insert_markdown(md, "How can I pay?", "paypal ok?"))
    problems: list = []
    entries = {e.id: e for e in load_knowledge([csv_path], problems, tmp_path)}
    assert problems == []
    assert entries["ship"].alternates == ("international shipping", "send to canada")  # csv
    assert entries["pay"].alternates == ("paypal ok?",)
    md_entries = {e.question: e for e in load_knowledge([md_path], problems, tmp_path)}
    assert md_entries["Do you ship abroad?"].alternates == ("international shipping", "send to canada")
    assert md_entries["How can I pay?"].alternates == ("paypal ok?",)
    assert md_entries["How can I pay?"].answer == "- Card\n- Cash"  # the answer's own list is not eaten


def test_forget_erases_the_conversation_from_the_review_file_too(logged_tiny, capsys, tmp_path):
    """An erasure request leaves no copy on disk: the review file written by `learn` held the text twice
    (as the proposal and as its cluster's name)."""
    root = tmp_path / "tiny"
    shutil.copytree(logged_tiny, root)
    forgotten = "do you ship parcels to canada by boat"
    proposals = _proposals(root, capsys)
    assert forgotten in proposals
    review = root / REVIEW_FILE
    assert main(["forget", str(root), "o1"]) == 0
    left = review.read_text(encoding="utf-8")
    assert forgotten not in left and "canada" not in left
    assert "I can't remember my login credentials" in [p["text"] for p in yaml.safe_load(left)["proposals"]]


def test_forget_keeps_a_proposal_another_conversation_still_asks(logged_tiny, capsys, tmp_path):
    root = tmp_path / "tiny"
    shutil.copytree(logged_tiny, root)
    _proposals(root, capsys)
    assert main(["forget", str(root), "p0-0"]) == 0  # "p0-1" asked the same question
    texts = [p["text"] for p in yaml.safe_load((root / REVIEW_FILE).read_text())["proposals"]]
    assert "I can't remember my login credentials" in texts
