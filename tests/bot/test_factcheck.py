"""The fact check of generated replies, table-driven against a small knowledge text."""

from __future__ import annotations

import pytest

from smallbot.generation.factcheck import build_support, extract_claims, find_unsupported, has_fact_marker

KNOWLEDGE = [
    "Starter ($12/month) and Pro ($29/month). Full details are at [tallyo.example/pricing](https://tallyo.example/pricing).",
    "Request it under **Settings → Billing → Request refund** or email support@tallyo.example; refunds take 5–10 business days.",
    "Create keys under **Settings → Developers → API keys**; the default limit is 120 requests per minute.",
    "Our office is closed on December 25.",
    "https://help.tallyo.example/account/reset-password",
]


@pytest.fixture(scope="module")
def support():
    return build_support(KNOWLEDGE)


@pytest.mark.parametrize("reply", [
    "Hi! I'm doing great, thanks for asking. How about you?",
    "Haha, I love that question. What else is on your mind?",
    "Starter costs $12/month.",
    "Starter is $12 a month and Pro is $29/month.",
    "You can email support@tallyo.example any time.",
    "Pricing is at https://tallyo.example/pricing.",
    "See tallyo.example/pricing for plans.",
    "Go to Settings > Billing > Request refund.",
    "Open Settings -> Developers to create keys.",
    "Refunds take 5-10 business days.",
    "The limit is 120 requests per minute.",
    "We're closed on December 25.",
    "Try the reset page at help.tallyo.example/account/reset-password",
])
def test_replies_stating_only_known_facts_pass(reply, support):
    assert find_unsupported(reply, support) == ()


@pytest.mark.parametrize("reply, kind", [
    ("Check out https://tallyo.com/deals for more.", "url"),
    ("Visit www.tallyo-help.com today!", "url"),
    ("See tallyo.example/careers for jobs.", "url"),
    ("Starter is only $9/month right now.", "price"),
    ("It costs 15 dollars.", "price"),
    ("Pro is €29.", "price"),  # a known number in another currency is still a price the docs never state
    ("Drop us a line at help@tallyo.example.", "email"),
    ("Open Settings > Payments > Refund now to get your money.", "menu_path"),
    ("Go to Billing > Request money.", "menu_path"),
    ("Refunds take 14 business days.", "number"),
    ("We're closed on March 3rd.", "date"),
    ("Our sale ends 2025-01-31.", "date"),
])
def test_replies_inventing_a_fact_are_caught_with_its_kind(reply, kind, support):
    found = find_unsupported(reply, support)
    assert [c.kind for c in found] == [kind], found


def test_a_price_claims_its_number_once():
    assert [c.kind for c in extract_claims("Only $9.99/month, call 555 1234")] == ["price", "number", "number"]


def test_an_email_is_not_also_a_url():
    assert [c.kind for c in extract_claims("write to sales@tallyo.com")] == ["email"]


@pytest.mark.parametrize("text, marked", [
    ("Hi there, how are", False),
    ("You can find it at www", True),
    ("It costs $", True),
    ("Go to Settings >", True),
    ("See you in March", True),
    ("I have 3", True),
])
def test_fact_markers_flag_sentences_that_may_hold_a_fact(text, marked):
    assert has_fact_marker(text) is marked
