"""Every kind of mistake in a bot project is reported with its file and line, all at once."""

from __future__ import annotations

import pytest

from smallbot.errors import ProjectError
from smallbot.project.loader import load_project
from tests.conftest import TINY_BOT, write_project


def problems_of(tmp_path, **overrides) -> str:
    files = {**TINY_BOT, **overrides}
    root = write_project(tmp_path / "bot", {k: v for k, v in files.items() if v is not None})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    return str(info.value)


def test_valid_project_loads(tiny_project):
    project = load_project(tiny_project)
    assert project.intents.names == ["greet", "goodbye", "talk_to_human"]
    assert [e.id for e in project.knowledge][:2] == ["reset-password", "opening-hours"]


def test_unknown_route_names_file_line_and_choices(tmp_path):
    message = problems_of(tmp_path, **{"intents/bad.yml": """
        intents:
          - name: weird
            route: teleport
            examples: [a thing, another thing]
    """})
    assert "intents/bad.yml:3: intent 'weird': unknown route 'teleport': use one of faq, respond, handoff" in message


def test_intent_with_one_example_is_refused(tmp_path):
    message = problems_of(tmp_path, **{"intents/bad.yml": """
        intents:
          - name: lonely
            route: respond
            response: hi
            examples:
              - only one
    """})
    assert "intents/bad.yml:5: intent 'lonely' has 1 example(s): give at least 2" in message


def test_duplicate_faq_ids_across_files(tmp_path):
    message = problems_of(tmp_path, **{"knowledge/more.yml": """
        faqs:
          - id: refund
            question: Do you give refunds?
            answer: Yes.
    """})
    assert "knowledge/more.yml:2: duplicate FAQ id 'refund' (first defined at knowledge/faq.yml:" in message


def test_empty_answer(tmp_path):
    message = problems_of(tmp_path, **{"knowledge/more.yml": """
        faqs:
          - id: empty
            question: What is nothing?
            answer: "   "
    """})
    assert "knowledge/more.yml:4: FAQ 'empty' has an empty answer" in message


def test_bad_template_syntax(tmp_path):
    message = problems_of(tmp_path, **{"intents/bad.yml": """
        intents:
          - name: broken
            route: respond
            examples: [one, two]
            response: "Hello {{ user "
    """})
    assert "intents/bad.yml:5: intent 'broken': bad template syntax in 'response'" in message


def test_unknown_keys_in_bot_yml_intent_and_faq(tmp_path):
    message = problems_of(tmp_path, **{
        "bot.yml": """
            name: Tiny
            tresholds:
              intent: 0.4
        """,
        "intents/extra.yml": """
            intents:
              - name: extra
                route: respond
                response: ok
                examples: [x one, x two]
                exampels: [typo]
        """,
        "knowledge/more.yml": """
            faqs:
              - id: colour
                question: What colour is it?
                answer: Blue.
                anwser: typo
        """,
    })
    assert "bot.yml:2: unknown key 'tresholds': did you mean 'thresholds'?" in message
    assert "intents/extra.yml:6: unknown key 'exampels' in intent" in message
    assert "knowledge/more.yml:5: unknown key 'anwser' in FAQ entry" in message


def test_wrong_type_in_bot_yml(tmp_path):
    message = problems_of(tmp_path, **{"bot.yml": """
        thresholds:
          intent: high
    """})
    assert "bot.yml:2: 'thresholds.intent' must be a number, got 'high'" in message


def test_invalid_yaml_reports_line(tmp_path):
    message = problems_of(tmp_path, **{"knowledge/broken.yml": """
        faqs:
          - id: a
            question: [unclosed
    """})
    assert "knowledge/broken.yml:" in message and "invalid YAML" in message


def test_every_problem_is_reported_at_once(tmp_path):
    message = problems_of(tmp_path, **{
        "bot.yml": "nmae: x\n",
        "knowledge/more.yml": """
            faqs:
              - id: refund
                question: dup
                answer: dup
        """,
    })
    assert message.startswith("bot project has 2 problems:")


def test_secret_must_be_env_reference_and_is_redacted(tmp_path, monkeypatch):
    message = problems_of(tmp_path, **{"bot.yml": """
        slack:
          bot_token: xoxb-literal-token
    """})
    assert "'slack.bot_token' must be a reference to an environment variable like ${SLACK_BOT_TOKEN}" in message
    root = write_project(tmp_path / "ok", {**TINY_BOT, "bot.yml": "slack:\n  bot_token: ${MY_TOKEN}\n"})
    monkeypatch.setenv("MY_TOKEN", "xoxb-secret")
    config = load_project(root).config
    assert config.connector("slack").bot_token.get() == "xoxb-secret"
    assert "xoxb-secret" not in repr(config)


def test_what_the_bot_says_is_set_in_bot_yml_and_a_misspelt_message_is_named(tmp_path):
    root = write_project(tmp_path / "ok", {**TINY_BOT, "bot.yml": """
        name: Tiny
        messages:
          start_over: "Gut, fangen wir von vorne an."
          did_you_mean: 'Meinten Sie „{question}“?'
    """})
    messages = load_project(root).config.messages
    assert messages.start_over == "Gut, fangen wir von vorne an."
    assert messages.declined == "OK. Could you tell me a bit more, in other words?"  # the English default stays
    message = problems_of(tmp_path, **{"bot.yml": """
        name: Tiny
        messages:
          start_ovr: "Gut"
    """})
    assert "bot.yml:3: unknown key 'messages.start_ovr': did you mean 'messages.start_over'?" in message


def test_a_postgres_store_needs_its_url_as_a_reference(tmp_path, monkeypatch):
    message = problems_of(tmp_path, **{"bot.yml": """
        store:
          backend: postgres
    """})
    assert "bot.yml:2: store.backend 'postgres' needs 'store.url'" in message
    message = problems_of(tmp_path, **{"bot.yml": """
        store:
          backend: postgres
          url: postgresql://bot:hunter2@db/smallbot
    """})
    assert "'store.url' must be a reference to an environment variable" in message
    root = write_project(tmp_path / "ok", {**TINY_BOT, "bot.yml": "store:\n  backend: postgres\n  url: ${DB_URL}\n"})
    monkeypatch.setenv("DB_URL", "postgresql://bot:hunter2@db/smallbot")
    store = load_project(root).config.store
    assert store.url is not None and store.url.get().endswith("@db/smallbot")
    assert "hunter2" not in repr(store)
