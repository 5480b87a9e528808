"""`smallbot report` on a generated log: per-day outcome rates, clustered unanswered questions, thumbs per
FAQ entry and confusions, rendered to HTML with real matplotlib PNGs; user text is escaped."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from smallbot.analytics import insights
from smallbot.runtime.bot import Bot
from smallbot.cli import main
from smallbot.project.loader import load_project
from smallbot.store.sqlite import SQLiteStore
from smallbot.types import Message, Reply, ReplyKind, Source, Suggestion

DAY = 86400.0
CANADA = ["do you ship to canada", "Do you deliver to Canada?", "shipping to canada possible?"]


def _generate_log(root: Path, encoder) -> None:
    start = (time.time() // DAY - 3) * DAY + 3600  # 01:00 UTC three days ago
    with SQLiteStore(root / ".smallbot" / "conversations.sqlite3") as store:
        def turn(conversation, text, kind, day, **reply):
            return store.log_turn(Message(conversation, text, received_at=start + day * DAY + len(text)),
                                  Reply(kind, "...", conversation, **reply))

        # day 0: mostly answered, one thumbs-down on the refund answer
        for i in range(6):
            turn(f"a{i}", "How do I reset my password?", ReplyKind.ANSWER, 0, sources=(Source("reset-password", "?"),))
        refund = turn("b1", "refund?", ReplyKind.ANSWER, 0, sources=(Source("refund", "?"),))
        store.log_feedback("b1", refund, -1, "30 days is <b>wrong</b>")
        store.log_feedback("a0", None, +1)
        turn("c1", CANADA[0], ReplyKind.FALLBACK, 0)
        # day 1: more unanswered, a handoff, and a confusion (offered opening-hours, user wanted refund)
        for i, text in enumerate(CANADA):
            turn(f"d{i}", text, ReplyKind.FALLBACK, 1)
        turn("e1", "<script>alert('x')</script> what's the weather", ReplyKind.FALLBACK, 1)
        turn("f1", "money back on weekends?", ReplyKind.SUGGEST, 1, suggestions=(Suggestion("opening-hours", "?"),))
        turn("f1", "no", ReplyKind.RESPOND, 1, reason="declined suggestions")
        turn("f1", "Can I get a refund?", ReplyKind.ANSWER, 1, sources=(Source("refund", "?"),))
        turn("g1", "human please", ReplyKind.HANDOFF, 1)
    # day 3 (today): the real bot answers live traffic into the same log
    bot = Bot.from_build(load_project(root), encoder=encoder)
    try:
        for text in ["I forgot my password", "when are you open", "hello", "talk to a human"]:
            bot.handle(Message(f"live-{text}", text))
    finally:
        bot.close()


@pytest.fixture(scope="module")
def reported(trained_tiny, encoder, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "tiny"
    shutil.copytree(trained_tiny, root)
    _generate_log(root, encoder)
    assert main(["report", str(root)]) == 0
    return root / ".smallbot" / "report"


def test_report_shows_rates_per_day_and_every_section(reported, artifacts_dir):
    html = (reported / "report.html").read_text()
    shutil.copytree(reported, artifacts_dir / "store-report", dirs_exist_ok=True)
    days = re.findall(r"<td>(\d{4}-\d\d-\d\d)</td>", html)
    assert len(days) == 3 and days == sorted(days)
    first_day = html[html.index(days[0]):html.index("</tr>", html.index(days[0]))]
    # day 0: 7 answered, 1 fallback of 8 messages
    assert re.findall(r">(\d+%?)</td>", first_day)[:5] == ["8", "88%", "0%", "12%", "0%"]
    for heading in ("Outcomes per day", "Most frequent unanswered questions", "most negative feedback",
                    "Most often confused"):
        assert heading in html
    assert "<td>opening-hours</td><td>refund</td>" in html.replace("\n", "")


def test_report_clusters_paraphrased_unanswered_questions(reported):
    html = (reported / "report.html").read_text()
    row = re.search(r'<td class="n">(\d+)</td><td>do you ship to canada</td>', html)
    assert row and int(row.group(1)) == 4  # asked twice verbatim plus two paraphrases
    assert "Do you deliver to Canada?" in html


def test_report_escapes_what_users_typed(reported):
    html = (reported / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<b>wrong</b>" not in html and "&lt;b&gt;wrong&lt;/b&gt;" in html


@pytest.mark.parametrize("name", ["rates.png", "unanswered.png", "feedback.png"])
def test_report_plots_are_real_images(reported, name):
    import matplotlib.image

    html = (reported / "report.html").read_text()
    assert f'src="{name}"' in html
    pixels = matplotlib.image.imread(reported / name)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 600
    red = (pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.sum() > 50  # the abstained line / unanswered bars / thumbs-down bars are drawn


def test_cluster_groups_by_cosine_and_orders_by_count():
    vectors = np.array([[1, 0, 0], [0.95, 0.31, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    clusters = insights.cluster(["a", "a2", "b", "c"], [1, 1, 5, 1], vectors, threshold=0.9)
    assert [(c.representative, c.texts, c.count) for c in clusters] == [
        ("b", ("b",), 5), ("a", ("a", "a2"), 2), ("c", ("c",), 1)]


def test_report_of_an_empty_log_still_renders(tiny_copy):
    root = tiny_copy
    assert main(["report", str(root)]) == 0
    html = (root / ".smallbot" / "report" / "report.html").read_text()
    assert "no messages logged yet" in html and "<img" not in html


def test_plots_survive_dollar_signs_and_duplicate_labels(tmp_path):
    from smallbot.analytics.log_report import ReportData, write_report

    vector = np.ones(3, dtype=np.float32) / np.sqrt(3)
    clusters = tuple(insights.Cluster(text, (text,), 2, vector) for text in ["is it $5 or $10 a month?"] * 2)
    data = ReportData("bot", 4, 2, (insights.DayRates("2026-01-01", 4, 0.5, 0, 0.5, 0, 0),), clusters, (), (), 0, 0)
    html = write_report(data, tmp_path).read_text()
    assert (tmp_path / "unanswered.png").stat().st_size > 1000
    assert "is it $5 or $10 a month?" in html
