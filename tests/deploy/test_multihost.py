"""Several hosts on this one machine (network namespaces): two replica hosts running `smallbot serve` with the
PostgreSQL store, a PostgreSQL host, an nginx balancer host using deploy/nginx/nginx.conf as shipped, and a
client host. Under a bounded load through the balancer one replica host is killed (`kill -9` of all its
processes). Every reply a client got is in PostgreSQL, a follow-up "2" that lands on the other replica picks
the suggestion the dead one offered, a Slack retry delivered to the other replica is not answered twice, and
the surviving replica keeps answering.

Needs root, iproute2, nginx and PostgreSQL's server (Debian: `apt-get install iproute2 nginx postgresql`;
`.ci/run` installs them); skipped with the reason where they are missing. Nothing leaves the test's
namespaces, which have no route out.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from smallbot.connectors.slack.testing import event_body
from tests.conftest import REPO
from tests.support import netns
from tests.support.postgres import PostgresServer, PostgresUnavailable, bin_dir, start_postgres

pytestmark = pytest.mark.slow

NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"
SUBNET = "10.77.0"
PORT = 8080
SLACK_PORT = 8099
SIGNING_SECRET = "multihost-signing-secret"
BOT_TOKEN = "xoxb-multihost-token"
OFFERING = "money back for my purchase"  # a suggestion ("did you mean") with the bands below
STORE = "store:\n  backend: postgres\n  url: ${DATABASE_URL}\n"  # shared by every replica
LOAD_TEXTS = ["how do I reset my password?", "when are you open", OFFERING, "close my account permanently"]


def _missing() -> str | None:
    why = netns.available()
    if why:
        return why
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "nginx is not installed (apt-get install nginx)"
    try:
        bin_dir()
    except PostgresUnavailable as exc:
        return str(exc)
    return None


class Lines:
    """A process's output lines, read on a thread so waits are bounded by a deadline."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
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


class Client:
    """The client host's JSON-lines driver (tests/support/multihost_client.py)."""

    def __init__(self, host: netns.Host, slack_host: str) -> None:
        spec = {"slack_host": slack_host, "slack_port": SLACK_PORT, "bot_token": BOT_TOKEN,
                "signing_secret": SIGNING_SECRET}
        self.process = host.popen([sys.executable, str(REPO / "tests" / "support" / "multihost_client.py"),
                                   json.dumps(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=_env())
        self.lines = Lines(self.process.stdout)
        self.errors = Lines(self.process.stderr)
        self.ready = self.read(60)["ready"]

    def read(self, seconds: float) -> dict:
        try:
            return json.loads(self.lines.wait_for(r"^\{", seconds).string)
        except AssertionError:
            raise AssertionError("no answer from the client host; its stderr:\n" + "".join(self.errors.seen)) from None

    def send(self, **op) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(op) + "\n")
        self.process.stdin.flush()

    def call(self, seconds_to_answer: float = 60, **op) -> dict:
        self.send(**op)
        return self.read(seconds_to_answer)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=str(REPO), **extra)
    return env


def _start_postgres(host: netns.Host) -> tuple[PostgresServer, str, str]:
    """A throwaway PostgreSQL server on `host`: TCP on its address for the replicas, and its Unix socket (a
    file, reachable from the test's own namespace) for the test's checks. Returns the server, the replicas'
    url and the test's url."""
    server = start_postgres(host.address, 5432, prefix=("ip", "netns", "exec", host.namespace))
    replicas_url = server.create_database("smallbot")
    return server, replicas_url, f"postgresql://postgres@/smallbot?host={server.socket_dir}&port={server.port}"


