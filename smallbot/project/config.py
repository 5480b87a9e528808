"""`bot.yml`: typed settings with defaults, unknown keys refused with the file, line and the fix.

The core's sections (models, thresholds, generator, store, ...) are plain dataclasses here, so that one
validator covers every key of them. A connector's section (`web:`, `slack:`, a third party's `teams:`) belongs
to the connector registered under that name (smallbot.registry): it validates the section itself through
`Section`, with the same file-and-line problems, and BotConfig keeps the result in `connectors`. A top-level
key that neither the core nor any registered connector claims is an error with the closest name.
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
from typing import Any, Literal, Mapping, TypeVar

from smallbot.errors import ConfigError, Problem, ProjectError
from smallbot.project.yamlio import line_of, load_yaml

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_NOT_A_KEY = "smallbot.not_a_key"  # field metadata: filled by the loader, never written in bot.yml
T = TypeVar("T")


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
class MessagesConfig:
    """What the bot itself says (besides `fallback` and `handoff`), so a bot in another language says it in its
    own. `{question}` and `{reason}` are replaced where they appear; any other text is kept as written."""

    did_you_mean: str = 'Did you mean: "{question}"?'  # one suggestion
    did_you_mean_many: str = "Did you mean one of these?"  # followed by the numbered questions
    start_over: str = "OK, let's start over. What can I help you with?"  # the reply to "reset"
    declined: str = "OK. Could you tell me a bit more, in other words?"  # the reply to "no" after suggestions
    unreadable: str = "Sorry, I can't read that message: {reason}."  # an empty or over-long message
    related: str = "Related:"  # above the other questions offered under an answer


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
class StoreConfig:
    backend: str = "sqlite"  # a registered store backend (smallbot.registry): `sqlite` or `postgres` built in
    path: str = ".smallbot/conversations.sqlite3"  # sqlite: the file, relative to the bot directory
    retention_days: int = 0  # 0 keeps everything
    # postgres: the database URL, always a reference (store.url: ${DATABASE_URL}); it holds the password
    url: Secret | None = None


@dataclass(frozen=True)
class KnowledgeConfig:
    """FAQ retriever training: contrastive fine-tuning of the shared encoder on the bot's phrasings."""

    finetune_steps: int = 0  # 0 keeps the packaged encoder; ~30 steps fine-tune it at train time
    finetune_layers: int = 2  # top encoder layers that learn (0 = all)
    finetune_batch: int = 16  # entries per contrastive step
    # how a fine-tuned bot's bands are calibrated: cross_validation = the tuning repeated on each half of the
    # phrasings and negatives, the other half searched as unseen (three tuning runs; smallbot.knowledge.crossval);
    # held_out = on one alternate per entry kept out of the one tuning run (one run; too few held-out messages
    # for StackFAQ's split seed 1 to answer anything, benchmarks/HISTORY.md)
    calibration: Literal["held_out", "cross_validation"] = "cross_validation"
    # each entry's answer text is indexed as one more row of it: customers ask in the answer's words
    # (chosen on validation: benchmarks/knowledge.py, plain FAQ list and example-bot paraphrases)
    index_answers: bool = True


