"""Slack connector under load: how fast signed events are acknowledged (Slack retries after 3 s) and how
long until the reply is posted, against the bot's own answer time measured in the same run.

The real aiohttp routes run on loopback with a trained bot (default: examples/helpdesk, trained in a
temporary copy); replies go to the local Web API stand-in. Messages are CLINC150 test utterances.

    python benchmarks/slack_ack.py [--quick] [--data benchmarks/data]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def load_messages(data: Path, count: int) -> list[str]:
    path = data / "clinc150" / "data_full.json"
    if not path.exists():
        sys.exit(f"error: {path} not found; pass --data pointing at the benchmark data folder (benchmarks/data holds CLINC150 and StackFAQ)")
    rows = json.loads(path.read_text())["test"]
    step = max(1, len(rows) // count)
    return [text for text, _ in rows[::step]][:count]


async def run(args: argparse.Namespace) -> dict:
    from aiohttp import ClientSession, web

    from smallbot.runtime.bot import Bot
    from smallbot.project.config import Secret
    from smallbot.connectors.slack import SLACK, SlackConfig, setup
    from smallbot.connectors.slack.testing import SlackAPIStandIn, event_body, signed_headers
    from smallbot.types import Message

    secret, token = "bench-signing-secret", "xoxb-bench"
    os.environ.update({"SMALLBOT_BENCH_TOKEN": token, "SMALLBOT_BENCH_SECRET": secret})
    messages = load_messages(args.data, args.events)
    workdir = Path(tempfile.mkdtemp(prefix="slack-bench-"))
    root = workdir / "bot"
    shutil.copytree(args.bot, root, ignore=shutil.ignore_patterns(".smallbot"))
    t0 = time.perf_counter()
    bot = Bot.load(root, train=True)
    train_s = time.perf_counter() - t0
    results: dict = {"bot": str(args.bot), "events": len(messages), "train_or_load_s": round(train_s, 1),
                     "runs": []}
    try:
        # baseline, same run: the bot answering directly, one message at a time
        direct = []
        for i, text in enumerate(messages):
            started = time.perf_counter()
            await bot.ahandle(Message(f"direct-{i}", text))
            direct.append((time.perf_counter() - started) * 1000)
        results["direct_ms_p50"] = statistics.median(direct)

        async with SlackAPIStandIn(token=token) as api:
            app = web.Application()
            setup(app, bot, SlackConfig(enabled=True, bot_token=Secret("SMALLBOT_BENCH_TOKEN"),
                                        signing_secret=Secret("SMALLBOT_BENCH_SECRET"), api_base_url=api.base_url,
                                        support_channel="C0HELPERS"))
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            connector = app[SLACK]
            serial = 0
            async with ClientSession() as http:
                for scenario in ("paced", "burst"):
                    for repeat in range(args.repeats):
                        api.calls.clear()
                        sent_at: dict[str, float] = {}
                        acks: list[float] = []
                        statuses: list[int] = []

                        async def send(text: str) -> None:
                            nonlocal serial
                            serial += 1
                            ts = f"{1690000000 + serial}.000100"
                            body = event_body(f"<@U0BOT> {text}", ts=ts, event_id=f"Ev{serial}")
                            headers = {**signed_headers(body, secret), "Content-Type": "application/json"}
                            started = time.perf_counter()
                            sent_at[ts] = started
                            async with http.post(url, data=body, headers=headers) as response:
                                await response.read()
                                statuses.append(response.status)
                            acks.append((time.perf_counter() - started) * 1000)

                        wall = time.perf_counter()
                        if scenario == "paced":  # one at a time: the next event after the last reply
                            for text in messages:
                                await send(text)
                                await connector.idle()
                        else:  # all at once: acks must stay fast while the bot works through the backlog
                            await asyncio.gather(*(send(text) for text in messages))
                            await connector.idle()
                        wall = time.perf_counter() - wall
                        posts = [p for p in api.calls_to("chat.postMessage") if p.args.get("channel") != "C0HELPERS"]
                        replies = [(p.received_at - sent_at[p.args["thread_ts"]]) * 1000 for p in posts
                                   if p.args.get("thread_ts") in sent_at]
                        results["runs"].append({
                            "scenario": scenario, "repeat": repeat, "events": len(messages),
                            "acked_200": statuses.count(200), "replies": len(replies),
                            "ack_ms_p50": statistics.median(acks), "ack_ms_p95": percentile(acks, 95),
                            "ack_ms_max": max(acks), "reply_ms_p50": statistics.median(replies),
                            "reply_ms_p95": percentile(replies, 95), "events_per_s": len(messages) / wall,
                        })
            await runner.cleanup()
    finally:
        bot.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def summarise(results: dict) -> list[dict]:
    rows = []
    direct_rate = 1000.0 / results["direct_ms_p50"]
    for scenario in ("paced", "burst"):
        runs = [r for r in results["runs"] if r["scenario"] == scenario]
        med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
        rows.append({"scenario": scenario, "repeats": len(runs),
                     "acked": f"{min(r['acked_200'] for r in runs)}/{results['events']}",
                     "replies": f"{min(r['replies'] for r in runs)}/{results['events']}",
                     "ack_p50": med("ack_ms_p50"), "ack_p95": med("ack_ms_p95"),
                     "ack_max": max(r["ack_ms_max"] for r in runs),
                     "reply_p50": med("reply_ms_p50"), "reply_p95": med("reply_ms_p95"),
                     "events_per_s": med("events_per_s"),
                     "reply_p50_over_direct": med("reply_ms_p50") / results["direct_ms_p50"],
                     "rate_over_direct": med("events_per_s") / direct_rate})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--quick", action="store_true", help="40 events, one repeat")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "slack_ack.json")
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeats = 40, 1
    results = asyncio.run(run(args))
    results["summary"] = summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"bot {results['bot']} ({results['events']} CLINC150 test messages, {args.repeats} repeats, medians); "
          f"baseline, same run: bot.ahandle direct p50 {results['direct_ms_p50']:.1f} ms "
          f"= {1000 / results['direct_ms_p50']:.1f} messages/s one at a time")
    print("| scenario | acked | replied | ack p50 ms | ack p95 ms | ack max ms | reply p50 ms | reply p95 ms "
          "| events/s | reply p50 / direct p50 | events/s / direct rate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in results["summary"]:
        print(f"| {row['scenario']} | {row['acked']} | {row['replies']} | {row['ack_p50']:.1f} | "
              f"{row['ack_p95']:.1f} | {row['ack_max']:.1f} | {row['reply_p50']:.1f} | {row['reply_p95']:.1f} | "
              f"{row['events_per_s']:.1f} | {row['reply_p50_over_direct']:.2f} | {row['rate_over_direct']:.2f} |")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
