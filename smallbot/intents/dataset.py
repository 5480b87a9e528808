"""Intent definitions as the bot author writes them in `intents/*.yml`, validated with file and line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from smallbot.errors import Problem
from smallbot.types import Route
from smallbot.project.yamlio import line_of, load_yaml

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_INTENT_KEYS = {"name", "route", "examples", "response", "tags"}
_FILE_KEYS = {"intents", "out_of_scope"}
MIN_EXAMPLES = 2


@dataclass(frozen=True)
class IntentSpec:
    """One intent: its name, what the router does with it, and the examples it is trained on."""

    name: str
    route: Route
    examples: tuple[str, ...]
    response: str | None = None
    tags: tuple[str, ...] = ()
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class IntentDataset:
    """All intents of a bot plus optional out-of-scope examples (used for calibration when given).

    >>> ds = IntentDataset((IntentSpec("greet", Route.RESPOND, ("hi", "hello"), "Hi!"),))
    >>> ds.texts_and_labels()
    (['hi', 'hello'], ['greet'])
    """

    intents: tuple[IntentSpec, ...]
    out_of_scope: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def names(self) -> list[str]:
        return [intent.name for intent in self.intents]

    def by_name(self, name: str) -> IntentSpec:
        for intent in self.intents:
            if intent.name == name:
                return intent
        raise KeyError(name)

    def texts_and_labels(self) -> tuple[list[str], list[str]]:
        texts = [example for intent in self.intents for example in intent.examples]
        labels = [intent.name for intent in self.intents for _ in intent.examples]
        return texts, labels


def load_intents(paths: list[Path], problems: list[Problem], root: Path | None = None) -> IntentDataset:
    """Read every intents file; append each problem found (never stop at the first)."""
    env = jinja2.Environment(autoescape=False)
    intents: list[IntentSpec] = []
    out_of_scope: list[str] = []
    warnings: list[Problem] = []
    seen_names: dict[str, str] = {}
    seen_examples: dict[str, tuple[str, str, int | None]] = {}
    for path in paths:
        display = str(path.relative_to(root)) if root else str(path)
        data = load_yaml(path, problems, display)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(display, line_of(data, 0), "an intents file is a mapping with an 'intents:' list"))
            continue
        for key in data:
            if key not in _FILE_KEYS:
                problems.append(
                    Problem(display, line_of(data, key), f"unknown key '{key}': expected 'intents' or 'out_of_scope'")
                )
        for index, text in enumerate(data.get("out_of_scope") or []):
            if isinstance(text, str) and text.strip():
                out_of_scope.append(text.strip())
            else:
                problems.append(
                    Problem(
                        display, line_of(data["out_of_scope"], index), "out_of_scope examples must be non-empty strings"
                    )
                )
        items = data.get("intents") or []
        if not isinstance(items, list):
            problems.append(Problem(display, line_of(data, "intents"), "'intents' must be a list"))
            continue
        for index, item in enumerate(items):
            spec = _parse_intent(item, display, line_of(items, index), env, problems, warnings)
            if spec is None:
                continue
            if spec.name in seen_names:
                problems.append(
                    Problem(
                        display, spec.line, f"duplicate intent name '{spec.name}' (also in {seen_names[spec.name]})"
                    )
                )
                continue
            seen_names[spec.name] = display
            for example in spec.examples:
                key = _fold(example)
                if key in seen_examples and seen_examples[key][0] != spec.name:
                    other, other_file, other_line = seen_examples[key]
                    problems.append(
                        Problem(
                            display,
                            spec.line,
                            f"example {example!r} is in both '{other}' ({other_file}:{other_line}) and '{spec.name}': "
                            "an example may teach only one intent",
                        )
                    )
                seen_examples.setdefault(key, (spec.name, display, spec.line))
            intents.append(spec)
    for text in out_of_scope:
        if _fold(text) in seen_examples:
            name = seen_examples[_fold(text)][0]
            problems.append(Problem("intents", None, f"out_of_scope example {text!r} is also an example of '{name}'"))
    return IntentDataset(tuple(intents), tuple(out_of_scope), tuple(warnings))


def _parse_intent(
    item: object, file: str, line: int | None, env: jinja2.Environment, problems: list[Problem], warnings: list[Problem]
) -> IntentSpec | None:
    if not isinstance(item, dict):
        problems.append(Problem(file, line, "each intent is a mapping with name, route and examples"))
        return None
    before = len(problems)
    for key in item:
        if key not in _INTENT_KEYS:
            problems.append(
                Problem(
                    file,
                    line_of(item, key),
                    f"unknown key '{key}' in intent: allowed are {', '.join(sorted(_INTENT_KEYS))}",
                )
            )
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        fix = _valid_name(str(name)) if name is not None else ""
        hint = f": did you mean '{fix}'?" if fix else ""
        problems.append(
            Problem(
                file,
                line_of(item, "name"),
                f"intent name must be a word like 'reset_password' (letters, digits, _ or -), got {name!r}{hint}",
            )
        )
        name = str(name)
    route_raw = item.get("route", "respond")
    try:
        route = Route(route_raw)
    except ValueError:
        problems.append(
            Problem(
                file,
                line_of(item, "route"),
                f"intent '{name}': unknown route {route_raw!r}: use one of faq, respond, handoff",
            )
        )
        route = Route.RESPOND
    raw_examples = item.get("examples") or []
    examples: list[str] = []
    if not isinstance(raw_examples, list):
        problems.append(Problem(file, line_of(item, "examples"), f"intent '{name}': 'examples' must be a list"))
        raw_examples = []
    for index, example in enumerate(raw_examples):
        if not isinstance(example, (str, int, float)) or not str(example).strip():
            problems.append(Problem(file, line_of(raw_examples, index), f"intent '{name}': empty example"))
            continue
        text = str(example).strip()
        if _fold(text) in {_fold(e) for e in examples}:
            # public intent sets (BANKING77, HWU64) hold a few exact copies: harmless, so dropped with a word
            warnings.append(
                Problem(
                    file,
                    line_of(raw_examples, index),
                    f"intent '{name}': example {text!r} is listed twice; the copy is ignored",
                )
            )
            continue
        examples.append(text)
    if len(examples) < MIN_EXAMPLES:
        problems.append(
            Problem(
                file,
                line_of(item, "examples"),
                f"intent '{name}' has {len(examples)} example(s): give at least {MIN_EXAMPLES}, ideally 10 or more",
            )
        )
    response = item.get("response")
    if response is not None:
        if not isinstance(response, str) or not response.strip():
            problems.append(
                Problem(
                    file, line_of(item, "response"), f"intent '{name}': 'response' must be a non-empty template string"
                )
            )
            response = None
        else:
            try:
                env.parse(response)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(
                    Problem(
                        file,
                        (line_of(item, "response") or 0) + exc.lineno - 1 or None,
                        f"intent '{name}': bad template syntax in 'response': {exc.message}",
                    )
                )
    if route is Route.RESPOND and response is None and "response" not in item:
        problems.append(Problem(file, line, f"intent '{name}' has route 'respond' but no 'response' template"))
    if route is Route.FAQ and response is not None:
        problems.append(
            Problem(
                file,
                line_of(item, "response"),
                f"intent '{name}' has route 'faq': its answer comes from the knowledge base, so remove 'response'",
            )
        )
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(Problem(file, line_of(item, "tags"), f"intent '{name}': 'tags' must be a list of strings"))
        tags = []
    if len(problems) > before:
        return None
    return IntentSpec(name, route, tuple(examples), response, tuple(tags), file, line)


def _valid_name(name: str) -> str:
    """The nearest valid intent name: other characters become '_', and it starts with a letter."""
    fixed = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_\-]", "_", name)).strip("_-")
    fixed = re.sub(r"^[^A-Za-z]+", "", fixed)
    return fixed if fixed and _NAME.match(fixed) else ""


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())
