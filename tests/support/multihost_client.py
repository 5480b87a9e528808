"""The client host of the multi-host test: runs inside its own network namespace and does what the test asks.

The test process stays in the machine's own namespace (where its sockets may only reach loopback), so the
traffic to the balancer and the replicas starts here, on the test's private network. It also serves the
local stand-in of Slack's Web API (`SlackAPIStandIn`) on this host's address, for the replicas to post to.

Protocol: one JSON object per line on stdin, one JSON answer per line on stdout.

    {"op": "post", "url": ..., "json": {...}}            -> {"status", "body", "replica"}
    {"op": "slack_event", "url": ..., "body": ..., "retry_num": n}   a signed Events API delivery
    {"op": "load", "url": ..., "texts": [...], "count": n, "concurrency": c, "seconds": s, "signal_after": k}
        -> {"event": "signal"} once k replies were acknowledged, then {"acked": [...], "failed": [...], "seconds"}
        (each acknowledged reply with its conversation id, kind, the replica that answered and its latency)
    {"op": "get", "url": ...}                              -> {"status", "body", "replica"} (status 0: unreachable)
    {"op": "slack_posts", "thread_ts": ..., "wait": s, "settle": s} -> {"posts": [...]} posts in that thread
    {"op": "quit"}

Every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

import aiohttp

from smallbot.connectors.slack.testing import SlackAPIStandIn, signed_headers


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def post(http: aiohttp.ClientSession, url: str, payload: Any, headers: dict[str, str] | None = None) -> dict:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with http.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}) as r:
        text = await r.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        return {"status": r.status, "body": body, "replica": r.headers.get("X-Smallbot-Replica", "")}


async def get(http: aiohttp.ClientSession, url: str) -> dict:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
            return {"status": r.status, "body": await r.text(), "replica": r.headers.get("X-Smallbot-Replica", "")}
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"status": 0, "body": type(exc).__name__, "replica": ""}


async def thread_posts(slack: SlackAPIStandIn, thread_ts: str, wait: float, settle: float) -> list[dict]:
    """chat.postMessage calls in one thread: waits up to `wait` s for the first, then `settle` s for any more."""
    posts = lambda: [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == thread_ts]  # noqa: E731
    deadline = time.monotonic() + wait
    while not posts() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(settle)
    return [{"text": str(p.get("text", "")), "channel": str(p.get("channel", ""))} for p in posts()]


async def load(http: aiohttp.ClientSession, op: dict) -> dict:
    """`count` messages, each starting its own conversation, `concurrency` at a time, for at most `seconds`."""
    texts = itertools.cycle(op["texts"])
    deadline = time.monotonic() + op["seconds"]
    todo = iter(range(op["count"]))
    acked: list[dict] = []
    failed: list[dict] = []
    signalled = op.get("signal_after") is None

    async def one() -> None:
        nonlocal signalled
        for _ in todo:
            if time.monotonic() > deadline:
                return
            text = next(texts)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    result = await post(http, op["url"], {"text": text})
            except (aiohttp.ClientError, TimeoutError) as exc:
                failed.append({"text": text, "error": type(exc).__name__})
                continue
            body = result["body"]
            if result["status"] == 200 and isinstance(body, dict) and body.get("conversation_id"):
                acked.append(
                    {
                        "text": text,
                        "conversation_id": body["conversation_id"],
                        "kind": body.get("kind"),
                        "replica": result["replica"],
                        "latency_ms": (time.perf_counter() - started) * 1000.0,
                    }
                )
                if not signalled and len(acked) >= op["signal_after"]:
                    signalled = True
                    emit({"event": "signal"})
            else:
                failed.append({"text": text, "status": result["status"], "replica": result["replica"]})

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(op["concurrency"])))
    return {"acked": acked, "failed": failed, "seconds": time.perf_counter() - started}


async def main(spec: dict) -> None:
    slack = SlackAPIStandIn(token=spec["bot_token"], host=spec["slack_host"], port=spec["slack_port"])
    await slack.start()
    timeout = aiohttp.ClientTimeout(total=60)
    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            emit({"ready": slack.base_url})
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    return
                op = json.loads(line)
                if op["op"] == "quit":
                    return
                if op["op"] == "post":
                    emit(await post(http, op["url"], op["json"]))
                elif op["op"] == "slack_event":
                    body = op["body"].encode()
                    headers = signed_headers(body, spec["signing_secret"], retry_num=op.get("retry_num"))
                    emit(await post(http, op["url"], body, headers))
                elif op["op"] == "load":
                    emit(await load(http, op))
                elif op["op"] == "get":
                    emit(await get(http, op["url"]))
                elif op["op"] == "slack_posts":
                    emit({"posts": await thread_posts(slack, op["thread_ts"], op["wait"], op["settle"])})
                else:
                    emit({"error": f"unknown op {op['op']!r}"})
    finally:
        await slack.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
