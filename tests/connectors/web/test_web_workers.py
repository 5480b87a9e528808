"""`smallbot serve --workers 2`: two real processes on one port, both answering and logging to one store."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from smallbot.project.loader import load_project
from smallbot.store import open_store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from Linux /proc")]

CONNECTIONS = 24  # the kernel hashes connections over the workers: all on one of two is a 2**-23 chance


def _start(directory: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "smallbot", "serve", str(directory), "--port", "0", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        match = re.search(r"Running on http://(127\.0\.0\.1):(\d+)", line)
        if match:
            return process, match.group(2)
    process.wait()
    pytest.fail("serve exited before listening:\n" + "".join(seen))


def _children(pid: int) -> list[int]:
    return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _established_on(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is `port` (the server's side)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def test_two_workers_share_the_port_and_the_store_and_stop_together(trained_tiny, tmp_path, monkeypatch):
    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)  # the session's copy stays unchanged (its store gets rows here)
    with open(root / "bot.yml", "a") as f:  # every connection comes from 127.0.0.1: lift the per-address limit
        # the API key lets this caller name its conversations, to find them in the log afterwards
        f.write("\nweb:\n  rate_limit_per_minute: 100000\n  rate_limit_burst: 1000\n"
                "  api_key: ${SMALLBOT_TEST_API_KEY}\n")
    monkeypatch.setenv("SMALLBOT_TEST_API_KEY", "workers-test-key")
    process, port = _start(root, "--workers", "2")
    connections: list[http.client.HTTPConnection] = []
    try:
        workers = [process.pid, *_children(process.pid)]
        assert len(workers) == 2
        for i in range(CONNECTIONS):
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
            connections.append(conn)  # kept open: its server side shows which worker holds it
            conn.request("POST", "/api/messages", json.dumps({"text": "how do I reset my password?",
                                                               "conversation_id": f"workers-{i}"}),
                         {"Content-Type": "application/json", "Authorization": "Bearer workers-test-key"})
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["kind"] == "answer"
        served = _established_on(int(port))
        per_worker = [len(served & _sockets_of(pid)) for pid in workers]
        assert sum(per_worker) == CONNECTIONS
        assert all(count > 0 for count in per_worker), per_worker
        for conn in connections:
            conn.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not Path(f"/proc/{workers[1]}").exists()  # the second worker stopped with the first
    finally:
        for conn in connections:
            conn.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    store = open_store(root, load_project(root).config.store)
    try:
        logged = {t.conversation_id for t in store.turns() if t.conversation_id.startswith("workers-")}
    finally:
        store.close()
    assert logged == {f"workers-{i}" for i in range(CONNECTIONS)}  # turns from both processes, none lost


def _server_side(port: int, client_port: int) -> str:
    """The socket inode of the server's side of the connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), fields[3]) == (port, client_port, "01"):
            return fields[9]
    raise AssertionError(f"no established connection from port {client_port} to {port}")


