"""Several hosts on one machine: Linux network namespaces joined by veth pairs to a bridge in a hub namespace.

Each host is a namespace with its own loopback and one interface (`eth0`, 10.x address) on the bridge, so
processes started in it listen and connect as on a separate machine on one LAN, and nothing in them can
reach the machine's own network: the namespaces have no route out. Every interface is created inside the
test's namespaces (the veth is made in the hub with its peer moved straight into the host), so the root
namespace's links are never touched.

`Network.close` kills every process left in the namespaces and deletes them, even after a failure; the
test fixture calls it in `finally`.

>>> with Network("sbmh", subnet="10.77.0") as net:
...     db = net.add_host("db")
...     server = db.popen(["postgres", ...])
...     db.kill_all()   # what `kill -9` of a host's processes looks like
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Sequence


def available() -> str | None:
    """Why namespaces cannot be made here (None when they can): root and Debian's iproute2 are needed."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed (apt-get install iproute2)"
    probe = f"sbprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


@dataclass
class Host:
    """One namespace with one address on the network."""

    name: str  # the short role name ("r1", "db")
    namespace: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start `argv` inside this host (`ip netns exec` enters the namespace, then execs `argv`)."""
        process = subprocess.Popen(["ip", "netns", "exec", self.namespace, *argv], **kwargs)
        self.processes.append(process)
        return process

    def run(self, argv: Sequence[str], timeout: float = 120.0, **kwargs: Any) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.namespace, *argv], timeout=timeout, **kwargs)

    def pids(self) -> list[int]:
        """Every process running in this host's namespace."""
        result = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True, timeout=30)
        return [int(pid) for pid in result.stdout.split()]

    def kill_all(self) -> list[int]:
        """`kill -9` every process of the host, as when the machine dies; returns the pids killed."""
        killed = []
        for _ in range(5):  # bounded: a process may fork while its siblings die
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
            for pipe in (process.stdin, process.stdout, process.stderr):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:  # a reader thread may still hold it; the process is gone either way
                        pass
        return killed


class Network:
    """A bridge in a hub namespace; `add_host` attaches a new namespace to it with the next address."""

    def __init__(self, prefix: str, subnet: str = "10.77.0"):
        self.prefix = prefix
        self.subnet = subnet
        self.hub = f"{prefix}-hub"
        self.hosts: list[Host] = []
        self._next = 1
        _ip("netns", "add", self.hub)
        try:
            _ip("-n", self.hub, "link", "set", "lo", "up")
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def add_host(self, name: str) -> Host:
        namespace = f"{self.prefix}-{name}"
        address = f"{self.subnet}.{self._next}"
        self._next += 1
        _ip("netns", "add", namespace)
        host = Host(name, namespace, address)
        self.hosts.append(host)
        veth = f"v{len(self.hosts)}"  # an interface name in the hub's namespace only
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("-n", self.hub, "link", "set", veth, "master", "br0")
        _ip("-n", self.hub, "link", "set", veth, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        return host

    def close(self) -> None:
        """Kill what runs in the hosts, then delete every namespace (the veth pairs and the bridge go with them)."""
        for host in self.hosts:
            host.kill_all()
        for namespace in [h.namespace for h in self.hosts] + [self.hub]:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        self.hosts.clear()

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
