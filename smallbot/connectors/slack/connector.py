"""The thin shell around `parse`/`render`: deduplicates events, answers in the background, posts
through Slack's Web API, runs the human handoff. What must outlive the process (event ids taken, threads
handed to a person) lives in `state` (the bot's store when it has one; see `.state`).

Slack wants an HTTP 200 within 3 seconds or it retries the event (https://api.slack.com/apis/events-api
#retries), so every entry point here only queues work and returns; the reply is posted by a background
task. Only this shell catches errors, once per incoming event, and logs them with ids, never the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections import OrderedDict
from typing import Any, AsyncIterator, Awaitable, Mapping

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from smallbot.errors import ConfigError, StoreError
from smallbot.plugins import BotService
from smallbot.types import Message, Reply, ReplyKind

from .config import SlackConfig
from .parse import (
    FEEDBACK,
    RESOLVE,
    SUGGEST,
    Action,
    CHANNEL,
    conversation_id,
    parse,
    parse_action,
    parse_command,
    split_conversation_id,
)
from .render import escape, fallback_text, render, render_handoff, render_resolved
from .state import EventDeduplicator, Handoff, SlackState, slack_state

__all__ = ["EventDeduplicator", "Handoff", "SlackConnector", "make_client"]

log = logging.getLogger(__name__)


def make_client(config: SlackConfig) -> AsyncWebClient:
    """The Web API client: bot token from the environment, 429 answers retried after ``Retry-After``.

    Only rate-limit answers are retried: Slack did not act on a 429, so retrying cannot post twice,
    whereas a retried 5xx or dropped connection might.
    """
    if config.bot_token is None:
        raise ConfigError(
            "bot.yml: slack.bot_token is missing; set it to ${SLACK_BOT_TOKEN} and export the "
            "bot token (xoxb-...) from your Slack app's OAuth & Permissions page"
        )
    return AsyncWebClient(
        token=config.bot_token.get(),
        base_url=config.api_base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )


class SlackConnector:
    """Answers Slack events, slash commands and button clicks with a `Bot`.

    >>> connector = SlackConnector(bot, config, make_client(config))
    >>> await connector.accept_event(payload)   # from /slack/events or Socket Mode; returns at once
    'queued'
    >>> await connector.idle()            # tests: wait for the background replies
    """

    def __init__(self, bot: BotService, config: SlackConfig, client: AsyncWebClient, state: SlackState | None = None):
        self.bot = bot
        self.config = config
        self.client = client
        self.bot_user_id: str | None = None
        self.state = state if state is not None else slack_state(bot)
        # threads answered in, newest last: a cache in front of state.knows_thread
        self.threads: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._own_session = False
        self._posted: OrderedDict[str, Reply] = OrderedDict()  # replies of events not yet fully handled

    # -- the Connector protocol's pure halves --------------------------------------------------------

    def parse(self, raw: Mapping[str, Any]) -> Message | None:
        """An Events API payload -> Message (see `smallbot.connectors.slack.parse.parse`)."""
        return parse(raw, self.bot_user_id)

    def render(self, reply: Reply, ref: str = "") -> list[dict[str, Any]]:
        """A Reply -> Block Kit blocks (see `smallbot.connectors.slack.render.render`)."""
        return render(reply, ref=ref)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open one HTTP session for all Web API calls (the SDK otherwise opens one per call), learn our own
        user id (to ignore our own messages) and check the token; a failed check only warns."""
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
            self._own_session = True
        try:
            auth = await self.client.auth_test()
            self.bot_user_id = auth.get("user_id")
        except Exception as exc:  # Slack down or a bad token must not stop the web app serving others
            log.warning("slack auth.test failed (%s): check SLACK_BOT_TOKEN", type(exc).__name__)

    async def idle(self) -> None:
        """Wait until every queued reply has been posted (or has failed)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._own_session and self.client.session is not None:
            await self.client.session.close()
            self.client.session = None
            self._own_session = False

    # -- entry points: each returns at once ---------------------------------------------------------

    async def accept_event(self, payload: Mapping[str, Any], retry_num: int | None = None) -> str:
        """Queue an Events API payload: 'queued', 'duplicate' (already in hand or answered) or 'ignored'.

        Returns once the event id is claimed (one store commit with a store), before any answering.
        """
        message = self.parse(payload)
        if message is None:
            return "ignored"
        if message.metadata.get("thread_reply") and not await self._in_thread(message.conversation_id):
            return "ignored"  # people talking in a thread the bot was never asked into
        event_id = str(payload.get("event_id") or message.conversation_id + ":" + message.metadata["ts"])
        if not await self.state.begin(event_id):
            log.info("slack event %s dropped: duplicate (retry %s)", event_id, retry_num)
            return "duplicate"
        self._spawn(self._answer_event(event_id, message))
        return "queued"

    def accept_command(self, form: Mapping[str, str]) -> dict[str, Any] | None:
        """Queue a slash command; returns the immediate response body, if any."""
        command = parse_command(form)
        if not command.text:
            usage = f"Ask me a question: `{command.command or '/ask'} how do I ...?`"
            return {"response_type": "ephemeral", "text": usage}
        self._spawn(
            self._guarded(
                self._answer_command(command.text, command.user, command.channel, command.team),
                f"command in {command.channel}",
            )
        )
        return None

    def accept_action(self, payload: Mapping[str, Any]) -> None:
        """Queue a click on one of our buttons; other interactions are ignored."""
        action = parse_action(payload)
        if action is not None:
            self._spawn(self._guarded(self._act(action), f"{action.kind} in {action.conversation_id}"))

    async def _in_thread(self, cid: str) -> bool:
        return cid in self.threads or await self.state.knows_thread(cid)

    # -- answering ---------------------------------------------------------------------------------

    async def answer(self, message: Message, event_id: str = "") -> Reply | None:
        """Answer one message in its thread; None when a person has the thread (handoff).

        When the reply of event `event_id` was posted but a later step failed (the handoff notice), a
        retry of that event redoes only the later step: the thread never sees the reply twice.
        """
        cid = message.conversation_id
        if not message.metadata.get("message_ref"):  # the id its feedback buttons name the logged turn by
            message = dataclasses.replace(message, metadata={**message.metadata, "message_ref": uuid.uuid4().hex})
        async with self._conversation(cid):
            reply = self._posted.get(event_id) if event_id else None
            if reply is None:
                if await self.state.paused(cid) is not None:
                    log.info("slack conversation %s is with a person; the bot stays quiet", cid)
                    return None
                try:
                    reply = await self.bot.ahandle(message)
                except Exception:
                    log.exception("bot failed on slack conversation %s", cid)
                    reply = Reply(ReplyKind.FALLBACK, self.bot.config.fallback, cid, reason="error")
                _, channel, thread_ts = split_conversation_id(cid)
                await self.post(channel, thread_ts, reply, ref=message.metadata["message_ref"])
                self.threads[cid] = None
                self.threads.move_to_end(cid)
                while len(self.threads) > 10_000:
                    self.threads.popitem(last=False)
                if event_id:
                    self._posted[event_id] = reply
                    while len(self._posted) > 1000:
                        self._posted.popitem(last=False)
            if reply.kind is ReplyKind.HANDOFF:
                await self._hand_off(message)
            return reply

    async def post(self, channel: str, thread_ts: str, reply: Reply, ref: str = "") -> str:
        """Post a reply in a thread; returns the new message's ts. `ref` is the logged turn's reference,
        carried by the feedback buttons so a click is stored against this reply."""
        # no link previews: an answer's links would otherwise fill the thread with unfurls
        response = await self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=fallback_text(reply),
            blocks=self.render(reply, ref=ref),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response.get("ts", ""))

    async def _answer_event(self, event_id: str, message: Message) -> None:
        try:
            await self.answer(message, event_id)
        except Exception as exc:
            log.error(
                "slack event %s failed (%s: %s); Slack's retry will be taken",
                event_id,
                type(exc).__name__,
                _slack_error(exc),
            )
            await self._finish(event_id, ok=False)
        else:
            await self._finish(event_id, ok=True)
            self._posted.pop(event_id, None)

    async def _finish(self, event_id: str, ok: bool) -> None:
        try:
            await self.state.finish(event_id, ok)
        except Exception as exc:  # the claim's lease runs out instead, and a later retry is taken
            log.error(
                "slack event %s: could not record it as %s (%s)",
                event_id,
                "done" if ok else "failed",
                type(exc).__name__,
            )

    async def _answer_command(self, text: str, user: str, channel: str, team: str) -> None:
        # the question becomes the parent of a thread, so the conversation goes on there
        posted = await self.client.chat_postMessage(channel=channel, text=f"<@{user}> asked: {escape(text)}")
        ts = str(posted["ts"])
        await self.answer(
            Message(
                conversation_id(team, channel, ts),
                text,
                user=user,
                channel=CHANNEL,
                metadata={"team": team, "channel": channel, "thread_ts": ts, "ts": ts, "command": True},
            )
        )

    async def _act(self, action: Action) -> None:
        team, channel, thread_ts = split_conversation_id(action.conversation_id)
        if action.kind == SUGGEST:
            # the suggestion's text goes through the bot as a follow-up: it picks the offered entry,
            # or, if the offer is stale, matches the FAQ question itself
            await self.answer(
                Message(
                    action.conversation_id,
                    action.value,
                    user=action.user,
                    channel=CHANNEL,
                    metadata={
                        "team": team,
                        "channel": channel,
                        "thread_ts": thread_ts,
                        "ts": action.message_ts,
                        "clicked": action.entry_id,
                    },
                )
            )
        elif action.kind == FEEDBACK:
            log.info(
                "slack feedback %s on entry %s in %s", action.value, action.entry_id or "-", action.conversation_id
            )
            await self._store_feedback(action)
            await self.client.chat_postEphemeral(
                channel=channel, user=action.user, thread_ts=thread_ts, text="Thanks for the feedback!"
            )
        elif action.kind == RESOLVE:
            await self.resolve(action.conversation_id, action.user, action.message_channel, action.message_ts)

    async def _store_feedback(self, action: Action) -> None:
        """Keep a 👍/👎 in the bot's store, like the web widget's; a click on a reply the store does not
        hold (erased, or posted before feedback carried its reference) is logged and still thanked."""
        store = getattr(self.bot, "store", None)
        if store is None or action.value not in ("up", "down"):
            return
        try:
            await store.alog_feedback(action.conversation_id, action.ref or None, 1 if action.value == "up" else -1)
        except StoreError as exc:
            log.warning("slack feedback in %s not stored: %s", action.conversation_id, exc)

    # -- human handoff -----------------------------------------------------------------------------

    async def _hand_off(self, message: Message) -> None:
        cid = message.conversation_id
        support = self.config.support_channel
        if not support:
            log.warning("slack handoff in %s but slack.support_channel is not set; nobody was told", cid)
            return
        _, channel, thread_ts = split_conversation_id(cid)
        link = await self.client.chat_getPermalink(channel=channel, message_ts=thread_ts)
        permalink = str(link.get("permalink", ""))
        notice = await self.client.chat_postMessage(
            channel=support,
            text=f"<@{message.user}> asked for a person: {permalink}",
            blocks=render_handoff(message.user, message.text, permalink, cid),
            unfurl_links=False,
        )
        await self.state.pause(
            cid,
            Handoff(
                message.user, message.text, permalink, str(notice.get("channel", support)), str(notice.get("ts", ""))
            ),
        )
        log.info("slack conversation %s handed to a person", cid)

    async def resolve(self, cid: str, resolver: str, notice_channel: str = "", notice_ts: str = "") -> None:
        """A person marked the thread resolved: the bot answers there again."""
        async with self._conversation(cid):
            handoff = await self.state.resume(cid)
        if handoff is None:
            log.info("slack conversation %s was already resolved", cid)  # a second click
            return
        await self.client.chat_update(
            channel=notice_channel or handoff.notice_channel,
            ts=notice_ts or handoff.notice_ts,
            text="Resolved",
            blocks=render_resolved(handoff.user, handoff.question, handoff.permalink, resolver),
        )
        _, channel, thread_ts = split_conversation_id(cid)
        await self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=f"<@{resolver}> marked this resolved. I'm back: ask me anything here.",
        )

    # -- plumbing ----------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except Exception as exc:
            log.error("slack %s failed (%s: %s)", what, type(exc).__name__, _slack_error(exc))

    @contextlib.asynccontextmanager
    async def _conversation(self, cid: str) -> AsyncIterator[None]:
        """One reply at a time per thread, so answers arrive in the order the questions did."""
        lock, users = self._locks.get(cid) or (asyncio.Lock(), 0)
        self._locks[cid] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[cid]
            if users <= 1:
                del self._locks[cid]
            else:
                self._locks[cid] = (lock, users - 1)


def _slack_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("error")) if response is not None and hasattr(response, "get") else "-"
