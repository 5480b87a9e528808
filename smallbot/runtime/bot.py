"""`Bot`: the composition root that turns a built bot directory into replies.

The flow is fixed (docs/architecture.md): normalise + input limits, follow-ups to earlier suggestions, FAQ fast
path, one encoder pass, intent prediction, FAQ search, `decide`, render. Nothing here knows a channel.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterator, Sequence

import numpy as np

from smallbot.encoding.batcher import MicroBatcher
from smallbot.build.pipeline import is_up_to_date, train_project
from smallbot.project.config import BotConfig
from smallbot.runtime.conversation import (
    RECENT_TURNS,
    REJECTED_PREFIX,
    RESET_REASON,
    STATE_TTL_S,
    ConversationState,
    ConversationTracker,
    could_follow_up,
    fold_question,
    interpret_follow_up,
    state_from_turns,
)
from smallbot.encoding.encoder import Encoder
from smallbot.errors import ArtifactError, NotReadyError, SmallbotError
from smallbot.project.loader import BUILD_DIR, Project, load_project
from smallbot.generation.smalltalk import Generated, GenerationThread, generate_checked
from smallbot.runtime.render import ReplyRenderer
from smallbot.runtime.router import InputRejected, Policy, decide, normalise
from smallbot.encoding.serving import ServingEncoder, serving_encoder
from smallbot.store import ConnectorState, ConversationLog, open_store
from smallbot.types import Decision, Hit, IntentPrediction, Message, Reply, ReplyKind, Route, Suggestion

if TYPE_CHECKING:
    from smallbot.intents.classifier import LinearIntentClassifier
    from smallbot.knowledge.base import KnowledgeBase, UpdateResult

    from smallbot.generation.factcheck import Support

log = logging.getLogger(__name__)

MAX_BATCH = 32  # messages gathered at most into one encoder call (64 measured no better: RESULTS.md)
SUB_BATCH = 16  # messages per forward pass when the micro-batcher gathers more (see Bot._encode_gathered)

HISTORY_TURNS = RECENT_TURNS  # exchanges the generator sees per conversation; `history_tokens` trims further
RESET_WORDS = {"reset", "/reset", "start over", "restart"}
_NO_INTENT = IntentPrediction(None, 0.0, (), True, 1.0)


@dataclass
class _Pending:
    """A message that passed the cheap steps and now needs the encoder."""

    message: Message
    text: str
    started: float
    timings: dict[str, float]


class Bot:
    """Answers messages for one bot project.

    >>> bot = Bot.load("examples/helpdesk", train=True)
    >>> bot.handle(Message("c1", "I forgot my password")).kind
    <ReplyKind.ANSWER: 'answer'>
    """

    def __init__(
        self,
        config: BotConfig,
        encoder: ServingEncoder,
        knowledge,
        classifier,
        routes: dict,
        store: ConversationLog | None = None,
        root: Path | None = None,
        connector_state: ConnectorState | None = None,
    ):
        self.config = config
        self.encoder = encoder
        self.knowledge = knowledge
        self.classifier = classifier
        self.routes = routes
        self.store = store
        # a backend keeps both halves in one object (smallbot.store.Store); connectors see only this half
        if connector_state is None and isinstance(store, ConnectorState):
            connector_state = store
        self.connector_state = connector_state
        self.root = root
        # Conversation state is read back from the store's last turns (shared by every process serving the
        # bot); without a store the same turns are kept here, per process (smallbot/runtime/conversation.py).
        self.conversations = ConversationTracker()
        self._questions = _folded_questions(knowledge)
        self._batcher: MicroBatcher | None = None
        self._knowledge_lock = threading.Lock()  # held while searching and while swapping index rows
        self._reload_lock = threading.Lock()  # one reload at a time
        self._knowledge_stamp = _stamp(_knowledge_files(root)) if root is not None else ()
        self._build_stamp = _build_stamp(root) if root is not None else ""
        self._build_problem = ""  # why the last published build could not be read (logged once)
        self._renderer = ReplyRenderer(config, routes)
        thresholds = config.thresholds
        bands = knowledge.bands
        self.policy = Policy(
            faq_answer=bands.answer if thresholds.faq_answer == "auto" else float(thresholds.faq_answer),
            faq_suggest=bands.suggest if thresholds.faq_suggest == "auto" else float(thresholds.faq_suggest),
            intent=thresholds.intent,
            routes={name: Route(r["route"]) for name, r in routes.items()},
            generator=config.generator.enabled,
        )
        # The generator: built cheap here, loaded on first use (or at start, `generator.load: startup`),
        # run on one thread of its own so generations queue while FAQ answers never wait for them.
        self.generator = _make_generator(config, root) if config.generator.enabled else None
        self.generator_error: str | None = None
        self._generation_thread = GenerationThread()
        self._support: Support | None = None  # built on first use by _fact_support

    # -- loading -----------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        root: str | Path | Project,
        *,
        train: bool = False,
        report: Callable[[str], None] | None = None,
        with_store: bool = True,
    ) -> "Bot":
        """Load a built bot; with `train=True` an untrained or stale project is trained first."""
        project = root if isinstance(root, Project) else load_project(root)
        encoder = Encoder(project.config.models.encoder, project.root)
        if not is_up_to_date(project):
            if not train:
                raise ArtifactError(
                    f"{project.root} is not trained or its files changed since: run `smallbot train {root}`"
                )
            (report or log.info)(f"{project.root} is not trained (or changed since the last build): training first")
            encoder.load()
            train_project(project, report=report, encoder=encoder)
        return cls.from_build(project, encoder=encoder, with_store=with_store)

    @classmethod
    def from_build(cls, project: Project, *, encoder: ServingEncoder | None = None, with_store: bool = True) -> "Bot":
        encoder, knowledge, classifier, routes = _read_build(project, encoder)
        store = open_store(project.root, project.config.store) if with_store else None
        bot = cls(project.config, encoder, knowledge, classifier, routes, store, project.root)
        if project.config.generator.enabled and project.config.generator.load == "startup":
            bot.start_generator()
        return bot

    # -- what connectors read (smallbot.plugins.BotService) ---------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    def sample_questions(self, limit: int) -> list[str]:
        """The first `limit` FAQ questions, in file order: what a demo page offers a new user to ask."""
        return [entry.question for entry in self.knowledge.entries[:limit]]

    # -- knowledge hot reload --------------------------------------------------------------------------

    def reload_knowledge(self) -> "UpdateResult":
        """Re-read the knowledge files and update the index in place, encoding only new or changed phrasings.

        Keeps serving throughout (searches see the old or the new entries, never a broken index). The
        calibrated bands stay as trained; run `smallbot train` to recalibrate after large changes.
        A broken file raises ProjectError and leaves the running knowledge untouched.
        """
        from smallbot.knowledge.base import memoised
        from smallbot.knowledge.loaders import load_knowledge
        from smallbot.errors import ProjectError

        from smallbot.project.loader import knowledge_files

        if self.root is None:
            raise NotReadyError("this bot was not loaded from a project directory: nothing to reload")
        problems: list = []
        files = knowledge_files(self.root)
        entries = load_knowledge(files, problems, self.root)
        if problems:
            raise ProjectError(problems)
        with self._reload_lock:
            # encode new phrasings before taking the search lock, so messages are not held up by the encoder
            known = set(self.knowledge.rows.values())
            encode = memoised(self.encoder.encode)
            encode([t for e in entries for t in self.knowledge.texts_of(e) if (e.id, t) not in known])
            with self._knowledge_lock:
                result = self.knowledge.sync(entries, encode)
                self._knowledge_stamp = _stamp(files)
            self._questions = _folded_questions(self.knowledge)
        if not result.empty:
            log.info(
                "knowledge reloaded: %d added, %d changed, %d deleted, %d phrasings encoded",
                len(result.added),
                len(result.changed),
                len(result.deleted),
                result.encoded,
            )
        return result

    def knowledge_changed(self) -> bool:
        """True when a knowledge file was added, removed or modified since load or the last reload (mtime check)."""
        from smallbot.project.loader import knowledge_files

        if self.root is None:
            return False
        return _stamp(knowledge_files(self.root)) != self._knowledge_stamp

    def reload_knowledge_if_changed(self) -> "UpdateResult | None":
        """The cheap watcher connectors call periodically: reload only when the files' mtimes moved."""
        return self.reload_knowledge() if self.knowledge_changed() else None

    # -- a new build published by `smallbot train` (shared build directory) -----------------------------

    def build_published(self) -> bool:
        """True when `smallbot train` (here or on another host sharing the bot directory) published a build
        other than the one being served: the manifest, written last by a build, has other contents."""
        return self.root is not None and _build_stamp(self.root) not in ("", self._build_stamp)

    def reload_build(self) -> bool:
        """Serve the build now in the bot directory: index, bands, intent model, routes, responses, the
        serving encoder and bot.yml's answering settings, swapped in under the search lock so a message is
        answered wholly by the old build or wholly by the new one. The store and the connectors keep the
        settings they started with (store, web and slack need a restart).

        Why the shared directory and not the store: a build is hundreds of megabytes of files that every
        replica must read anyway; the store would only carry a version number pointing at them. A replica
        reads the build when the manifest changes, and keeps serving the old one if the new one cannot be
        read yet (a train still writing it): it tries again at the next tick. Returns True when swapped.
        """
        if self.root is None:
            raise NotReadyError("this bot was not loaded from a project directory: nothing to reload")
        with self._reload_lock:
            stamp = _build_stamp(self.root)
            if stamp in ("", self._build_stamp):
                return False
            try:
                project = load_project(self.root)
                # the generator is not part of a build: the fresh Bot only borrows its parts, loading no model
                encoder, knowledge, classifier, routes = _read_build(project, None)
                fresh = Bot(project.config, encoder, knowledge, classifier, routes, None, self.root)
            except (SmallbotError, OSError, ValueError) as exc:  # half-written by a train still running
                if str(exc) != self._build_problem:  # once per distinct problem, not every tick
                    log.info("a new build is not readable yet (%s); serving the previous one", exc)
                    self._build_problem = str(exc)
                return False
            if _build_stamp(self.root) != stamp:  # another build landed while reading this one: next tick
                return False
            threads = getattr(self.encoder, "threads", 0)
            if threads:  # the share of the cores `serve` gave this process
                fresh.encoder.set_threads(threads)
            with self._knowledge_lock:
                self.config = fresh.config
                self.encoder = fresh.encoder
                self.knowledge = fresh.knowledge
                self.classifier = fresh.classifier
                self.routes = fresh.routes
                self._renderer = fresh._renderer
                self.policy = fresh.policy
                self._questions = fresh._questions
                self._support = None
                self._build_stamp = stamp
                self._build_problem = ""
        log.info("serving the build published at %s", self.root / BUILD_DIR)
        return True

    def reload_build_if_published(self) -> bool:
        """The cheap check connectors call periodically: reload only when a new build was published."""
        return self.reload_build() if self.build_published() else False

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
        self._generation_thread.close()
        if self.store is not None:
            self.store.close()

    def start_generator(self) -> bool:
        """Load the generator now (blocking). False, with `generator_error` set and logged, when the
        model is missing or broken: the bot keeps answering and out-of-scope messages get the fallback."""
        if self.generator is None or self.generator_error is not None:
            return False
        try:
            self.generator.load()
        except SmallbotError as exc:
            self.generator_error = str(exc)
            log.error("generator disabled, out-of-scope messages get the fallback text: %s", exc)
            return False
        return True

    # -- handling ----------------------------------------------------------------------------------

    def handle(self, message: Message) -> Reply:
        """Answer one message (blocking; CPU-bound): the last item of `stream`."""
        for item in self.stream(message):
            if isinstance(item, Reply):
                return item
        raise AssertionError("stream ended without a Reply")  # a bug in stream

    def _route(self, message: Message) -> Reply:
        """Everything up to the reply, except generating it: a GENERATE reply comes back with no text."""
        first = self._before_encoding(message)
        if isinstance(first, Reply):
            return first
        t0 = time.perf_counter()
        embedding = self.encoder.encode([first.text])[0]
        first.timings["encode"] = _ms(t0)
        return self._after_encoding(first, embedding)

    async def ahandle(self, message: Message) -> Reply:
        """Answer one message without blocking the event loop."""
        async for item in self.astream(message):
            if isinstance(item, Reply):
                return item
        raise AssertionError("astream ended without a Reply")  # a bug in astream

    async def _aroute(self, message: Message) -> Reply:
        """`_route` for the event loop: cheap steps inline, the encoder pass through the micro-batcher so that
        concurrent messages share one forward pass."""
        first = self._before_encoding(message)
        if isinstance(first, Reply):
            return first
        t0 = time.perf_counter()
        embedding = await self.batcher.encode(first.text)
        first.timings["encode"] = _ms(t0)
        return self._after_encoding(first, embedding)

    @property
    def batcher(self) -> MicroBatcher:
        if self._batcher is None:
            self._batcher = MicroBatcher(self._encode_gathered, max_batch=MAX_BATCH)
        return self._batcher

    def _encode_gathered(self, texts: Sequence[str]) -> np.ndarray:
        # A gathered batch mixes short and long messages; one forward pass pads all of them to the longest.
        # Sorted by length and cut into passes of SUB_BATCH, it pads little: gathered batches of 32 CLINC150
        # messages encoded at 0.77x the floor's sentences per CPU-second in one pass, 0.88x in passes of 16
        # and 0.83x in passes of 8 (1 torch thread; 0.78x / 0.84x / 0.76x with 2): benchmarks/batch_shapes.py.
        return self.encoder.encode(list(texts), batch_size=SUB_BATCH)

    async def astream(self, message: Message) -> AsyncIterator[str | Reply]:
        """Stream a reply: text chunks (str) as they are produced, then the final Reply.

        Replies that are not generated arrive as one chunk; connectors use this one path for all kinds.
        A generated reply arrives token by token; if the fact check then rejects it, the final Reply is the
        fallback and its text differs from the chunks: connectors show the Reply's text instead.
        """
        reply = await self._aroute(message)
        if reply.kind is not ReplyKind.GENERATE:
            reply = await self._afinish(message, reply)
            yield reply.text
            yield reply
            return
        async for item in self._generation_thread.astream(lambda cancelled: self._generate(message, reply, cancelled)):
            yield item

    def stream_generated(self, message: Message, placeholder: Reply) -> Iterator[str | Reply]:
        """Blocking form of the generated half of `astream` (the terminal uses it through `stream`)."""
        yield from self._generation_thread.stream(lambda cancelled: self._generate(message, placeholder, cancelled))

    def stream(self, message: Message) -> Iterator[str | Reply]:
        """Blocking `astream`: chunks, then the final Reply."""
        reply = self._route(message)
        if reply.kind is ReplyKind.GENERATE:
            yield from self.stream_generated(message, reply)
            return
        reply = self._finish(message, reply)
        yield reply.text
        yield reply

    def _generate(self, message: Message, placeholder: Reply, cancelled: threading.Event) -> Iterator[str | Reply]:
        """Run on the generator thread: load on first use, stream through the fact check, finish the Reply."""
        from smallbot.generation.generator import Turn

        timings = dict(placeholder.timings)
        if self.generator is None or not self.start_generator():
            reason = f"generator unavailable: {self.generator_error or 'disabled'}"
            fallback = dataclasses.replace(
                placeholder, kind=ReplyKind.FALLBACK, text=self.config.fallback, reason=reason, timings=timings
            )
            yield self._finish(message, fallback)
            return
        state = self.conversation_state(message.conversation_id)
        history = [Turn(role, text) for role, text in state.history]  # type: ignore[arg-type]
        text = normalise(message.text, self.config.limits.max_message_chars)
        for item in generate_checked(self.generator, text, history, self._fact_support(), cancelled.is_set):
            if not isinstance(item, Generated):
                yield item
                continue
            timings["generate"] = item.generate_ms
            if item.first_token_ms is not None:
                timings["first_token"] = item.first_token_ms
            if item.text is None:
                kind, reply_text, reason = ReplyKind.FALLBACK, self.config.fallback, item.reason
            else:
                kind, reply_text, reason = ReplyKind.GENERATE, item.text, f"{placeholder.reason}; {item.reason}"
            reply = dataclasses.replace(placeholder, kind=kind, text=reply_text, reason=reason, timings=timings)
            yield self._finish(message, reply)

    def _fact_support(self):
        """What the fact check accepts as fact: every FAQ answer, question and link (built once)."""
        if self._support is None:
            from smallbot.generation.factcheck import build_support

            texts = [part for e in self.knowledge.entries for part in (e.question, e.answer, *e.links)]
            self._support = build_support(texts)
        return self._support

    def reset(self, conversation_id: str) -> None:
        """Start the conversation over: its pending suggestions and the generator's history are forgotten.

        With a store the state lives in the log, so the reset is logged as a turn (as if the user had typed
        "reset") and every process serving the bot sees it; a conversation with no turns is left alone.
        """
        self.conversations.reset(conversation_id)
        if self.store is not None and self.store.turns(conversation_id, last=1):
            self.store.log_turn(
                Message(conversation_id, "/reset"), Reply(ReplyKind.RESPOND, "", conversation_id, reason=RESET_REASON)
            )

    def conversation_state(self, conversation_id: str) -> ConversationState:
        """The suggestions of the conversation's last reply and its recent exchanges, read back from its last
        turns: from the store when the bot has one (so any worker process sees what another offered), else
        from this process's memory."""
        since = time.time() - STATE_TTL_S
        if self.store is not None:
            turns = self.store.turns(conversation_id, since=since, last=RECENT_TURNS)
        else:
            turns = self.conversations.recent(conversation_id)
        return state_from_turns(turns, self._suggestion, since)

    def _suggestion(self, entry_id: str) -> Suggestion | None:
        try:
            return Suggestion(entry_id, self.knowledge.entry(entry_id).question)
        except KeyError:  # deleted by a knowledge reload since it was offered
            return None

    def _before_encoding(self, message: Message) -> Reply | _Pending:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            text = normalise(message.text, self.config.limits.max_message_chars)
        except InputRejected as exc:
            return Reply(
                ReplyKind.FALLBACK,
                self.config.messages.unreadable.replace("{reason}", str(exc)),
                reason=f"{REJECTED_PREFIX} {exc}",
                timings={"total": _ms(started)},
            )
        timings["normalise"] = _ms(started)
        if text.casefold() in RESET_WORDS:  # the logged reset turn is where the state starts over
            self.conversations.reset(message.conversation_id)
            return Reply(
                ReplyKind.RESPOND,
                self.config.messages.start_over,
                reason=RESET_REASON,
                timings={"total": _ms(started)},
            )
        follow_up = None
        if could_follow_up(text, self._questions):  # most messages cannot be one: no state read for them
            follow_up = interpret_follow_up(text, self.conversation_state(message.conversation_id))
        if follow_up is not None:
            if follow_up.pick is not None:
                entry = self.knowledge.entry(follow_up.pick.entry_id)
                hit = Hit(entry.id, 1.0, entry.question, entry.question)
                decision = Decision(ReplyKind.ANSWER, f"picked suggestion '{entry.id}'", 1.0, None, (hit,))
                return self._render(message, decision, timings, started)
            return Reply(
                ReplyKind.RESPOND,
                self.config.messages.declined,
                reason="declined suggestions",
                timings={"total": _ms(started)},
            )
        t0 = time.perf_counter()
        with self._knowledge_lock:
            fast = self.knowledge.fast_path(text, self.config.thresholds.fast_path)
        timings["fast_path"] = _ms(t0)
        if fast is not None:
            decision = Decision(
                ReplyKind.ANSWER, f"fast path: near-exact match {fast.lexical_score:.2f}", fast.score, None, (fast,)
            )
            return self._render(message, decision, timings, started)
        return _Pending(message, text, started, timings)

    def _after_encoding(self, pending: _Pending, embedding: np.ndarray) -> Reply:
        timings = pending.timings
        t0 = time.perf_counter()
        prediction = self.classifier.predict(embedding[None, :])[0] if self.classifier else _NO_INTENT
        timings["intent"] = _ms(t0)
        t0 = time.perf_counter()
        with self._knowledge_lock:  # a hot reload swaps rows in place; never search half of one
            hits = self.knowledge.search(pending.text, embedding, k=5)
            offtopic = bool(hits) and self.knowledge.looks_offtopic(embedding, hits[0])
        timings["retrieve"] = _ms(t0)
        t0 = time.perf_counter()
        decision = decide(prediction, hits, self.policy, offtopic)
        timings["decide"] = _ms(t0)
        return self._render(pending.message, decision, timings, pending.started)

    def _render(self, message: Message, decision: Decision, timings: dict[str, float], started: float) -> Reply:
        t0 = time.perf_counter()
        rendered = self._renderer.render(decision, self.knowledge, self.config, message.user)
        timings["render"] = _ms(t0)
        timings["total"] = _ms(started)
        return Reply(
            rendered.kind,
            rendered.text,
            message.conversation_id,
            rendered.sources,
            rendered.suggestions,
            decision.confidence,
            decision.intent,
            decision.reason,
            timings,
            rendered.suggestions_label,
        )

    async def _afinish(self, message: Message, reply: Reply) -> Reply:
        """`_finish` for the event loop: the turn is logged through the store's async API, which waits for
        the commit without blocking the loop."""
        reply = self._finish(message, reply, log_turn=False)
        if self.store is not None:
            try:
                await self.store.alog_turn(message, reply)
            except Exception:  # the reply still goes out; the failure is logged with ids only
                log.exception("could not log turn of conversation %s", message.conversation_id)
        return reply

    def _finish(self, message: Message, reply: Reply, log_turn: bool = True) -> Reply:
        if not reply.conversation_id:
            reply = dataclasses.replace(reply, conversation_id=message.conversation_id)
        if self.store is None:  # without a store, this process remembers the turn for the follow-ups
            self.conversations.record(message, reply)
        if self.store is not None and log_turn:
            try:
                self.store.log_turn(message, reply)
            except Exception:  # the reply still goes out; the failure is logged with ids only
                log.exception("could not log turn of conversation %s", message.conversation_id)
        return reply


