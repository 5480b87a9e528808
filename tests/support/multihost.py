"""The parts of a several-hosts deployment on one machine, shared by the multi-host test and
benchmarks/scaleout.py: replica hosts running `smallbot serve`, a PostgreSQL host, an nginx balancer host with
deploy/nginx/nginx.conf as shipped, and the client host that sends the traffic (tests/support/multihost_client.py).
The hosts are network namespaces (tests/support/netns.py); every wait is bounded by a deadline."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from . import netns
from .postgres import PostgresServer, PostgresUnavailable, bin_dir, start_postgres

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"
STORE_SETTINGS = REPO / "deploy" / "settings" / "store.yml"  # what the image appends to bot.yml: PostgreSQL
CLIENT = Path(__file__).with_name("multihost_client.py")
PORT = 8080


def missing() -> str | None:
    """Why this machine cannot hold the hosts (None when it can)."""
    why = netns.available()
    if why:
        return why
    if nginx_binary() is None:
        return "nginx is not installed (apt-get install nginx)"
    try:
        bin_dir()
    except PostgresUnavailable as exc:
        return str(exc)
    return None


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


class Lines:
    """A process's output lines, read on a thread (so its pipe never fills) and waited for with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.seen.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, seconds: float) -> re.Match:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} within {seconds} s:\n" + "".join(self.seen[-40:]))


def environment(**extra: str) -> dict[str, str]:
    """What the hosts' processes run with: this checkout importable, no model hub, no metrics directory."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO),
               **extra)
    return env


class Client:
    """The client host's JSON-lines driver; it also serves the Slack Web API stand-in on its own address."""

    def __init__(self, host: netns.Host, *, slack_port: int = 8099, bot_token: str = "xoxb-multihost",
                 signing_secret: str = "multihost-secret") -> None:
        spec = {"slack_host": host.address, "slack_port": slack_port, "bot_token": bot_token,
                "signing_secret": signing_secret}
        self.process = host.popen([sys.executable, str(CLIENT), json.dumps(spec)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
        assert self.process.stdout is not None and self.process.stderr is not None
        self.lines = Lines(self.process.stdout)
        self.errors = Lines(self.process.stderr)
        self.slack_api = self.read(60)["ready"]

    def read(self, seconds: float) -> dict:
        try:
            return json.loads(self.lines.wait_for(r"^\{", seconds).string)
        except AssertionError:
            raise AssertionError("no answer from the client host; its stderr:\n" + "".join(self.errors.seen)) from None

    def send(self, **op: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(op) + "\n")
        self.process.stdin.flush()

    def call(self, seconds_to_answer: float = 60, **op: object) -> dict:
        self.send(**op)
        return self.read(seconds_to_answer)

    def wait_healthy(self, url: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while self.call(url=f"{url}/healthz", op="get")["status"] != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url}/healthz did not answer within {seconds} s")
            time.sleep(0.1)


def start_database(host: netns.Host, *, fsync: bool = False) -> tuple[PostgresServer, str, str]:
    """A throwaway PostgreSQL server on `host`: TCP on its address for the replicas, and its Unix socket (a
    file, reachable from the machine's own namespace) for checks. Returns the server, the replicas' url and
    the local url."""
    server = start_postgres(host.address, 5432, prefix=("ip", "netns", "exec", host.namespace), fsync=fsync)
    replicas_url = server.create_database("smallbot")
    return server, replicas_url, f"postgresql://postgres@/smallbot?host={server.socket_dir}&port={server.port}"


def start_replicas(hosts: list[netns.Host], root: Path, database_url: str, *, workers: int = 1,
                   **env: str) -> list[subprocess.Popen]:
    """`smallbot serve` on each host's address, all starting at once; returns once every one listens."""
    started = []
    for host in hosts:
        process = host.popen([sys.executable, "-m", "smallbot", "serve", str(root), "--host", host.address,
                              "--port", str(PORT), "--workers", str(workers)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=environment(DATABASE_URL=database_url, **env))
        assert process.stderr is not None
        started.append((process, Lines(process.stderr)))
    for _, lines in started:
        lines.wait_for(r"Running on http://", 300)
    return [process for process, _ in started]


def start_balancer(host: netns.Host, workdir: Path, replicas: list[netns.Host]) -> Path:
    """nginx on `host` with deploy/nginx/nginx.conf unchanged; only the replicas.conf beside it is written
    here, naming this network's replicas. Returns the configuration directory."""
    conf = workdir / f"nginx-{host.name}"
    conf.mkdir(exist_ok=True)
    shutil.copy(NGINX_CONF, conf / "nginx.conf")
    write_replicas(conf, replicas)
    nginx = nginx_binary()
    assert nginx is not None
    args = ["-p", str(conf), "-c", str(conf / "nginx.conf"), "-e", str(conf / "error.log")]
    check = host.run([nginx, "-t", *args, "-g", f"pid {conf}/nginx.pid;"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    host.popen([nginx, *args, "-g", f"daemon off; pid {conf}/nginx.pid;"], stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
    return conf


def write_replicas(conf: Path, replicas: list[netns.Host]) -> None:
    (conf / "replicas.conf").write_text(
        "".join(f"server {r.address}:{PORT} max_fails=1 fail_timeout=10s;\n" for r in replicas))


def reload_balancer(host: netns.Host, conf: Path, replicas: list[netns.Host]) -> None:
    """Point the running nginx at other replicas (`nginx -s reload`: new workers, no dropped connections)."""
    write_replicas(conf, replicas)
    nginx = nginx_binary()
    assert nginx is not None
    done = host.run([nginx, "-p", str(conf), "-c", str(conf / "nginx.conf"), "-e", str(conf / "error.log"),
                     "-g", f"pid {conf}/nginx.pid;", "-s", "reload"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)  # the old workers finish their requests; new ones read the new list
