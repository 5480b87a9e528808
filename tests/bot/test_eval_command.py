"""`smallbot eval` end to end on the tiny bot: real encoder, real training, real files."""

from __future__ import annotations

import json
import re

import pytest

from smallbot.cli import main
from smallbot.errors import ProjectError
from smallbot.project.loader import load_project

PNG = b"\x89PNG\r\n\x1a\n"

TEST_SPLIT = """
examples:
  - {text: "hello, nice to meet you", intent: greet}
  - {text: "good afternoon!", intent: greet}
  - {text: "see you tomorrow", intent: goodbye}
  - {text: "I'm leaving now, bye", intent: goodbye}
  - {text: "please let me talk to a person", intent: talk_to_human}
  - {text: "I need a human agent", intent: talk_to_human}
out_of_scope:
  - "asdkjh qwe zxcv"
  - "how tall is mount everest"
"""


def _figures(report: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', report)


@pytest.mark.slow
def test_eval_writes_report_with_intent_and_knowledge_figures_from_a_test_split(tiny_project, capsys, artifacts_dir):
    (tiny_project / "tests").mkdir()
    (tiny_project / "tests" / "smoke.yml").write_text(TEST_SPLIT)
    assert main(["eval", str(tiny_project), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["intents"]
    assert summary["mode"].startswith("test split") and summary["in_scope"] == 6 and summary["out_of_scope"] == 2
    assert summary["accuracy_no_reject"] >= 5 / 6
    out = tiny_project / ".smallbot" / "eval"
    report = (out / "report.html").read_text()
    assert "<h2>Intents</h2>" in report and "Worst confusions" in report and "Per intent" in report
    figures = _figures(report)
    assert figures == ["intents_confusion.png", "intents_threshold.png", "knowledge_curve.png"]
    assert "<h2>FAQ retrieval</h2>" in report and "answer threshold (confidence)" in report
    knowledge = json.loads((out / "metrics.json").read_text())["knowledge"]
    assert knowledge["queries"] > 0 and knowledge["hit@1"] >= 0.5
    for name in figures:
        assert (out / name).read_bytes().startswith(PNG)
    (artifacts_dir / "eval-report-tiny.html").write_text(report)


@pytest.mark.slow
def test_eval_cross_validates_a_bot_without_a_test_split(tiny_project, capsys):
    assert main(["eval", str(tiny_project), "--cv", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["intents"]
    assert summary["mode"] == "2-fold cross-validation"
    assert summary["in_scope"] == 24 and summary["out_of_scope"] == 8  # every example scored exactly once
    assert summary["accuracy_no_reject"] >= 0.75
    report = (tiny_project / ".smallbot" / "eval" / "report.html").read_text()
    assert len(_figures(report)) == 3


def test_eval_reports_a_bad_test_file_with_its_line(tiny_project, capsys):
    bad = tiny_project / "extra.yml"
    bad.write_text("examples:\n  - {text: hi, intent: not_an_intent}\n")
    assert main(["eval", str(tiny_project), "--test", str(bad)]) == 2
    assert "extra.yml:2: intent 'not_an_intent' is not defined" in capsys.readouterr().err


def test_duplicate_example_in_two_intents_fails_project_loading(tiny_project):
    path = tiny_project / "intents" / "more.yml"
    path.write_text("intents:\n  - name: hello_again\n    route: respond\n    response: Hi\n"
                    "    examples: [Hello, hi again, hello once more]\n")
    with pytest.raises(ProjectError, match="'Hello' is in both 'greet'"):
        load_project(tiny_project)


@pytest.mark.slow
def test_eval_of_a_fine_tuned_bot_embeds_with_the_tuned_encoder(tiny_copy, encoder, capsys):
    """The head was fitted on the tuned encoder's embeddings, so the test split must be embedded with it."""
    import argparse

    import numpy as np

    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import train_project
    from smallbot.commands.eval import EvalContext
    from smallbot.encoding.serving import serving_encoder

    config = tiny_copy / "bot.yml"
    config.write_text(config.read_text() + "knowledge:\n  finetune_steps: 2\n  finetune_batch: 4\n"
                      "  calibration: held_out\n")
    train_project(load_project(tiny_copy), encoder=encoder)
    (tiny_copy / "tests").mkdir()
    (tiny_copy / "tests" / "smoke.yml").write_text(TEST_SPLIT)
    texts = ["I'm leaving now, bye", "please let me talk to a person", "how tall is mount everest"]
    project = load_project(tiny_copy)
    bot = Bot.load(tiny_copy, with_store=False)
    try:
        served = bot.encoder.encode(texts)
    finally:
        bot.close()
    assert np.abs(served - encoder.encode(texts)).max() > 1e-3  # tuning moved the embeddings
    context = EvalContext(project, argparse.Namespace(test=None, cv=None, json=True), tiny_copy / "out")
    assert np.abs(context.encode(texts) - served).max() < 1e-4
    assert np.abs(serving_encoder(project).encode(texts) - served).max() < 1e-4
    assert main(["eval", str(tiny_copy), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["intents"]
    assert summary["mode"].startswith("test split") and summary["accuracy_no_reject"] >= 5 / 6
