"""`smallbot report`: one static HTML page (plus PNG plots) that tells a bot author where the bot fails.

Outcome rates per day, the most frequent unanswered questions (clustered with the encoder), the FAQ
entries users thumbed down, and what the bot confused (it offered one entry, the user wanted another).
The page is static so it can be opened from disk or attached to an issue; jinja2 autoescapes every
user text (the log holds whatever users typed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import jinja2
import numpy as np

from smallbot.analytics import insights
from smallbot.analytics.insights import Cluster, DayRates, EntryFeedback
from smallbot.store import ConversationLog

REPORT_DIR = Path(".smallbot") / "report"
Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, computed from the log."""

    bot_name: str
    turns: int
    conversations: int
    days: tuple[DayRates, ...]
    unanswered: tuple[Cluster, ...]
    feedback: tuple[EntryFeedback, ...]
    confusions: tuple[tuple[str, str, int], ...]
    handoffs_open: int
    handoffs_total: int


def collect(
    store: ConversationLog, encode: Encode, bot_name: str = "smallbot", *, threshold: float = 0.7, top: int = 15
) -> ReportData:
    """Read the log and compute the report's figures (the encoder clusters the unanswered questions)."""
    turns = store.turns()
    distinct = insights.distinct_texts(t.text for t in insights.unanswered(turns))
    clusters: list[Cluster] = []
    if distinct:
        texts = [text for text, _ in distinct]
        clusters = insights.cluster(texts, [n for _, n in distinct], encode(texts), threshold)
    handoffs = store.handoffs()
    return ReportData(
        bot_name,
        len(turns),
        len({t.conversation_id for t in turns}),
        tuple(insights.daily_rates(turns)),
        tuple(clusters[:top]),
        tuple(insights.entry_feedback(turns, store.feedback())[:top]),
        tuple(insights.confusions(insights.resolutions(turns))[:top]),
        sum(h.is_open for h in handoffs),
        len(handoffs),
    )


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write report.html and its PNGs into `out_dir`; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    if data.days:
        plots["rates"] = _plot_rates(data.days, out_dir / "rates.png")
    if data.unanswered:
        plots["unanswered"] = _plot_unanswered(data.unanswered, out_dir / "unanswered.png")
    if data.feedback:
        plots["feedback"] = _plot_feedback(data.feedback, out_dir / "feedback.png")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_TEMPLATE).render(data=data, plots=plots, pct=lambda x: f"{100 * x:.0f}%")
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


# -- plots (matplotlib's Agg backend: no display needed) ------------------------------------------------


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height), dpi=100)


