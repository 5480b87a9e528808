"""A throwaway PostgreSQL server for tests: `initdb` into a fresh directory, `postgres` on one address.

The server is started by the tests themselves, never the distribution's cluster service, so a test run needs
only the server binaries (Debian's `postgresql` package). PostgreSQL refuses to run as root; when the tests
run as root, initdb and postgres run as the `postgres` OS user (`setpriv`, else `runuser`), and the data
directory is owned by it.

    >>> server = start_postgres("127.0.0.1")          # a free port, a data directory of its own
    >>> url = server.create_database("t1")            # postgresql://postgres:...@127.0.0.1:PORT/t1
    >>> server.stop()                                  # stops the server and removes its directory

`start_postgres(host, port, datadir, prefix=("ip", "netns", "exec", "db"))` starts one bound to a given
address inside a network namespace, for tests that build several hosts on one machine.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

OS_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT = 60.0


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (Debian: apt-get install postgresql)."""


def bin_dir() -> Path:
    """Where initdb and postgres live: $PG_BIN, `pg_config --bindir`, or the newest /usr/lib/postgresql/*/bin."""
    candidates: list[str] = []
    if os.environ.get("PG_BIN"):
        candidates.append(os.environ["PG_BIN"])
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            candidates.append(done.stdout.strip())
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += versions
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, postgres) found: install Debian's postgresql package or set PG_BIN"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server; `url` is its `postgres` database, `create_database` makes one per test."""

    host: str
    port: int
    datadir: Path
    password: str
    prefix: tuple[str, ...] = ()
    owns_datadir: bool = True
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def socket_dir(self) -> Path:
        return self.datadir / "sockets"

    def url_for(self, database: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{SUPERUSER}:{self.password}@{host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the server's unix socket; returns psql's unaligned output."""
        done = subprocess.run(
            [*self._as_owner(), str(bin_dir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its data directory if it made it. Idempotent."""
        if self.process is not None:
            subprocess.run(
                [*self._as_owner(), str(bin_dir() / "pg_ctl"), "stop", "-D", str(self.datadir / "data"), "-m", "fast", "-w",
                 "-t", "30"],
                capture_output=True, timeout=60,
            )
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if self.owns_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def _as_owner(self) -> list[str]:
        return [*self.prefix, *_run_as_owner()]

    def __enter__(self) -> "PostgresServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(
    host: str = "127.0.0.1",
    port: int | None = None,
    datadir: Path | None = None,
    *,
    prefix: Sequence[str] = (),
    fsync: bool = False,
    password: str | None = None,
) -> PostgresServer:
    """initdb a new cluster in `datadir` (a fresh temporary directory by default) and start postgres listening
    on `host:port` (a free port by default) and on a unix socket inside the data directory. A `datadir` that
    already holds a cluster (a server stopped or killed earlier) is started again as it is: pass its `password`.
    The `postgres` OS user must be able to reach `datadir` (its parents searchable), as with any server.

    `prefix` runs every server command under it (e.g. `ip netns exec NAME`) for a server on another host's
    address. Connections from other addresses need the password (scram-sha-256); the unix socket trusts the
    OS user. `fsync=False` suits throwaway test data; a benchmark passes True to measure what users get.
    """
    binaries = bin_dir()
    owns = datadir is None
    root = Path(datadir) if datadir is not None else Path(tempfile.mkdtemp(prefix="smallbot-pg-"))
    root.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_hex(12)
    port = port or free_port(host)
    server = PostgresServer(host, port, root, password, tuple(prefix), owns)
    try:
        if (root / "data" / "PG_VERSION").exists():
            (root / "data" / "postmaster.pid").unlink(missing_ok=True)  # left by a killed server
        else:
            _initdb(server, binaries)
        log = open(root / "server.log", "ab")  # noqa: SIM115 - the server writes it for as long as it runs
        server.process = subprocess.Popen(
            [*server._as_owner(), str(binaries / "postgres"), "-D", str(root / "data"), "-k", str(server.socket_dir),
             "-c", f"listen_addresses={host}", "-p", str(port), "-c", f"fsync={'on' if fsync else 'off'}",
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        server.datadir = root
        _wait_ready(server, binaries)
    except BaseException:
        server.stop()
        raise
    return server


def _initdb(server: PostgresServer, binaries: Path) -> None:
    data = server.datadir / "data"
    server.socket_dir.mkdir(exist_ok=True)
    pwfile = server.datadir / "pwfile"
    pwfile.write_text(server.password + "\n")
    _give_to_owner(server.datadir)
    done = subprocess.run(
        [*server._as_owner(), str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        capture_output=True, text=True, timeout=120,
    )
    pwfile.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stdout}\n{done.stderr}")
    with open(data / "pg_hba.conf", "a") as hba:  # other hosts' addresses, with the password
        hba.write("host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")


def _wait_ready(server: PostgresServer, binaries: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited at start:\n{_tail(server.datadir / 'server.log')}")
        ready = subprocess.run(
            [*server.prefix, str(binaries / "pg_isready"), "-q", "-h", str(server.socket_dir), "-p", str(server.port),
             "-U", SUPERUSER],
            timeout=30,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"postgres was not ready within {START_TIMEOUT:.0f} s:\n{_tail(server.datadir / 'server.log')}")


def _run_as_owner() -> list[str]:
    """Under root, the command runs as the postgres user. setpriv execs it in place (runuser would fork and
    wait), so the process started is postgres itself: a kill -9 of it is a kill -9 of the server."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups", "--"]
    return ["runuser", "-u", OS_USER, "--"]


def _give_to_owner(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(OS_USER)
    for folder, dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o700)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"