def _post(conn: http.client.HTTPConnection, text: str, conversation: str | None) -> dict:
    """`conversation` None starts one, with an id the server issues (any worker accepts it)."""
    body = {"text": text} if conversation is None else {"text": text, "conversation_id": conversation}
    conn.request("POST", "/api/messages", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    return body


def test_a_follow_up_on_the_other_worker_picks_the_suggestion_offered(trained_tiny, tmp_path):
    """REST requests of one conversation on two connections held by different worker processes: the "2" sent
    to one worker picks the suggestion the other offered (conversation state is read from the shared store)."""
    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    with open(root / "bot.yml", "a") as f:  # bands that make FAQ questions "did you mean" suggestions
        f.write("\nthresholds:\n  faq_answer: 1.0\n  faq_suggest: 0.0\n"
                "web:\n  rate_limit_per_minute: 100000\n  rate_limit_burst: 1000\n")
    process, port = _start(root, "--workers", "2")
    connections: dict[int, http.client.HTTPConnection] = {}  # worker pid -> a connection it holds
    opened: list[http.client.HTTPConnection] = []
    try:
        workers = [process.pid, *_children(process.pid)]
        for i in range(CONNECTIONS):
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
            opened.append(conn)
            _post(conn, "hello", None)
            inode = _server_side(int(port), conn.sock.getsockname()[1])
            holder = next(pid for pid in workers if inode in _sockets_of(pid))
            connections.setdefault(holder, conn)
            if len(connections) == 2:
                break
        first, second = (connections[pid] for pid in workers)

        offered = _post(first, "money back for my purchase", None)
        assert offered["kind"] == "suggest" and len(offered["suggestions"]) >= 2
        one = offered["conversation_id"]
        picked = _post(second, "2", one)
        assert picked["kind"] == "answer" and picked["sources"][0]["id"] == offered["suggestions"][1]["id"]
        assert _post(first, "1", one)["kind"] != "answer"  # the pick ended them for both

        offered = _post(second, "money back for my purchase", None)
        two = offered["conversation_id"]
        picked = _post(first, "yes", two)
        assert picked["sources"][0]["id"] == offered["suggestions"][0]["id"]
    finally:
        for conn in opened:
            conn.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def test_workers_below_one_is_refused(trained_tiny):
    result = subprocess.run([sys.executable, "-m", "smallbot", "serve", str(trained_tiny), "--workers", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--workers is 0" in result.stderr


def test_workers_auto_is_two_on_two_cores_and_one_with_the_generator():
    from smallbot.connectors.web.workers import auto_workers

    assert [auto_workers(False, cores) for cores in (1, 2, 16)] == [1, 2, 2]
    assert [auto_workers(True, cores) for cores in (1, 2, 16)] == [1, 1, 1]  # each worker would load its own copy


def test_workers_accepts_auto_and_refuses_words(trained_tiny):
    from smallbot.cli import build_parser

    assert build_parser().parse_args(["serve", str(trained_tiny)]).workers is None  # auto
    assert build_parser().parse_args(["serve", str(trained_tiny), "--workers", "auto"]).workers is None
    assert build_parser().parse_args(["serve", str(trained_tiny), "--workers", "3"]).workers == 3
    result = subprocess.run([sys.executable, "-m", "smallbot", "serve", str(trained_tiny), "--workers", "many"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "expected a number or 'auto'" in result.stderr


def test_every_worker_closes_connections_that_never_finish_their_headers(tiny_copy):
    """Slow-header clients must not hold connections on any worker: each worker has the same bounded
    keep-alive / header deadline (the second worker once ran with aiohttp's 3,630 s default)."""
    import socket
    import time

    code = ("import sys; from pathlib import Path; from smallbot.connectors.web.workers import serve; "
            "serve(Path(sys.argv[1]), workers=2, port=0, overrides={'keepalive_timeout': 1.0})")
    process = subprocess.Popen([sys.executable, "-c", code, str(tiny_copy)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            match = re.search(r"Running on http://127\.0\.0\.1:(\d+)", line)
            if match:
                break
        else:
            pytest.fail("serve exited before listening:\n" + "".join(seen))
        port = int(match.group(1))
        sockets = []
        for _ in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
            sockets.append(s)
        time.sleep(0.5)
        workers_holding = {pid for pid in [process.pid, *_children(process.pid)]
                           if _sockets_of(pid) & _established_on(port)}
        assert len(workers_holding) == 2, "both workers should hold some of the connections"
        deadline = time.monotonic() + 15
        held = 0
        for s in sockets:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                assert s.recv(1024) == b""  # closed by the server, nothing sent
            except ConnectionResetError:
                pass
            except TimeoutError:
                held += 1
            s.close()
        assert held == 0, f"{held} of {CONNECTIONS} slow-header connections still open after 15 s"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def _scrape(port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # a fresh connection: any worker answers
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_add_up_over_both_workers_and_only_grow(trained_tiny, tmp_path):
    """Prometheus reads a counter that drops as a reset: every scrape, whichever worker answers it, shows the
    totals of all workers, and the open-WebSocket gauge counts the sockets of both."""
    import asyncio

    import aiohttp

    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    with open(root / "bot.yml", "a") as f:
        f.write("\nweb:\n  rate_limit_per_minute: 100000\n  rate_limit_burst: 1000\n")
    process, port = _start(root, "--workers", "2")
    port = int(port)
    key = 'smallbot_http_requests_total{route="/api/messages",status="200"}'
    try:
        seen = []
        for i in range(CONNECTIONS):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request("POST", "/api/messages", json.dumps({"text": "hello"}), {"Content-Type": "application/json"})
                assert conn.getresponse().status == 200
            finally:
                conn.close()
            seen.append(_scrape(port).get(key, 0.0))
        assert seen == sorted(seen), seen  # never backwards
        assert seen[-1] == CONNECTIONS
        final = _scrape(port)
        assert final['smallbot_replies_total{kind="respond"}'] == CONNECTIONS

        async def sockets_open() -> list[float]:
            async with aiohttp.ClientSession() as session:
                sockets = []
                for _ in range(8):
                    # a session reuses nothing for WebSockets: each is its own connection, spread by the kernel
                    ws = await session.ws_connect(f"http://127.0.0.1:{port}/api/ws")
                    await ws.receive_json()
                    sockets.append(ws)
                gauges = [(await asyncio.to_thread(_scrape, port))["smallbot_websockets_open"] for _ in range(4)]
                for ws in sockets:
                    await ws.close()
                return gauges

        assert asyncio.run(sockets_open()) == [8.0] * 4
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log = process.stderr.read()
        process.stderr.close()
    # normal traffic leaves a trace: one access line per request, from both workers
    assert log.count('"POST /api/messages HTTP/1.1" 200') == CONNECTIONS, log[-2000:]
