"""Private database servers for tests that stop, restart or otherwise abuse a server.

The machine's own servers (harness.py) are shared by every run and every helper, so
nothing may restart them. The classes here start a server of the test session's own:
a PostgreSQL cluster made with `initdb`, or a MariaDB/MySQL data directory made with
`mariadb-install-db`, in a temporary directory, listening on a free loopback port, with
start/stop/restart methods. `private_postgres` / `private_mariadb` are session fixtures
that start one lazily and stop it when the session ends.

`PostgresServer` is made to grow: `PostgresServer.standby_of(primary)` builds a
streaming-replication standby from `pg_basebackup`, for the read-replica tests.

Settings favour speed over durability (no fsync, small buffers): the data is thrown
away at the end anyway. Servers run as the `postgres` / `mysql` system user when the
tests run as root (PostgreSQL refuses root), else as the current user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest

STARTUP_TIMEOUT = 60.0
T = TypeVar("T")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerUnavailable(RuntimeError):
    """The server's programs are missing or it did not start (the message says which)."""


class _Account:
    """The system user a server runs as: itself when not root, else `name`."""

    def __init__(self, name: str) -> None:
        if os.geteuid() != 0:
            self.name: str | None = None
            self.uid, self.gid = os.geteuid(), os.getegid()
            return
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ServerUnavailable(f"system user {name!r} is missing (install the server package)") from None
        self.name, self.uid, self.gid = name, entry.pw_uid, entry.pw_gid

    def own(self, *paths: str) -> None:
        if os.geteuid() == 0:
            for path in paths:
                os.chown(path, self.uid, self.gid)

    def run(self, argv: Sequence[str], log: str | None = None, timeout: float = 120) -> None:
        """Run a server program as this account; on failure raise with its output."""
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout,
            user=self.uid if os.geteuid() == 0 else None,
            group=self.gid if os.geteuid() == 0 else None,
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )
        if result.returncode != 0:
            tail = _tail(log) if log else ""
            raise ServerUnavailable(
                f"{' '.join(argv[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{tail}"
            )


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


# ---- PostgreSQL --------------------------------------------------------------------------