def _start_replica(host: netns.Host, root: Path, database_url: str) -> Lines:
    process = host.popen([sys.executable, "-m", "smallbot", "serve", str(root), "--host", host.address,
                          "--port", str(PORT), "--workers", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=_env(DATABASE_URL=database_url, SLACK_BOT_TOKEN=BOT_TOKEN,
                                  SLACK_SIGNING_SECRET=SIGNING_SECRET))
    return Lines(process.stderr)


def _start_nginx(host: netns.Host, workdir: Path, replicas: list[netns.Host]) -> None:
    """deploy/nginx/nginx.conf as shipped; only replicas.conf beside it names this network's replicas."""
    conf = workdir / "nginx"
    conf.mkdir()
    shutil.copy(NGINX_CONF, conf / "nginx.conf")
    (conf / "replicas.conf").write_text(
        "".join(f"server {r.address}:{PORT} max_fails=1 fail_timeout=10s;\n" for r in replicas))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    check = host.run([nginx, "-t", "-p", str(conf), "-c", str(conf / "nginx.conf"), "-e", str(conf / "error.log"),
                      "-g", f"pid {conf}/nginx.pid;"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    host.popen([nginx, "-p", str(conf), "-c", str(conf / "nginx.conf"), "-e", str(conf / "error.log"),
                "-g", f"daemon off; pid {conf}/nginx.pid;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _bot(trained_tiny: Path, workdir: Path, slack_api: str) -> Path:
    root = workdir / "bot"
    shutil.copytree(trained_tiny, root, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    with open(root / "bot.yml", "a") as f:
        f.write(
            "\nthresholds:\n  faq_answer: 1.0\n  faq_suggest: 0.0\n"  # FAQ questions get "did you mean"
            "web:\n  rate_limit_per_minute: 100000\n  rate_limit_burst: 1000\n"
            f"  trusted_proxies: [{SUBNET}.0/24]\n"
            + STORE +
            "slack:\n  enabled: true\n  bot_token: ${SLACK_BOT_TOKEN}\n  signing_secret: ${SLACK_SIGNING_SECRET}\n"
            f"  api_base_url: {slack_api}\n")
    return root


def _replica_of(header: str) -> str:
    """The replica that answered: the last address in nginx's $upstream_addr ("a:80, b:80" after a retry)."""
    return header.split(",")[-1].strip().rsplit(":", 1)[0]


@pytest.fixture
def network():
    why = _missing()
    if why and os.environ.get("SMALLBOT_REQUIRE_MULTIHOST"):  # CI runs as root with the packages installed
        pytest.fail(f"the multi-host test cannot run: {why}")
    if why:
        pytest.skip(why)
    with netns.Network(f"sbmh{os.getpid()}", SUBNET) as net:
        yield net


def test_a_replica_host_dies_under_load_and_nothing_acknowledged_is_lost(network, trained_tiny):
    from smallbot.project.loader import load_project
    from smallbot.store import open_store

    workdir = Path(tempfile.mkdtemp(prefix="smallbot-multihost-"))
    postgres = None
    os.chmod(workdir, 0o755)
    try:
        client_host = network.add_host("client")
        balancer = network.add_host("lb")
        database = network.add_host("db")
        r1, r2 = network.add_host("r1"), network.add_host("r2")
        client = Client(client_host, client_host.address)
        root = _bot(trained_tiny, workdir, client.ready)
        postgres, replica_url, local_url = _start_postgres(database)
        starting = [_start_replica(r, root, replica_url) for r in (r1, r2)]
        for lines in starting:
            lines.wait_for(r"Running on http://", 180)
        _start_nginx(balancer, workdir, [r1, r2])
        lb = f"http://{balancer.address}"
        direct = {r.name: f"http://{r.address}:{PORT}" for r in (r1, r2)}
        for _ in range(100):  # bounded: nginx starts in well under a second
            if client.call(url=f"{lb}/healthz", op="get")["status"] == 200:
                break
            time.sleep(0.1)

        # A Slack event reaches r1; Slack's retry of it reaches r2: exactly one answer in the thread.
        ts = "1700000123.000100"
        event = event_body(f"<@U0BOT> {OFFERING}", ts=ts, event_id="EvMultiHost1").decode()
        assert client.call(op="slack_event", url=f"{direct['r1']}/slack/events", body=event)["status"] == 200
        retry = client.call(op="slack_event", url=f"{direct['r2']}/slack/events", body=event, retry_num=1)
        assert retry["status"] == 200
        posts = client.call(op="slack_posts", thread_ts=ts, wait=30, settle=3)["posts"]
        assert len(posts) == 1, posts

        # r1 offers suggestions in a conversation that will continue after r1 is gone
        offered = client.call(op="post", url=f"{direct['r1']}/api/messages", json={"text": OFFERING})
        assert offered["status"] == 200 and offered["body"]["kind"] == "suggest", offered
        assert len(offered["body"]["suggestions"]) >= 2

        # bounded load over the balancer (count and time); r1's host is killed while it runs
        client.send(op="load", url=f"{lb}/api/messages", texts=LOAD_TEXTS, count=60, concurrency=6, seconds=90,
                    signal_after=15)
        assert client.read(120) == {"event": "signal"}
        killed = r1.kill_all()
        assert killed and not r1.pids()
        during = client.read(120)
        replicas = [_replica_of(a["replica"]) for a in during["acked"]]
        assert {r1.address, r2.address} <= set(replicas), replicas  # both carried load before the kill
        assert len(during["acked"]) >= 15

        # after: every message is answered, by the survivor
        after = client.call(op="load", url=f"{lb}/api/messages", texts=LOAD_TEXTS, count=24, concurrency=4,
                            seconds=60, seconds_to_answer=90)
        assert after["failed"] == [] and len(after["acked"]) == 24
        assert {_replica_of(a["replica"]) for a in after["acked"]} == {r2.address}

        # the follow-up "2" to r1's suggestions lands on r2 through the balancer and picks what r1 offered
        conversation = offered["body"]["conversation_id"]
        picked = client.call(op="post", url=f"{lb}/api/messages", json={"text": "2", "conversation_id": conversation})
        assert picked["status"] == 200 and _replica_of(picked["replica"]) == r2.address
        assert picked["body"]["kind"] == "answer"
        assert picked["body"]["sources"][0]["id"] == offered["body"]["suggestions"][1]["id"]

        client.send(op="quit")

        # every reply a client got is in PostgreSQL, as that turn
        config = load_project(root).config
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DATABASE_URL", local_url)
            store = open_store(root, config.store)
        try:
            for acked in during["acked"] + after["acked"]:
                turns = store.turns(acked["conversation_id"])
                assert [(t.text, t.reply_kind.value) for t in turns] == [(acked["text"], acked["kind"])], acked
            picks = store.turns(conversation)
            assert [t.text for t in picks] == [OFFERING, "2"]
        finally:
            store.close()
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)
