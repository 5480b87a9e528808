"""Small talk as the bot runs it: one generation streamed through the fact check, on a thread of its own.

The generator gets one thread per bot, so generations queue behind each other while FAQ answers, which
never touch it, do not wait. Chunks cross from that thread to the caller through a queue; the caller may
leave early (a closed WebSocket), which sets `cancelled` and stops the generation at its next token.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, Sequence, TypeVar

from smallbot.generation.checked_stream import CheckVerdict, checked_stream

if TYPE_CHECKING:
    from smallbot.generation.factcheck import Support
    from smallbot.generation.generator import LocalGenerator, Turn

T = TypeVar("T")


@dataclass(frozen=True)
class Generated:
    """How one generation ended: `text` to send, or None when the bot must send its fallback instead."""

    text: str | None
    reason: str
    generate_ms: float
    first_token_ms: float | None = None


def generate_checked(
    generator: LocalGenerator,
    text: str,
    history: Sequence[Turn],
    support: Support,
    cancelled: Callable[[], bool],
) -> Iterator[str | Generated]:
    """Chunks of the generated reply as the fact check lets them out, then how it ended."""
    from smallbot.generation.generator import GenerationStats

    started = time.perf_counter()
    verdict: CheckVerdict | None = None
    for item in checked_stream(generator.stream(text, list(history), cancelled=cancelled), support):
        if isinstance(item, CheckVerdict):
            verdict = item
        else:
            yield item
    assert verdict is not None
    stats = verdict.extra if isinstance(verdict.extra, GenerationStats) else None
    elapsed = (time.perf_counter() - started) * 1000.0
    first = stats.first_token_ms if stats is not None else None
    stopped = stats.stopped if stats else "factcheck"
    if not verdict.passed:
        claims = ", ".join(f"{c.kind} '{c.text}'" for c in verdict.unsupported)
        yield Generated(None, f"generated reply replaced: not in the knowledge: {claims}", elapsed, first)
    elif not verdict.text.strip():
        yield Generated(None, f"generator gave no text ({stopped})", elapsed, first)
    else:
        yield Generated(verdict.text, f"stopped: {stopped}", elapsed, first)


class GenerationThread:
    """The one thread a bot's generations run on, and the two ways to consume what they produce."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def _submit(self, work: Callable[[], None]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smallbot-generator")
        self._pool.submit(work)

    def _start(
        self,
        produce: Callable[[threading.Event], Iterator[T]],
        put: Callable[[object], object],
        listening: Callable[[], bool] = lambda: True,
    ) -> threading.Event:
        """Run `produce` on the generator thread, handing `put` each item, then _END or the exception, while
        someone is `listening`; the returned event tells `produce` to stop."""
        cancelled = threading.Event()

        def work() -> None:
            try:
                for item in produce(cancelled):
                    if not listening():  # nobody will read it
                        cancelled.set()
                        continue
                    put(item)
                put(_END)
            except BaseException as exc:  # handed to the consumer, who raises it
                if listening():
                    put(exc)

        self._submit(work)
        return cancelled

    async def astream(self, produce: Callable[[threading.Event], Iterator[T]]) -> AsyncIterator[T]:
        """Items of `produce(cancelled)`, run on the generator thread, delivered on the event loop."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        put = lambda item: loop.call_soon_threadsafe(items.put_nowait, item)
        cancelled = self._start(produce, put, listening=lambda: not loop.is_closed())
        try:
            while (item := _raised(await items.get())) is not _END:
                yield item
        finally:
            cancelled.set()  # the consumer left early: stop generating

    def stream(self, produce: Callable[[threading.Event], Iterator[T]]) -> Iterator[T]:
        """Blocking form of `astream` (the terminal)."""
        items: queue.Queue = queue.Queue()
        cancelled = self._start(produce, items.put)
        try:
            while (item := _raised(items.get())) is not _END:
                yield item
        finally:
            cancelled.set()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


_END = object()  # the producer finished


def _raised(item: Any) -> Any:
    """An item from the generator thread, or the exception it ended with, raised here."""
    if isinstance(item, BaseException):
        raise item
    return item
