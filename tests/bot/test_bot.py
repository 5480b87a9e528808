"""The Bot end to end on a real trained tiny bot: routes, follow-ups, guards, and the build cache."""

from __future__ import annotations


import pytest

from smallbot.bot import Bot
from smallbot.build import is_up_to_date, train_project
from smallbot.errors import ArtifactError
from smallbot.project import load_project
from smallbot.types import Message, ReplyKind


@pytest.fixture
def bot(tiny_bot):
    return tiny_bot


def ask(bot, text, conversation="c1", user=""):
    return bot.handle(Message(conversation, text, user=user))


def test_faq_paraphrase_gets_the_verbatim_answer_with_its_source(bot):
    reply = ask(bot, "i can't remember my password")
    assert reply.kind is ReplyKind.ANSWER
    assert reply.text == 'Click "Forgot password" on the sign-in page.'
    assert [s.entry_id for s in reply.sources] == ["reset-password"]
    assert reply.timings["encode"] > 0 and reply.timings["total"] >= reply.timings["encode"]


def test_exact_question_takes_the_fast_path_without_the_encoder(bot):
    reply = ask(bot, "what are your opening hours")
    assert reply.kind is ReplyKind.ANSWER and reply.sources[0].entry_id == "opening-hours"
    assert "encode" not in reply.timings
    assert reply.reason.startswith("fast path")


def test_small_talk_renders_the_template_with_the_user(bot):
    reply = ask(bot, "hello there!", user="Ada")
    assert reply.kind is ReplyKind.RESPOND and reply.text == "Hello Ada!"


def test_handoff_intent(bot):
    reply = ask(bot, "please let me talk to a real human")
    assert reply.kind is ReplyKind.HANDOFF and reply.text == "Connecting you to a person."


def test_off_topic_is_not_answered(bot):
    for text in ["what is the capital of Peru", "asdkjh qwe zxcv", "recommend me a movie"]:
        assert ask(bot, text).kind in (ReplyKind.FALLBACK, ReplyKind.SUGGEST), text


def test_suggestion_can_be_picked_by_number_or_yes(bot):
    bot.policy = type(bot.policy)(**{**bot.policy.__dict__, "faq_answer": 1.01, "faq_suggest": 0.0})
    offered = ask(bot, "money back for my purchase", "c2")
    assert offered.kind is ReplyKind.SUGGEST and offered.suggestions
    assert offered.text.startswith("Did you mean")
    second = offered.suggestions[1]
    picked = ask(bot, "2", "c2")
    assert picked.kind is ReplyKind.ANSWER and picked.sources[0].entry_id == second.entry_id
    offered = ask(bot, "money back for my purchase", "c3")
    assert ask(bot, "yes", "c3").sources[0].entry_id == offered.suggestions[0].entry_id


def test_reset_clears_pending_suggestions(bot):
    bot.policy = type(bot.policy)(**{**bot.policy.__dict__, "faq_answer": 1.01, "faq_suggest": 0.0})
    ask(bot, "money back for my purchase", "c4")
    assert ask(bot, "reset", "c4").reason == "reset"
    assert ask(bot, "1", "c4").kind is not ReplyKind.ANSWER


@pytest.mark.parametrize("text, problem", [("   ", "empty message"), ("x" * 1001, "the limit is 1000")])
def test_bad_input_gets_a_clear_reply_not_an_exception(bot, text, problem):
    reply = ask(bot, text)
    assert reply.kind is ReplyKind.FALLBACK and problem in reply.text


def test_turns_are_logged_to_sqlite(bot):
    ask(bot, "hello", "logged")
    ask(bot, "i forgot my password", "logged")
    history = bot.store.history("logged")
    assert [h["reply_kind"] for h in history] == ["respond", "answer"]
    assert history[1]["sources"] == ["reset-password"]


def test_untrained_bot_refuses_to_load_without_train(tiny_project):
    with pytest.raises(ArtifactError, match="smallbot train"):
        Bot.load(tiny_project)


def test_train_skips_unchanged_and_retrains_only_what_changed(tiny_copy, encoder):
    root = tiny_copy
    project = load_project(root)
    assert is_up_to_date(project)
    assert train_project(project, encoder=encoder).trained == ()
    path = root / "knowledge" / "faq.yml"
    path.write_text(path.read_text().replace("Monday to Friday, 9 to 5.", "Every day, 8 to 8."))
    result = train_project(load_project(root), encoder=encoder)
    assert result.trained == ("knowledge",) and result.skipped == ("intents",)
    path = root / "intents" / "basics.yml"
    path.write_text(path.read_text().replace("hiya, ", "hiya, yo, "))
    assert set(train_project(load_project(root), encoder=encoder).trained) == {"intents", "knowledge"}
