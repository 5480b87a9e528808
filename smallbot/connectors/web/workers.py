"""Serve one bot from several processes on one port, as production Python servers use cores.

`smallbot serve DIR --workers N`: the first process loads the bot (training first when needed), binds the
port with SO_REUSEPORT and starts N-1 more worker processes that bind the same port; the kernel spreads new
connections over them. Each process has its own interpreter, event loop and encoder, so HTTP, JSON and the
model work of one worker never wait for another's GIL; each encoder gets cpu_count / N threads unless
`models.threads` says otherwise. They share the SQLite store (WAL, one writer at a time, a busy wait for the
other). Conversation state is read back from that store's turns (smallbot/runtime/conversation.py), so a follow-up such
as "2" may land on any worker. /metrics adds up every worker's counters (prometheus_client's multiprocess
mode, see `.metrics`); the rate limiter is per worker.

`--workers auto` (the default) is 2 where at least 2 cores are available and the generator is off, else 1
(`auto_workers`): the measured reasons are in benchmarks/RESULTS.md, "Serving processes and memory".

Ctrl-C or SIGTERM to the first process stops them all, each finishing its in-flight replies; a worker whose
first process died exits by itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from smallbot.errors import ConfigError, ConnectorError

from .metrics import MULTIPROC_ENV, worker_exited
from .settings import WebSettings

READY = "smallbot-worker-ready"
START_TIMEOUT_S = 300.0
AUTO_MAX_WORKERS = 2  # measured on 2 cores only; each worker holds its own models (RSS adds up per worker)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_workers(generator_enabled: bool, cores: int | None = None) -> int:
    """How many processes `--workers auto` starts: one per core, at most AUTO_MAX_WORKERS, and one when the
    generator is on (every worker would load its own copy of it: 2 workers with the generator loaded measured
    more than the 1.2 GB peak-RSS budget in total) or the platform has no SO_REUSEPORT."""
    if generator_enabled or not hasattr(socket, "SO_REUSEPORT"):
        return 1
    return max(1, min(AUTO_MAX_WORKERS, cores if cores is not None else available_cores()))


def serve(
    directory: Path,
    *,
    workers: int | None = None,
    host: str | None = None,
    port: int | None = None,
    overrides: dict[str, Any] | None = None,
    threads: int | None = None,
    report: Callable[[str], None] = print,
    announce: Callable[[str], None] = print,
) -> int:
    """Serve the bot in `directory` until Ctrl-C / SIGTERM (blocking); returns the exit status.

    `report` gets progress lines (training), `announce` aiohttp's "Running on http://host:port" line;
    `threads` (encoder threads per worker) overrides `models.threads` and the cores / workers default;
    `workers=None` is `--workers auto` (`auto_workers`).

    >>> serve(Path("examples/helpdesk"), workers=2, port=8080)
    """
    from aiohttp import web

    from smallbot.runtime.bot import Bot

    from .app import create_app

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers is {workers}; use 1 or more")
    if workers is not None and workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers above 1 needs SO_REUSEPORT (Linux, macOS, BSD); use --workers 1 here")
    bot = Bot.load(directory, train=True, report=report)
    children: list[subprocess.Popen] = []
    metrics_dir: str | None = None
    try:
        if workers is None:
            workers = auto_workers(bot.config.generator.enabled)
            report(
                f"serving from {workers} worker process{'es' if workers > 1 else ''} (--workers auto: "
                f"{available_cores()} cores, generator {'on' if bot.config.generator.enabled else 'off'})"
            )
        if workers > 1 and not os.environ.get(MULTIPROC_ENV):
            # every worker (they inherit the variable) counts into files here; any scrape adds them all up
            metrics_dir = tempfile.mkdtemp(prefix="smallbot-metrics-")
            os.environ[MULTIPROC_ENV] = metrics_dir
        settings = WebSettings.from_config(bot.config, host=host, port=port, **(overrides or {}))
        share_cores(bot, workers, threads)
        sock = bind(settings.host, settings.port, reuse_port=workers > 1)
        settings = settings.replace(port=sock.getsockname()[1])
        children = [start_worker(directory, settings, workers, threads) for _ in range(workers - 1)]
        for child in children:
            wait_ready(child)
        web.run_app(create_app(bot, settings), sock=sock, print=announce, **settings.server_options())
    finally:
        stop_workers(children)
        bot.close()
        if metrics_dir is not None:
            del os.environ[MULTIPROC_ENV]
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def share_cores(bot, workers: int, threads: int | None = None) -> None:
    """With several workers each encoder gets its share of the cores (unless bot.yml sets models.threads):
    N processes each asking for every core would fight over them."""
    if threads:
        bot.encoder.set_threads(threads)
    elif workers > 1 and not bot.config.models.threads:
        bot.encoder.set_threads(max(1, (os.cpu_count() or 1) // workers))


def bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConnectorError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port") from exc
    sock.setblocking(False)
    return sock


def start_worker(directory: Path, settings: WebSettings, workers: int, threads: int | None) -> subprocess.Popen:
    spec = json.dumps(
        {
            "directory": str(directory),
            "settings": dataclasses.asdict(settings),
            "workers": workers,
            "threads": threads,
            "parent": os.getpid(),
            "log_level": logging.getLogger().getEffectiveLevel(),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "smallbot.connectors.web.workers", spec],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_ready(child: subprocess.Popen) -> None:
    """Block until the worker listens (its first stdout line), so the port is served by all once we announce."""
    line = child.stdout.readline() if child.stdout else ""
    if line.strip() != READY:
        child.kill()
        raise ConnectorError(f"a web worker failed to start (exit status {child.wait()}); its error is above")


def stop_workers(children: list[subprocess.Popen], timeout: float = 15.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        worker_exited(child.pid)


def _worker_main(spec: dict) -> int:
    """A second (third, ...) worker: same bot, same port, until SIGTERM/SIGINT or its parent's death."""
    from aiohttp import web

    from smallbot.runtime.bot import Bot

    from .app import create_app

    # log like the first process (`smallbot` sets this up for it), so every worker's lines reach the same stderr
    logging.basicConfig(level=spec.get("log_level", logging.WARNING), format="%(levelname)s %(name)s: %(message)s")
    given = spec["settings"]
    settings = WebSettings(
        **{
            **given,
            "allowed_origins": tuple(given["allowed_origins"]),
            "trusted_proxies": tuple(given["trusted_proxies"]),
        }
    )
    bot = Bot.load(Path(spec["directory"]))  # the first process trained it already

    async def run() -> None:
        share_cores(bot, spec["workers"], spec["threads"])
        sock = bind(settings.host, settings.port, reuse_port=True)
        runner = web.AppRunner(create_app(bot, settings), **settings.server_options())
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(READY, flush=True)
        while not stop.is_set() and os.getppid() == spec["parent"]:
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        await runner.cleanup()  # stops accepting, lets in-flight replies finish, closes WebSockets

    try:
        asyncio.run(run())
    finally:
        bot.close()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(json.loads(sys.argv[1])))
