"""The Bot end to end on a real trained tiny bot: routes, follow-ups, guards, and the build cache."""

from __future__ import annotations

import dataclasses

import pytest

from smallbot.runtime.bot import Bot
from smallbot.build.pipeline import is_up_to_date, train_project
from smallbot.project.config import MessagesConfig
from smallbot.runtime.conversation import ConversationState
from smallbot.errors import ArtifactError
from smallbot.project.loader import load_project
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


def suggesting(bot):
    bot.policy = type(bot.policy)(**{**bot.policy.__dict__, "faq_answer": 1.01, "faq_suggest": 0.0})
    return bot


def test_a_follow_up_refers_to_the_last_reply_only(bot):
    suggesting(bot)
    assert ask(bot, "money back for my purchase", "c5").kind is ReplyKind.SUGGEST
    bot.policy = type(bot.policy)(**{**bot.policy.__dict__, "faq_answer": 0.0})
    answered = ask(bot, "forgot the password to my account", "c5")  # not the fast path: Related questions come along
    assert answered.kind is ReplyKind.ANSWER and len(answered.suggestions) == 2
    # "yes" neither reaches back to the earlier suggestions nor picks a Related question
    assert not ask(bot, "yes", "c5").reason.startswith("picked suggestion")
    # a number picks the last reply's Related question
    ask(bot, "forgot the password to my account", "c5b")
    assert ask(bot, "2", "c5b").sources[0].entry_id == answered.suggestions[1].entry_id


def test_a_rejected_message_keeps_the_pending_suggestions(bot):
    offered = ask(suggesting(bot), "money back for my purchase", "c6")
    assert ask(bot, "   ", "c6").kind is ReplyKind.FALLBACK
    assert ask(bot, "2", "c6").sources[0].entry_id == offered.suggestions[1].entry_id


def test_reset_from_code_is_logged_and_clears_the_suggestions(bot):
    ask(suggesting(bot), "money back for my purchase", "c7")
    bot.reset("c7")
    assert bot.store.turns("c7")[-1].reason == "reset"
    assert ask(bot, "1", "c7").kind is not ReplyKind.ANSWER
    bot.reset("never-seen")
    assert bot.store.turns("never-seen") == []  # nothing to reset: no conversation is started for it


def test_a_second_bot_on_the_same_store_picks_the_suggestion_the_first_offered(bot, tiny_copy, encoder):
    from smallbot.project.loader import load_project

    other = Bot.from_build(load_project(tiny_copy), encoder=encoder)  # another process's Bot, same store file
    try:
        other.policy = bot.policy = suggesting(bot).policy
        offered = ask(bot, "money back for my purchase", "shared")
        picked = ask(other, "2", "shared")
        assert picked.reason == f"picked suggestion '{offered.suggestions[1].entry_id}'"
        assert ask(bot, "1", "shared").kind is not ReplyKind.ANSWER  # the pick ended the suggestions for both
    finally:
        other.close()


def test_without_a_store_follow_ups_and_history_live_in_memory(tiny_copy, encoder):
    from smallbot.project.loader import load_project

    bot = suggesting(Bot.from_build(load_project(tiny_copy), encoder=encoder, with_store=False))
    try:
        offered = ask(bot, "money back for my purchase", "m1")
        assert ask(bot, "2", "m1").sources[0].entry_id == offered.suggestions[1].entry_id
        assert [role for role, _ in bot.conversation_state("m1").history] == ["user", "assistant"] * 2
        assert ask(bot, "reset", "m1").reason == "reset"
        assert bot.conversation_state("m1") == ConversationState(
            (), (("user", "reset"), ("assistant", "OK, let's start over. What can I help you with?")))
    finally:
        bot.close()


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


def test_the_bot_says_its_messages_in_the_words_of_bot_yml(bot):
    bot.config = dataclasses.replace(bot.config, messages=MessagesConfig(
        did_you_mean='Meinten Sie „{question}“?', did_you_mean_many="Meinten Sie eine dieser Fragen?",
        start_over="Gut, fangen wir von vorne an.", unreadable="Das kann ich nicht lesen ({reason})."))
    assert ask(bot, "reset", "m1").text == "Gut, fangen wir von vorne an."
    assert ask(bot, "   ", "m1").text == "Das kann ich nicht lesen (empty message)."
    suggesting(bot)
    offered = ask(bot, "money back for my purchase", "m2")
    assert offered.kind is ReplyKind.SUGGEST and offered.text.split("\n")[0] in (
        "Meinten Sie eine dieser Fragen?", f"Meinten Sie „{offered.suggestions[0].text}“?")


def test_related_questions_under_an_answer_carry_the_label_of_bot_yml(bot):
    """Every channel (terminal, Slack, the web widget) shows the label the reply carries, not its own English."""
    bot.config = dataclasses.replace(bot.config, messages=MessagesConfig(related="Siehe auch:"))
    bot.policy = type(bot.policy)(**{**bot.policy.__dict__, "faq_answer": 0.0, "faq_suggest": 0.0})
    answered = ask(bot, "forgot the password to my account", "r1")
    assert answered.kind is ReplyKind.ANSWER and answered.suggestions
    assert answered.suggestions_label == "Siehe auch:"
    assert answered.to_dict()["suggestions_label"] == "Siehe auch:"
    suggesting(bot)
    offered = ask(bot, "money back for my purchase", "r2")
    assert offered.kind is ReplyKind.SUGGEST and offered.suggestions_label == ""  # "did you mean" is in its text
