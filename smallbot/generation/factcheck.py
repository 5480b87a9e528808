"""The fact check of generated replies: find product facts in a generated reply that the bot's knowledge does not state.

A 135M-parameter model speaks fluent small talk but makes up URLs, prices, menu paths and dates as
readily as it says hello. Small talk needs none of those, so the check is deliberately blunt: every
fact-shaped span in a generated reply (URL, email, price, number, date, menu path) must appear in the
knowledge text (FAQ answers, questions, links), or the reply is replaced by the fallback. Pure functions,
no model: cheap enough to run on every streamed prefix.

>>> support = build_support(["Refunds within 30 days. Email support@tallyo.example."])
>>> find_unsupported("Sure, email support@tallyo.example!", support)
()
>>> [c.kind for c in find_unsupported("It costs $9 at https://tallyo.com/buy", support)]
['url', 'price']
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

# Order matters: earlier kinds claim their span first, so "$12" is a price, not a price and a number.
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>()\"']+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|co|example|app|dev|ai|us|uk|de|fr|info|biz|help)\b(?:/[^\s<>()\"']*)?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CURRENCY = r"(?:\$|€|£|¥|USD|EUR|GBP)"
_PRICE = re.compile(
    rf"{_CURRENCY}\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:/|per)\s?\w+)?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:dollars?|euros?|pounds?|cents?|bucks)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b"
    rf"|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b(?:,?\s+\d{{4}})?",
    re.IGNORECASE,
)
# "Settings > Billing", "Settings → Billing → Seats", "Account -> Legal", "Menu » Help".
_SEGMENT = r"[A-Z][\w&'-]*(?: [A-Za-z][\w&'-]*){0,3}"
_MENU = re.compile(rf"{_SEGMENT}(?:\s*(?:>|→|->|»|›)\s*{_SEGMENT})+")
_MENU_SPLIT = re.compile(r"\s*(?:>|→|->|»|›)\s*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*%?")

KINDS = ("url", "email", "price", "date", "menu_path", "number")


@dataclass(frozen=True)
class Claim:
    """One fact-shaped span of a reply; `kind` is one of KINDS."""

    kind: str
    text: str


@dataclass(frozen=True)
class Support:
    """What the bot's knowledge states, normalised once at load time (see `build_support`)."""

    text: str  # casefolded, markdown and whitespace squeezed
    numbers: frozenset[str]
    urls: frozenset[str]
    emails: frozenset[str]
    prices: frozenset[str]  # "currency number" pairs the knowledge states as prices
    menu_paths: frozenset[tuple[tuple[str, ...], ...]]  # casefolded steps of each path


def build_support(texts: Iterable[str]) -> Support:
    """Normalise the knowledge (FAQ answers, questions, links) the fact check compares replies with."""
    texts = list(texts)
    joined = _normalise("\n".join(texts))
    urls = frozenset(_canonical_url(m.group(0)) for m in _URL.finditer(joined))
    numbers = frozenset(_canonical_number(m.group(0)) for m in _NUMBER.finditer(joined))
    emails = frozenset(m.group(0) for m in _EMAIL.finditer(joined))
    prices = frozenset(p for m in _PRICE.finditer(joined) for p in _canonical_prices(m.group(0)))
    cased = _normalise_keep_case("\n".join(texts))
    paths = frozenset(tuple(_steps(m.group(0))) for m in _MENU.finditer(cased))
    return Support(joined, numbers, urls, emails, prices, paths)


def extract_claims(reply: str) -> tuple[Claim, ...]:
    """Every fact-shaped span in `reply`, each character claimed by at most one span."""
    text = _normalise_keep_case(reply)
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Claim]] = []
    for kind, pattern in (
        ("email", _EMAIL),
        ("url", _URL),
        ("price", _PRICE),
        ("date", _DATE),
        ("menu_path", _MENU),
        ("number", _NUMBER),
    ):
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in taken):
                continue
            span = match.group(0).rstrip(".,;:!?")
            if kind == "menu_path" and len(_MENU_SPLIT.split(span)) < 2:
                continue
            taken.append((start, end))
            found.append((start, Claim(kind, span)))
    return tuple(claim for _, claim in sorted(found, key=lambda item: item[0]))


