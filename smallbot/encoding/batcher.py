"""Micro-batching for the encoder under concurrent load.

Requests that arrive while the encoder is busy are gathered and encoded together in one forward pass,
so a loaded server runs the encoder at its batched rate. An idle server never waits: the first request
goes straight to the encoder. Only after a batch of more than one (i.e. under load) does the batcher
linger up to `max_wait_ms` for stragglers, bounded by `max_batch`. A batch that fails is retried one
message at a time, so a message the tokenizer cannot take fails alone and never its batch mates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Callable, Sequence

import numpy as np

from smallbot.errors import SmallbotError

log = logging.getLogger(__name__)

EncodeFn = Callable[[Sequence[str]], np.ndarray]


class EncodeFailed(SmallbotError):
    """The encoder could not take this message (its batch's traceback is logged once by the batcher)."""


def _failed(exc: Exception) -> EncodeFailed:
    error = EncodeFailed(f"the encoder could not take this message ({type(exc).__name__})")
    error.__cause__ = exc
    return error


class MicroBatcher:
    """`await batcher.encode(text)` -> embedding; one worker thread runs the model.

    >>> batcher = MicroBatcher(encoder.encode)
    >>> vector = await batcher.encode("how do I pay?")
    """

    def __init__(self, encode: EncodeFn, max_batch: int = 32, max_wait_ms: float = 2.0):
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[tuple[str, asyncio.Future]] | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="smallbot-encoder")
        self._last_batch = 1
        self.batches = 0
        self.encoded = 0

    async def encode(self, text: str) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:
            # one queue per event loop: a bot outlives a server's loop (tests, restarts in-process)
            self._loop, self._queue, self._worker = loop, asyncio.Queue(), None
        future: asyncio.Future = loop.create_future()
        self._queue.put_nowait((text, future))
        # The worker exits as soon as the queue is empty (so no task is left pending when a loop closes);
        # checking after the put, with no await in between, means a running worker will still see this item.
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        assert queue is not None  # encode() sets it before it starts this worker
        while not queue.empty():
            batch = [queue.get_nowait()]
            if self._last_batch > 1 and self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                while len(batch) < self.max_batch:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), remaining))
                    except asyncio.TimeoutError:
                        break
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            live = [(text, future) for text, future in batch if not future.cancelled()]
            self._last_batch = len(batch)
            if not live:
                continue
            try:
                vectors = await loop.run_in_executor(self._executor, self._encode, [t for t, _ in live])
            except Exception as exc:
                # one traceback per broken batch; its waiters get EncodeFailed, which callers log in one line
                log.error(
                    "an encoder batch of %d message(s) failed%s",
                    len(live),
                    "; encoding them one at a time" if len(live) > 1 else "",
                    exc_info=True,
                )
                if len(live) == 1:
                    _settle(live[0][1], error=_failed(exc))
                else:  # one message's bad text must not become its batch mates' failure: each alone
                    await self._one_by_one(live)
                continue
            self.batches += 1
            self.encoded += len(live)
            for (_, future), vector in zip(live, vectors):
                _settle(future, vector)

    async def _one_by_one(self, live: list[tuple[str, asyncio.Future]]) -> None:
        """After a failed batch: encode its messages one at a time, so only the one(s) that fail alone fail."""
        loop = asyncio.get_running_loop()
        for text, future in live:
            if future.done():
                continue
            try:
                vector = (await loop.run_in_executor(self._executor, self._encode, [text]))[0]
            except Exception as exc:
                _settle(future, error=_failed(exc))
            else:
                self.batches += 1
                self.encoded += 1
                _settle(future, vector)

    def close(self) -> None:
        if self._worker is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._worker.cancel)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(future: asyncio.Future, vector: np.ndarray | None = None, error: BaseException | None = None) -> None:
    if future.done():  # the waiter went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(vector)
