"""`bot.yml`: typed settings with defaults, unknown keys refused with the file, line and the fix.

Sections other packages own (generator, web, slack, store) are plain dataclasses here so that
one validator covers every key of the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, Problem
from .yamlio import line_of, load_yaml

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Secret:
    """A secret named by its environment variable; the value is read at use time and never printed.

    >>> Secret("SLACK_BOT_TOKEN").get()  # raises ConfigError when the variable is unset
    """

    env_var: str

    def get(self) -> str:
        value = os.environ.get(self.env_var)
        if not value:
            raise ConfigError(f"environment variable {self.env_var} is not set (referenced in bot.yml)")
        return value

    def is_set(self) -> bool:
        return bool(os.environ.get(self.env_var))

    def __repr__(self) -> str:
        return f"Secret(${{{self.env_var}}}=***)"

    __str__ = __repr__


@dataclass(frozen=True)
class ModelsConfig:
    encoder: str = "all-MiniLM-L6-v2"  # packaged name, local directory or hub id
    # torch threads per encoder pass; 0 = torch's default (one per core). 1 is far steadier on a machine
    # whose cores are busy with other work (benchmarks/RESULTS.md, "## Speed")
    threads: int = 0
    # "int8": dynamic int8 weights for the encoder's Linear layers, applied at train time before the FAQ index
    # and intent head are built, then traced for serving; changing it retrains. About 2x the encoder's speed
    # but it failed the accuracy bar (benchmarks/RESULTS.md, "int8 serving encoder"), so off by default
    quantize: Literal["none", "int8"] = "none"


@dataclass(frozen=True)
class ThresholdsConfig:
    # minimum calibrated intent confidence to act on a respond/handoff intent
    intent: float = 0.5
    # FAQ bands; "auto" = calibrated at train time to `target_wrong_answer_rate`
    faq_answer: float | Literal["auto"] = "auto"
    faq_suggest: float | Literal["auto"] = "auto"
    target_wrong_answer_rate: float = 0.02
    # rapidfuzz score (0-100) above which an FAQ question matches without the encoder
    fast_path: float = 95.0


@dataclass(frozen=True)
class LimitsConfig:
    max_message_chars: int = 1000


@dataclass(frozen=True)
class GeneratorConfig:
    enabled: bool = False
    model: str = "smollm2-135m"
    persona: str = "You are a friendly, concise support assistant. Keep replies to one or two sentences."
    max_new_tokens: int = 48
    max_seconds: float = 8.0
    load: Literal["lazy", "startup"] = "lazy"
    history_tokens: int = 256  # earlier turns of the conversation the generator sees, newest first
    threads: int = 1  # torch threads of the generator's own thread; the other core stays free for FAQ answers


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_origins: list[str] = field(default_factory=list)
    max_request_bytes: int = 16384  # larger request bodies get 413
    rate_limit_per_minute: float = 30.0  # per client address; over it: 429 with Retry-After
    rate_limit_burst: int = 10
    reload_seconds: float = 2.0  # how often a running server picks up edited knowledge files (0 = never)
    api_key: Secret | None = None  # ${ENV_VAR}: callers sending it as a Bearer token may choose conversation ids


@dataclass(frozen=True)
class SlackConfig:
    enabled: bool = False
    bot_token: Secret | None = None
    signing_secret: Secret | None = None
    support_channel: str = ""
    # Socket Mode instead of the public HTTP endpoints (needs an app-level token, xapp-...)
    socket_mode: bool = False
    app_token: Secret | None = None
    # Slack's Web API; tests point it at smallbot.connectors.slack.testing.SlackAPIStandIn
    api_base_url: str = "https://slack.com/api/"


@dataclass(frozen=True)
class StoreConfig:
    backend: Literal["sqlite"] = "sqlite"
    path: str = ".smallbot/conversations.sqlite3"
    retention_days: int = 0  # 0 keeps everything


@dataclass(frozen=True)
class KnowledgeConfig:
    """FAQ retriever training: contrastive fine-tuning of the shared encoder on the bot's phrasings."""

    finetune_steps: int = 0  # 0 keeps the packaged encoder; ~30 steps fine-tune it at train time
    finetune_layers: int = 2  # top encoder layers that learn (0 = all)
    finetune_batch: int = 16  # entries per contrastive step
    # how a fine-tuned bot's bands are calibrated: cross_validation = the tuning repeated on each half of the
    # phrasings and negatives, the other half searched as unseen (three tuning runs; smallbot.knowledge.crossval);
    # held_out = on one alternate per entry kept out of the one tuning run (one run; too few held-out messages
    # for StackFAQ's split seed 1 to answer anything, benchmarks/RESULTS.md)
    calibration: Literal["held_out", "cross_validation"] = "cross_validation"