def is_supported(claim: Claim, support: Support) -> bool:
    """True when the knowledge states this claim (same URL, number, price, date or menu path)."""
    if claim.kind == "url":
        url = _canonical_url(claim.text)
        return url in support.urls or any(known.startswith(url + "/") for known in support.urls)
    if claim.kind == "number":
        return _canonical_number(claim.text) in support.numbers
    if claim.kind == "email":
        return claim.text.casefold() in support.emails
    if claim.kind == "menu_path":
        return _menu_path_supported(claim.text, support.menu_paths)
    if claim.kind == "price":
        prices = _canonical_prices(claim.text)
        return bool(prices) and all(p in support.prices for p in prices)
    # date: the literal text (casefolded, spaces squeezed) must appear.
    return _squeeze(claim.text) in _squeeze(support.text)


def find_unsupported(reply: str, support: Support) -> tuple[Claim, ...]:
    """The claims in `reply` the knowledge does not state; empty means the reply may be shown."""
    return tuple(claim for claim in extract_claims(reply) if not is_supported(claim, support))


def has_fact_marker(text: str) -> bool:
    """Could `text` be the start of a claim? Streaming holds such sentences back until they are checked."""
    return bool(re.search(r"[\d@/>→»›$€£¥]|\bwww\b|\bhttps?\b|\.[a-z]{2,}\b", text, re.IGNORECASE)) or bool(
        re.search(rf"\b(?:{_MONTHS})\b", text, re.IGNORECASE)
    )


def _steps(path: str) -> list[tuple[str, ...]]:
    return [tuple(step.casefold().split()) for step in _MENU_SPLIT.split(path) if step.strip()]


def _menu_path_supported(path: str, known: frozenset[tuple[tuple[str, ...], ...]]) -> bool:
    """The claimed steps must be consecutive steps of one path the knowledge states.

    The pattern may swallow words around a path ("Go to Settings > Billing and save"), on either side,
    so a first step matches on its last word and a last step when one word list starts the other.
    """
    claim = _steps(path)
    for steps in known:
        for offset in range(len(steps) - len(claim) + 1):
            if all(_step_matches(c, steps[offset + i], i == 0, i == len(claim) - 1) for i, c in enumerate(claim)):
                return True
    return False


def _step_matches(claim: tuple[str, ...], known: tuple[str, ...], first: bool, last: bool) -> bool:
    if first and last:
        return claim[-1] in known
    if first:
        return claim[-1] == known[-1]
    if last:
        shorter = min(len(claim), len(known))
        return claim[:shorter] == known[:shorter]
    return claim == known


def _normalise_keep_case(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("**", "").replace("__", "")
    return text.replace("–", "-").replace("—", "-")


def _normalise(text: str) -> str:
    return " ".join(_normalise_keep_case(text).casefold().split())


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text.casefold())


def _canonical_url(url: str) -> str:
    url = url.casefold().rstrip(".,;:!?/)")
    url = re.sub(r"^https?://", "", url)
    return url[4:] if url.startswith("www.") else url


_CURRENCY_NAMES = {
    "$": "$",
    "usd": "$",
    "dollar": "$",
    "dollars": "$",
    "bucks": "$",
    "cent": "c",
    "cents": "c",
    "€": "€",
    "eur": "€",
    "euro": "€",
    "euros": "€",
    "£": "£",
    "gbp": "£",
    "pound": "£",
    "pounds": "£",
    "¥": "¥",
}
_CURRENCY_WORD = re.compile(r"\$|€|£|¥|\b(?:usd|eur|gbp|dollars?|euros?|pounds?|cents?|bucks)\b", re.IGNORECASE)


def _canonical_prices(span: str) -> set[str]:
    """{"$ 12"}: a price is its currency and its amount; "$29" does not support "€29"."""
    currency = _CURRENCY_WORD.search(span)
    symbol = _CURRENCY_NAMES.get(currency.group(0).casefold(), "?") if currency else "?"
    return {f"{symbol} {_canonical_number(n)}" for n in _NUMBER.findall(span)}


def _canonical_number(number: str) -> str:
    return number.replace(",", "").rstrip("%").rstrip(".")