def _read_build(
    project: Project, encoder: ServingEncoder | None
) -> tuple[ServingEncoder, KnowledgeBase, LinearIntentClassifier | None, dict]:
    """(serving encoder, knowledge base, intent classifier or None, routes) of a built project."""
    from smallbot.intents.classifier import LinearIntentClassifier
    from smallbot.knowledge.base import KnowledgeBase

    build = project.root / BUILD_DIR
    routes_file = build / "intents" / "routes.json"
    if not routes_file.exists():
        raise ArtifactError(f"{build} has no intents build: run `smallbot train {project.root}`")
    routes = json.loads(routes_file.read_text())
    classifier_dir = build / "intents" / "classifier"
    classifier = LinearIntentClassifier.load(classifier_dir) if classifier_dir.exists() else None
    knowledge = KnowledgeBase.load(build / "knowledge")
    _serve_faiss_single_threaded()
    return serving_encoder(project, encoder), knowledge, classifier, routes


def _folded_questions(knowledge) -> frozenset[str]:
    """Every FAQ question as a typed follow-up must match it (see `could_follow_up`)."""
    return frozenset(fold_question(entry.question) for entry in knowledge.entries)


def _serve_faiss_single_threaded() -> None:
    """A served bot searches one query at a time: FAISS's OpenMP threads only add a barrier per search, and
    on a 2-core machine whose other core runs the encoder's (or a neighbour's) threads, that barrier waits for
    a parked thread. Measured on a busy machine (benchmarks/faiss_threads.py): 0.25-16 ms per one-query search
    of a 400-row flat index with 2 OpenMP threads, under 0.07 ms with 1; 24-28% of a loaded web server's CPU
    samples went there (benchmarks/RESULTS.md, "Web throughput")."""
    import faiss

    faiss.omp_set_num_threads(1)


def _knowledge_files(root: Path) -> list[Path]:
    from smallbot.project.loader import knowledge_files

    return knowledge_files(root)


def _stamp(files: list[Path]) -> tuple:
    """What the watcher compares: each knowledge file's path, mtime and size."""
    out = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def _build_stamp(root: Path) -> str:
    """What identifies a published build: a digest of its manifest ("" while there is none). A digest, not
    an mtime, because shared volumes (NFS, container mounts) may keep coarse or skewed mtimes."""
    import hashlib

    from smallbot.build.pipeline import MANIFEST

    try:
        return hashlib.sha256((root / BUILD_DIR / MANIFEST).read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def _make_generator(config: BotConfig, root: Path | None):
    from smallbot.generation.generator import LocalGenerator

    g = config.generator
    return LocalGenerator(
        g.model,
        base_dir=root,
        persona=g.persona,
        max_new_tokens=g.max_new_tokens,
        max_seconds=g.max_seconds,
        history_tokens=g.history_tokens,
        threads=g.threads,
    )


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