def postgres_bin_dir() -> str:
    """The newest PostgreSQL server binaries on this machine (Debian layout, else PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
    )
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise ServerUnavailable("PostgreSQL server binaries (initdb) not found: apt-get install postgresql")


class PostgresServer:
    """One private PostgreSQL cluster: `start()`, `stop()`, `restart()`, `url()`.

    The data directory and the Unix socket live in a temporary directory removed by
    `destroy()`. The superuser is `postgres` with trust authentication on loopback,
    replication included (a standby can stream from it).
    """

    SETTINGS: dict[str, str] = {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "32MB",
        "max_connections": "200",
        "wal_level": "replica",
        "max_wal_senders": "5",
        "hot_standby": "on",
        "log_min_messages": "warning",
        "logging_collector": "off",
    }

    def __init__(self, base_dir: str, port: int, account: _Account, bin_dir: str) -> None:
        self.base_dir = base_dir
        self.data_dir = os.path.join(base_dir, "data")
        self.log_file = os.path.join(base_dir, "server.log")
        self.port = port
        self.account = account
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.user = "postgres"

    # -- making clusters --
    @classmethod
    def _prepare(cls) -> tuple[str, int, _Account, str]:
        bin_dir = postgres_bin_dir()
        account = _Account("postgres")
        base_dir = tempfile.mkdtemp(prefix="twinrecord-pg-")
        account.own(base_dir)
        return base_dir, free_port(), account, bin_dir

    @classmethod
    def create(cls) -> PostgresServer:
        """A new, stopped cluster (initdb)."""
        server = cls(*cls._prepare())
        server.account.run([
            server._bin("initdb"), "-D", server.data_dir, "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        ])
        server._write_settings({})
        return server

    @classmethod
    def standby_of(cls, primary: PostgresServer) -> PostgresServer:
        """A new, stopped streaming standby of a running `primary` (pg_basebackup -R)."""
        server = cls(*cls._prepare())
        server.account.run([
            server._bin("pg_basebackup"), "-h", primary.host, "-p", str(primary.port),
            "-U", primary.user, "-D", server.data_dir, "-R", "-X", "stream", "--no-sync",
        ])
        server._write_settings({})
        return server

    def _write_settings(self, extra: dict[str, str]) -> None:
        settings = {**self.SETTINGS, "port": str(self.port),
                    "unix_socket_directories": self.base_dir, **extra}
        path = os.path.join(self.data_dir, "postgresql.auto.conf")
        with open(path, "a", encoding="utf-8") as handle:
            for name, value in settings.items():
                quoted = value.replace("'", "''")
                handle.write(f"{name} = '{quoted}'\n")
        self.account.own(path)

    def _bin(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    # -- running --
    def start(self) -> None:
        self.account.run([
            self._bin("pg_ctl"), "-D", self.data_dir, "-l", self.log_file,
            "-w", "-t", str(int(STARTUP_TIMEOUT)), "start",
        ], log=self.log_file)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: 'fast' (disconnect clients, clean shutdown) or 'immediate'."""
        self.account.run([self._bin("pg_ctl"), "-D", self.data_dir, "-m", mode, "-w", "stop"],
                         log=self.log_file)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        return os.path.exists(os.path.join(self.data_dir, "postmaster.pid"))

    def destroy(self) -> None:
        with contextlib.suppress(ServerUnavailable, subprocess.SubprocessError):
            if self.running:
                self.stop("immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- talking to it --
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """A raw psycopg connection in autocommit mode (the test's outside observer)."""
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               dbname=database, autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        with self.connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


# ---- MariaDB / MySQL ---------------------------------------------------------------------


def _mariadb_programs() -> tuple[str, str]:
    server = shutil.which("mariadbd") or shutil.which("mysqld") or (
        "/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
    installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not server or not installer:
        raise ServerUnavailable("mariadbd / mariadb-install-db not found: apt-get install mariadb-server")
    return server, installer


class MariaDBServer:
    """One private `mariadbd`: `start()`, `stop()`, `restart()`, `url()`.

    `root` has no password (from loopback too); the socket, pid file and data live in a
    temporary directory removed by `destroy()`.
    """

    OPTIONS: tuple[str, ...] = (
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--max-connections=300",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    )

    def __init__(self, options: Sequence[str] = ()) -> None:
        """`options`: more server options (a replication role: log-bin, server-id)."""
        self.options = [o for o in self.OPTIONS
                        if not (o == "--skip-log-bin" and any(x.startswith("--log-bin") for x in options))]
        self.options += list(options)
        self.server_program, installer = _mariadb_programs()
        self.account = _Account("mysql")
        self.base_dir = tempfile.mkdtemp(prefix="twinrecord-mariadb-")
        self.data_dir = os.path.join(self.base_dir, "data")
        self.socket = os.path.join(self.base_dir, "mysqld.sock")
        self.pid_file = os.path.join(self.base_dir, "mysqld.pid")
        self.log_file = os.path.join(self.base_dir, "error.log")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "root"
        self.account.own(self.base_dir)
        self._process: subprocess.Popen[bytes] | None = None
        user = self.account.name or pwd.getpwuid(os.geteuid()).pw_name
        self.account.run([
            installer, "--no-defaults", f"--datadir={self.data_dir}", f"--user={user}",
            "--auth-root-authentication-method=normal", "--skip-test-db",
            "--skip-name-resolve", "--innodb-log-file-size=16M",
        ], log=self.log_file, timeout=180)

    def start(self) -> None:
        user = self.account.name or pwd.getpwuid(os.geteuid()).pw_name
        argv = [
            self.server_program, "--no-defaults", f"--datadir={self.data_dir}",
            f"--port={self.port}", f"--socket={self.socket}", f"--pid-file={self.pid_file}",
            f"--log-error={self.log_file}", f"--user={user}", *self.options,
        ]
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerUnavailable(f"mariadbd exited at start:\n{_tail(self.log_file)}")
            if _port_open(self.port) and self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise ServerUnavailable(f"mariadbd did not answer in {STARTUP_TIMEOUT}s:\n{_tail(self.log_file)}")

    def _answers(self) -> bool:
        try:
            self.connect().close()
        except Exception:
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: 'fast' (SIGTERM, clean shutdown) or 'immediate' (SIGKILL)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
        try:
            process.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def url(self, database: str = "") -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}?ssl_disabled=true"

    def connect(self, database: str | None = None) -> Any:
        """A raw mysql-connector connection in autocommit mode (the outside observer)."""
        import mysql.connector

        return mysql.connector.connect(
            host=self.host, port=self.port, user=self.user, password="",
            database=database, ssl_disabled=True, autocommit=True, connection_timeout=10,
        )

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        connection = self.connect()
        try:
            connection.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            connection.close()
        return self.url(name)


def _start_retried(options: Sequence[str]) -> MariaDBServer:
    """A new mariadbd started, once more on a fresh port if it exits at start: in one
    loaded full run a fresh mariadbd aborted at start (cause not captured; the port
    probed by free_port() being taken meanwhile is the likely one)."""
    server = MariaDBServer(options)
    try:
        try:
            server.start()
        except ServerUnavailable:
            server.port = free_port()
            server.start()
    except BaseException:
        server.destroy()
        raise
    return server


def mariadb_replica_pair() -> tuple[MariaDBServer, MariaDBServer]:
    """A private MariaDB primary (binary log, server_id 1) and a replica of it (server_id
    2) replicating everything from the primary's first binlog event by GTID; both
    running. The replica's applier can be paused (`STOP SLAVE SQL_THREAD`). Missing
    programs or a server that will not start skip loudly (fail under CI)."""
    primary = replica = None
    try:
        primary = _start_retried(["--server-id=1", "--log-bin=binlog", "--binlog-format=ROW"])
        replica = _start_retried(["--server-id=2", "--skip-slave-start"])
    except ServerUnavailable as problem:
        if primary is not None:
            primary.destroy()
        if os.environ.get("CI"):
            pytest.fail(f"private server unavailable: {problem} (CI is set, so this fails)")
        pytest.skip(f"SKIPPED LOUDLY: private server unavailable: {problem}")
    connection = replica.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(
            "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER='root', "
            "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
            (primary.host, primary.port))
        cursor.execute("START SLAVE")
    finally:
        connection.close()
    return primary, replica


# ---- PgBouncer ----------------------------------------------------------------------------


class PgBouncer:
    """PgBouncer (Debian's `pgbouncer`) in front of a PostgreSQL server, on a free loopback
    port, in `pool_mode = transaction`: server connections are shared between clients
    from one transaction to the next. `pool_size` server connections per database, so
    clients outnumber them and really share. Logs in to the server as `postgres`
    whatever the client says (`auth_type = any`)."""

    def __init__(self, server: PostgresServer, pool_size: int = 4) -> None:
        program = shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
        if program is None:
            raise ServerUnavailable("pgbouncer not found: apt-get install pgbouncer")
        self.program: str = program
        self.server = server
        self.account = _Account("postgres")
        self.base_dir = tempfile.mkdtemp(prefix="twinrecord-pgbouncer-")
        self.account.own(self.base_dir)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_file = os.path.join(self.base_dir, "pgbouncer.log")
        self.ini = os.path.join(self.base_dir, "pgbouncer.ini")
        with open(self.ini, "w", encoding="utf-8") as handle:
            handle.write(
                "[databases]\n"
                f"* = host={server.host} port={server.port} user={server.user}\n"
                "[pgbouncer]\n"
                f"listen_addr = {self.host}\n"
                f"listen_port = {self.port}\n"
                "unix_socket_dir =\n"
                "auth_type = any\n"
                "pool_mode = transaction\n"
                f"default_pool_size = {pool_size}\n"
                "max_client_conn = 1000\n"
                f"logfile = {self.log_file}\n"
                f"pidfile = {os.path.join(self.base_dir, 'pgbouncer.pid')}\n"
            )
        self.account.own(self.ini)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        as_root = os.geteuid() == 0
        self._process = subprocess.Popen(
            [self.program, self.ini], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, user=self.account.uid if as_root else None,
            group=self.account.gid if as_root else None)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerUnavailable(f"pgbouncer exited at start:\n{_tail(self.log_file)}")
            if _port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"pgbouncer did not listen in {STARTUP_TIMEOUT}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"


# ---- session fixtures ----------------------------------------------------------------------


def _started(make: Callable[[], T]) -> T:
    """make() then start() the server; a missing program skips loudly (fails under CI)."""
    server: Any = None
    try:
        server = make()
        server.start()
    except ServerUnavailable as problem:
        if server is not None:
            server.destroy()
        if os.environ.get("CI"):
            pytest.fail(f"private server unavailable: {problem} (CI is set, so this fails)")
        pytest.skip(f"SKIPPED LOUDLY: private server unavailable: {problem}")
    return server  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL of this test session's own (stopped and removed at the end)."""
    server = _started(PostgresServer.create)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def private_mariadb() -> Iterator[MariaDBServer]:
    """A running mariadbd of this test session's own (stopped and removed at the end)."""
    server = _started(MariaDBServer)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres_replication() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A private PostgreSQL primary and its streaming standby (pg_basebackup -R), both
    running; stopped and removed at the end. A test that stops the standby starts it again."""
    primary = _started(PostgresServer.create)
    try:
        standby = _started(lambda: PostgresServer.standby_of(primary))
        try:
            yield primary, standby
        finally:
            standby.destroy()
    finally:
        primary.destroy()


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """PgBouncer in transaction pooling mode in front of a private PostgreSQL of its own
    (not `private_postgres`, which other tests restart); both stopped at the end."""
    server = _started(PostgresServer.create)
    try:
        bouncer = _started(lambda: PgBouncer(server))
        try:
            yield bouncer
        finally:
            bouncer.destroy()
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def mariadb_replication() -> Iterator[tuple[MariaDBServer, MariaDBServer]]:
    """A private MariaDB primary and its replica (mariadb_replica_pair), stopped and
    removed at the end. A test that stops the replica starts it again."""
    primary, replica = mariadb_replica_pair()
    try:
        yield primary, replica
    finally:
        replica.destroy()
        primary.destroy()