@dataclass(frozen=True)
class IntentsConfig:
    """Intent classifier training: optional contrastive tuning of the shared encoder on intent examples."""

    # 0 keeps the body as the knowledge step left it; N > 0 first tunes THE encoder for N steps with
    # same-intent examples as positives (other intents and out_of_scope examples as negatives)
    finetune_steps: int = 0
    finetune_layers: int = 2  # top encoder layers that learn (0 = all)
    finetune_batch: int = 32  # intents per contrastive step (examples per step with cross_entropy)
    # contrastive: pairs of same-intent examples (smallbot.contrastive); cross_entropy: end to end with a
    # classification head over every intent plus out_of_scope as a class (smallbot.intents.endtoend)
    finetune_loss: Literal["contrastive", "cross_entropy"] = "contrastive"


@dataclass(frozen=True)
class BotConfig:
    """Everything `bot.yml` can say, with the defaults a new bot gets."""

    name: str = "smallbot"
    description: str = ""
    language: str = "en"
    seed: int = 0
    fallback: str = "Sorry, I don't know that yet. Could you rephrase?"
    handoff: str = "I'm handing you over to a person from our team."
    models: ModelsConfig = field(default_factory=ModelsConfig)
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    web: WebConfig = field(default_factory=WebConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    intents: IntentsConfig = field(default_factory=IntentsConfig)


def load_config(path: Path, problems: list[Problem], display: str = "bot.yml") -> BotConfig:
    """Read `bot.yml`; every problem is appended to `problems` and defaults fill the gaps."""
    if not path.exists():
        problems.append(Problem(display, None, "missing: every bot project needs a bot.yml (run `smallbot init`)"))
        return BotConfig()
    data = load_yaml(path, problems, display)
    if data is None:
        return BotConfig()
    if not isinstance(data, dict):
        problems.append(Problem(display, line_of(data, 0), "bot.yml must be a mapping of settings"))
        return BotConfig()
    return _build(BotConfig, data, display, problems, "")


def _build(cls: type, data: dict, file: str, problems: list[Problem], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            fix = f"did you mean '{prefix}{close[0]}'?" if close else f"known keys: {', '.join(sorted(names))}"
            problems.append(Problem(file, line_of(data, key), f"unknown key '{dotted}': {fix}"))
            continue
        ok, value = _convert(hints[key], raw, file, problems, dotted, line_of(data, key))
        if ok:
            values[key] = value
    return cls(**values)


def _convert(tp: Any, raw: Any, file: str, problems: list[Problem], key: str, line: int | None) -> tuple[bool, Any]:
    def bad(expected: str) -> tuple[bool, Any]:
        problems.append(Problem(file, line, f"'{key}' must be {expected}, got {raw!r}"))
        return False, None

    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and tp is not Secret:  # a Secret is written as ${ENV_VAR}, not a mapping
        if raw is None:
            return True, tp()
        if not isinstance(raw, dict):
            return bad("a mapping")
        return True, _build(tp, raw, file, problems, f"{key}.")
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if raw is None and type(None) in options:
            return True, None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:
            return _convert(real[0], raw, file, problems, key, line)
        for option in options:
            if option is type(None):
                continue
            trial: list[Problem] = []
            ok, value = _convert(option, raw, file, trial, key, line)
            if ok and not trial:
                return True, value
        return bad(" or ".join(_describe(o) for o in options if o is not type(None)))
    if origin is Literal:
        allowed = typing.get_args(tp)
        return (True, raw) if raw in allowed else bad("one of " + ", ".join(repr(a) for a in allowed))
    if origin is list:
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            return bad("a list of strings")
        return True, [str(item) for item in raw]
    if tp is Secret:
        match = _ENV_REF.match(raw) if isinstance(raw, str) else None
        if not match:
            return bad("a reference to an environment variable like ${SLACK_BOT_TOKEN} (never the secret itself)")
        return True, Secret(match.group(1))
    if tp is bool:
        return (True, raw) if isinstance(raw, bool) else bad("true or false")
    if tp is int:
        return (True, raw) if isinstance(raw, int) and not isinstance(raw, bool) else bad("an integer")
    if tp is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return True, float(raw)
        return bad("a number")
    if tp is str:
        return (True, raw) if isinstance(raw, str) else bad("a string")
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module, not user input


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if tp is Secret:
        return "a reference to an environment variable like ${SLACK_BOT_TOKEN} (never the secret itself)"
    return {float: "a number", int: "an integer", str: "a string", bool: "true or false"}.get(tp, str(tp))