def _plot_rates(days: Sequence[DayRates], path: Path) -> str:
    plt, fig, ax = _figure(8, 4)
    from datetime import date

    first = date.fromisoformat(days[0].day)
    x = np.array([(date.fromisoformat(d.day) - first).days for d in days])  # gaps stay gaps: days without messages
    series = [
        ("answered", [d.answered for d in days], "#2e7d32"),
        ("suggested", [d.suggested for d in days], "#f9a825"),
        ("abstained (fallback)", [d.abstained for d in days], "#c62828"),
        ("handed off", [d.handed_off for d in days], "#1565c0"),
    ]
    for label, values, color in series:
        ax.plot(x, [100 * v for v in values], marker="o", label=label, color=color)
    ax.set_xticks(x, [d.day[5:] for d in days], rotation=45 if len(days) > 10 else 0)
    ax.set_ylabel("% of messages")
    ax.set_ylim(0, 100)
    ax.set_title("Reply outcomes per day (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, ncols=4, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _plot_unanswered(clusters: Sequence[Cluster], path: Path) -> str:
    shown = list(clusters[:10])[::-1]
    plt, fig, ax = _figure(8, 0.45 * len(shown) + 1.2)
    labels = [_shorten(c.representative, 48) for c in shown]
    if len(set(labels)) < len(labels):  # barh merges equal labels: keep them apart
        labels = [f"{i}. {label}" for i, label in enumerate(labels[::-1], start=1)][::-1]
    ax.barh(labels, [c.count for c in shown], color="#c62828")
    ax.set_xlabel("times asked (cluster total)")
    ax.set_title("Most frequent unanswered questions")
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _plot_feedback(entries: Sequence[EntryFeedback], path: Path) -> str:
    shown = list(entries[:10])[::-1]
    plt, fig, ax = _figure(8, 0.45 * len(shown) + 1.2)
    y = np.arange(len(shown))
    ax.barh(y, [-e.down for e in shown], color="#c62828", label="thumbs down")
    ax.barh(y, [e.up for e in shown], color="#2e7d32", label="thumbs up")
    ax.set_yticks(y, [_shorten(e.entry_id, 40) for e in shown])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("feedback count (down to the left)")
    ax.set_title("Feedback per FAQ entry")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _shorten(text: str, limit: int) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")  # matplotlib would read "$...$" in a user's question as math


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ data.bot_name }}: conversation report</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; } td, th { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
img { max-width: 100%; } .muted { color: #666; } .n { text-align: right; }
</style></head><body>
<h1>{{ data.bot_name }}: conversation report</h1>
<p>{{ data.turns }} messages in {{ data.conversations }} conversations;
{{ data.handoffs_total }} handoffs ({{ data.handoffs_open }} still open).
Run <code>smallbot learn</code> to turn the unanswered questions below into training data.</p>

<h2 id="rates">Outcomes per day</h2>
{% if plots.get("rates") %}<img src="{{ plots["rates"] }}" alt="reply outcomes per day">{% endif %}
<table><tr><th>day (UTC)</th><th class="n">messages</th><th class="n">answered</th><th class="n">suggested</th>
<th class="n">abstained</th><th class="n">handed off</th><th class="n">other</th></tr>
{% for d in data.days %}<tr><td>{{ d.day }}</td><td class="n">{{ d.total }}</td><td class="n">{{ pct(d.answered) }}</td>
<td class="n">{{ pct(d.suggested) }}</td><td class="n">{{ pct(d.abstained) }}</td><td class="n">{{ pct(d.handed_off) }}</td>
<td class="n">{{ pct(d.other) }}</td></tr>
{% else %}<tr><td colspan="7" class="muted">no messages logged yet</td></tr>{% endfor %}</table>

<h2 id="unanswered">Most frequent unanswered questions</h2>
<p class="muted">Fallbacks and "did you mean" replies, grouped by meaning with the encoder.</p>
{% if plots.get("unanswered") %}<img src="{{ plots["unanswered"] }}" alt="most frequent unanswered questions">{% endif %}
<table><tr><th class="n">times</th><th>question</th><th>also asked as</th></tr>
{% for c in data.unanswered %}<tr><td class="n">{{ c.count }}</td><td>{{ c.representative }}</td>
<td>{{ c.texts[1:6] | join(" · ") }}{% if c.texts | length > 6 %} · …{% endif %}</td></tr>
{% else %}<tr><td colspan="3" class="muted">none: every question got an answer</td></tr>{% endfor %}</table>

<h2 id="feedback">FAQ entries with the most negative feedback</h2>
{% if plots.get("feedback") %}<img src="{{ plots["feedback"] }}" alt="feedback per FAQ entry">{% endif %}
<table><tr><th>entry</th><th class="n">👎</th><th class="n">👍</th><th>comments</th></tr>
{% for e in data.feedback %}<tr><td>{{ e.entry_id }}</td><td class="n">{{ e.down }}</td><td class="n">{{ e.up }}</td>
<td>{{ e.comments | join(" · ") }}</td></tr>
{% else %}<tr><td colspan="4" class="muted">no feedback on FAQ answers yet</td></tr>{% endfor %}</table>

<h2 id="confusions">Most often confused</h2>
<p class="muted">The bot suggested the first entry; the user declined or rephrased and was answered by the second.</p>
<table><tr><th>bot offered</th><th>user wanted</th><th class="n">times</th></tr>
{% for offered, wanted, n in data.confusions %}<tr><td>{{ offered }}</td><td>{{ wanted }}</td><td class="n">{{ n }}</td></tr>
{% else %}<tr><td colspan="3" class="muted">no confusions found</td></tr>{% endfor %}</table>
</body></html>
"""