@dataclass(frozen=True)
class IntentsConfig:
    """Intent classifier training: optional contrastive tuning of the shared encoder on intent examples."""

    # 0 keeps the body as the knowledge step left it; N > 0 first tunes THE encoder for N steps with
    # same-intent examples as positives (other intents and out_of_scope examples as negatives)
    finetune_steps: int = 0
    finetune_layers: int = 2  # top encoder layers that learn (0 = all)
    finetune_batch: int = 32  # intents per contrastive step (examples per step with cross_entropy)
    # contrastive: pairs of same-intent examples (smallbot.encoding.contrastive); cross_entropy: end to end with a
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
    messages: MessagesConfig = field(default_factory=MessagesConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    intents: IntentsConfig = field(default_factory=IntentsConfig)
    # connector name -> its validated section, for the sections written in bot.yml (not a bot.yml key itself)
    connectors: Mapping[str, Any] = field(default_factory=dict, metadata={_NOT_A_KEY: True})

    def connector(self, name: str) -> Any:
        """The settings of connector `name`: its section as validated, or its defaults when bot.yml has none.

        >>> BotConfig().connector("web").port
        8080
        """
        if name in self.connectors:
            return self.connectors[name]
        from smallbot.registry import load_connector

        problems: list[Problem] = []
        value = load_connector(name).read_config(Section(name, None, "bot.yml", None, problems))
        if problems:
            raise ProjectError(problems)
        return value


@dataclass(frozen=True)
class Section:
    """One top-level section of `bot.yml`, handed to the connector that owns it to validate.

    `data` is the YAML as written (a mapping that knows the line of each key), or None when the section is
    absent or empty. Problems go to `problems` with their file and line, like the core's own, so the author
    sees every problem of the project at once.

    >>> config = section.read(TeamsConfig)      # a frozen dataclass: unknown keys and wrong types reported
    >>> if not config.app_id:
    ...     section.problem("app_id is required: set it to your bot's Microsoft App ID", key="app_id")
    """

    name: str
    data: Any
    file: str
    line: int | None
    problems: list[Problem]

    def read(self, cls: type[T]) -> T:
        """The section as `cls` (a dataclass of str, int, float, bool, Literal, list[str], Secret, nested
        dataclasses); whatever is wrong is recorded and the defaults fill those gaps."""
        ok, value = _convert(cls, self.data, self.file, self.problems, self.name, self.line)
        return value if ok else cls()

    def problem(self, message: str, key: str | None = None) -> None:
        """Record a problem at `key`'s line (the section's own line without a key); the message should name
        the key and the fix, e.g. "'teams.app_id' is required: ..."."""
        line = line_of(self.data, key) if key is not None and isinstance(self.data, dict) else self.line
        self.problems.append(Problem(self.file, line, message))


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
    from smallbot import registry

    connectors: dict[str, Any] = {}
    claimable = registry.connector_names()

    def claim(key: str, raw: Any) -> bool:
        """A section no core field has: the registered connector of that name validates it."""
        if key not in claimable:
            return False
        try:
            plugin = registry.load_connector(key)
        except ConfigError as exc:
            problems.append(Problem(display, line_of(data, key), str(exc)))
            return True
        connectors[key] = plugin.read_config(Section(key, raw, display, line_of(data, key), problems))
        return True

    config = _build(BotConfig, data, display, problems, "", claim, claimable)
    _check_store_backend(config, data, display, problems)
    return dataclasses.replace(config, connectors=connectors)


def _check_store_backend(config: BotConfig, data: dict, file: str, problems: list[Problem]) -> None:
    from smallbot import registry

    known = registry.store_names()
    store = data.get("store")
    if config.store.backend == "postgres" and config.store.url is None:
        problems.append(
            Problem(
                file,
                line_of(store, "backend"),
                "store.backend 'postgres' needs 'store.url', a reference to the variable that holds the "
                "database URL: store.url: ${DATABASE_URL}",
            )
        )
    if config.store.backend in known:
        return
    close = difflib.get_close_matches(config.store.backend, known, n=1)
    fix = f"did you mean '{close[0]}'?" if close else f"installed: {', '.join(known)}"
    problems.append(
        Problem(
            file, line_of(store, "backend"), f"unknown store backend '{config.store.backend}' in 'store.backend': {fix}"
        )
    )


def _build(
    cls: type,
    data: dict,
    file: str,
    problems: list[Problem],
    prefix: str,
    claim: typing.Callable[[str, Any], bool] | None = None,
    extra_names: tuple[str, ...] = (),
) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if not f.metadata.get(_NOT_A_KEY)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            if claim is not None and claim(key, raw):
                continue
            candidates = sorted(names | set(extra_names))
            close = difflib.get_close_matches(key, candidates, n=1)
            fix = f"did you mean '{prefix}{close[0]}'?" if close else f"known keys: {', '.join(candidates)}"
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
    if (
        isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp is not Secret
    ):  # a Secret is written as ${ENV_VAR}, not a mapping
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
