"""Start and stop the real PostgreSQL and Kafka servers that integration tests run against.

By default both run as local processes through ``deploy/local/postgres.sh`` and
``deploy/local/kafka.sh``, each on a free port in its own folder under the base dir given by
the caller (see :func:`default_base_dir`). Environment overrides:

- ``BEHALF_DATABASE_URL``: use this PostgreSQL server; nothing is started or stopped.
- ``BEHALF_KAFKA_BOOTSTRAP``: use this Kafka bootstrap address; nothing is started or stopped.
  (Not for ``start_kafka(..., sasl=True)``, which always starts its own broker.)
- ``BEHALF_USE_TESTCONTAINERS=1``: where a Docker engine answers, use testcontainers instead.
- ``BEHALF_PG_FAST``: passed on to postgres.sh; this module sets it to 1 unless it is set.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "local"
POSTGRES_SCRIPT = DEPLOY_DIR / "postgres.sh"
KAFKA_SCRIPT = DEPLOY_DIR / "kafka.sh"

# First start of Kafka may download its jars with Maven, hence the generous bound.
SCRIPT_TIMEOUT_S = 600.0


class InfraError(RuntimeError):
    """A local server could not be started or stopped, or an operation is not supported."""


def _noop() -> None:
    return None


_handed_out: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago and that this process has not
    returned before: two binds to port 0 in a row can get the same port, and a service given
    it twice (the registry's main and internal ports) would refuse to start."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def default_base_dir() -> Path:
    """Return a per-process folder under ``$REPO/.run`` for servers started by tests.

    It lives in the repository rather than under pytest's ``/tmp/pytest-of-root`` (mode 0700)
    so that the ``postgres`` user can reach it without loosening permissions.
    """
    path = REPO_ROOT / ".run" / f"test-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def docker_available() -> bool:
    """Tell whether a Docker engine answers ``docker info``."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _use_testcontainers() -> bool:
    return os.environ.get("BEHALF_USE_TESTCONTAINERS") == "1" and docker_available()


def _run_script(
    script: Path, command: str, env: Mapping[str, str], *args: str, lines: int = 1
) -> str:
    """Run a deploy script; return the last ``lines`` lines of its stdout (all of it for 0),
    or raise with its stderr."""
    try:
        result = subprocess.run(
            ["bash", str(script), command, *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{script.name} {command} timed out after {exc.timeout}s") from exc
    if result.returncode != 0:
        raise InfraError(
            f"{script.name} {command} exited {result.returncode}:\n{result.stderr}{result.stdout}"
        )
    output = result.stdout.strip().splitlines()
    return "\n".join(output[-lines:] if lines else output)


@dataclass
class PostgresServer:
    """A running PostgreSQL server; ``url`` points at its ``behalf`` database."""

    url: str
    port: int
    _stop: Callable[[], object] = field(default=_noop, repr=False)
    _env: Mapping[str, str] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server (a no-op for a server this module did not start)."""
        self._stop()

    def start(self) -> None:
        """Start the server again after ``stop()`` on the same data and port (fault tests)."""
        _run_script(POSTGRES_SCRIPT, "start", self._local_env("start"))

    def restart(self) -> None:
        """Stop (fast shutdown, closing every connection) and start on the same data and port."""
        env = self._local_env("restart")
        _run_script(POSTGRES_SCRIPT, "stop", env)
        _run_script(POSTGRES_SCRIPT, "start", env)

    def _local_env(self, what: str) -> Mapping[str, str]:
        if self._env is None:
            raise InfraError(f"cannot {what} a PostgreSQL server this harness did not start")
        return self._env


def start_postgres(base_dir: Path) -> PostgresServer:
    """Start PostgreSQL in ``base_dir / "postgres"`` on a free port, or use an existing one."""
    external = os.environ.get("BEHALF_DATABASE_URL")
    if external:
        return PostgresServer(url=external, port=urlsplit(external).port or 5432)
    if _use_testcontainers():
        return _start_postgres_container()
    port = free_port()
    env = {
        "BEHALF_PG_DIR": str(base_dir / "postgres"),
        "BEHALF_PG_PORT": str(port),
        "BEHALF_PG_FAST": os.environ.get("BEHALF_PG_FAST", "1"),
    }
    url = _run_script(POSTGRES_SCRIPT, "start", env)
    return PostgresServer(
        url=url, port=port, _stop=partial(_run_script, POSTGRES_SCRIPT, "stop", env), _env=env
    )


def _start_postgres_container() -> PostgresServer:
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]

    container: Any = PostgresContainer("postgres:16-alpine", dbname="behalf").start()
    url: str = container.get_connection_url(driver=None)
    port = int(container.get_exposed_port(5432))
    return PostgresServer(url=url, port=port, _stop=container.stop)


# The SCRAM users kafka.sh creates in SASL mode, one per service identity (plus behalf-admin,
# the super user the harness applies ACLs with).
KAFKA_IDENTITIES = ("behalf-verifier", "behalf-registry", "behalf-dispatcher")


@dataclass
class KafkaServer:
    """A running single-node Kafka broker reachable at ``bootstrap`` (``host:port``).

    ``kill()`` and ``restart()`` serve fault tests and work only for a broker this module
    started as a local process; they raise :class:`InfraError` otherwise. A broker started
    with ``sasl=True`` listens with SASL_SSL only: ``ca_file`` is the CA its certificate
    chains to, and ``client_env(user)`` gives a service's BEHALF_KAFKA_* settings.
    """

    bootstrap: str
    _env: Mapping[str, str] | None = field(default=None, repr=False)
    _stop: Callable[[], object] = field(default=_noop, repr=False)
    ca_file: str | None = None

    @property
    def sasl(self) -> bool:
        return self.ca_file is not None

    def client_env(self, user: str) -> dict[str, str]:
        """The BEHALF_KAFKA_* settings (bootstrap, SASL_SSL, CA, SCRAM mechanism, username,
        current password) that make a service connect as ``user``."""
        out = _run_script(KAFKA_SCRIPT, "client-env", self._sasl_env("client-env"), user, lines=0)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def grant_service_acls(
        self, topic_prefix: str, dispatcher_group: str = "", *, create: bool = True
    ) -> None:
        """Let each service identity do what its job needs on the topics of ``topic_prefix``
        (and the dispatcher on consumer groups ``dispatcher_group.*``, default
        ``behalf-dispatcher.*``); nothing else is allowed. Without ``create`` the registry and
        dispatcher may not create topics, as in production: create them as ``behalf-admin``."""
        args = [topic_prefix, *([dispatcher_group] if dispatcher_group else [])]
        env = {**self._sasl_env("grant ACLs on"), "BEHALF_KAFKA_ACL_CREATE": str(int(create))}
        _run_script(KAFKA_SCRIPT, "acls", env, *args)

    def set_password(self, user: str) -> None:
        """Give ``user`` a new SCRAM password (rotation); ``client_env`` returns the new one."""
        _run_script(KAFKA_SCRIPT, "set-password", self._sasl_env("rotate a password on"), user)

    def _sasl_env(self, what: str) -> Mapping[str, str]:
        if not self.sasl:
            raise InfraError(f"cannot {what} a Kafka broker without SASL")
        return self._local_env(what)

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM), or do nothing for an external one."""
        self._stop()

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would; ``restart()`` brings it back."""
        _run_script(KAFKA_SCRIPT, "kill", self._local_env("kill"))

    def freeze(self) -> None:
        """Stop the broker's process (SIGSTOP), as a stalled disk or a long pause would: its
        connections stay open and nothing answers; ``thaw()`` lets it go on."""
        os.kill(self._pid(), signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self._pid(), signal.SIGCONT)

    def _pid(self) -> int:
        return int(Path(self._local_env("freeze")["BEHALF_KAFKA_DIR"], "kafka.pid").read_text())

    def restart(self, *, clean: bool = True) -> None:
        """Stop (cleanly, or by SIGKILL when ``clean`` is false) and start on the same data."""
        env = self._local_env("restart")
        _run_script(KAFKA_SCRIPT, "stop" if clean else "kill", env)
        _run_script(KAFKA_SCRIPT, "start", env)

    def start(self) -> None:
        """Start the broker again after ``stop()`` or ``kill()``, keeping its data."""
        _run_script(KAFKA_SCRIPT, "start", self._local_env("start"))

    def _local_env(self, what: str) -> Mapping[str, str]:
        if self._env is None:
            raise InfraError(f"cannot {what} a Kafka broker this harness did not start")
        return self._env


def start_kafka(base_dir: Path, *, sasl: bool = False, full_jit: bool = False) -> KafkaServer:
    """Start a Kafka broker in ``base_dir / "kafka"`` on free ports, or use an existing one.

    With ``sasl`` the broker (in ``base_dir / "kafka-sasl"``, always a local process) has one
    SASL_SSL listener with SCRAM-SHA-512 users per service identity (``KAFKA_IDENTITIES``)
    and the StandardAuthorizer; call ``grant_service_acls(prefix)`` before services use it.
    With ``full_jit`` a local broker runs with C2 as well (``BEHALF_KAFKA_JIT=full``): slower to
    start, cheaper per request once warm.
    """
    if not sasl:
        external = os.environ.get("BEHALF_KAFKA_BOOTSTRAP")
        if external:
            return KafkaServer(bootstrap=external)
        if _use_testcontainers():
            return _start_kafka_container()
    folder = base_dir / ("kafka-sasl" if sasl else "kafka")
    env = {
        "BEHALF_KAFKA_DIR": str(folder),
        "BEHALF_KAFKA_PORT": str(free_port()),
        "BEHALF_KAFKA_CONTROLLER_PORT": str(free_port()),
        "BEHALF_KAFKA_SASL": "1" if sasl else "0",
        "BEHALF_KAFKA_JIT": "full" if full_jit else "quick",
        "BEHALF_KAFKA_ACL_PREFIX": "",  # tests grant ACLs for their own topic prefix
        # Lets kafka.sh probe readiness with a real metadata request through aiokafka.
        "BEHALF_PYTHON": sys.executable,
    }
    bootstrap = _run_script(KAFKA_SCRIPT, "start", env)
    return KafkaServer(
        bootstrap=bootstrap,
        _env=env,
        _stop=partial(_run_script, KAFKA_SCRIPT, "stop", env),
        ca_file=str(folder / "sasl" / "ca.pem") if sasl else None,
    )


def _start_kafka_container() -> KafkaServer:
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-not-found]

    container: Any = KafkaContainer().with_kraft().start()
    bootstrap: str = container.get_bootstrap_server()
    return KafkaServer(bootstrap=bootstrap, _stop=container.stop)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_url(url: str, name: str) -> str:
    """Return ``url`` with its database replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database_from_template(admin_url: str, template: str, name: str) -> str:
    """Create database ``name`` as a copy of ``template``; return the new database's URL.

    PostgreSQL refuses to copy a template that has other open connections, so close every
    connection to ``template`` (pools included) first. ``admin_url`` may point at any database
    other than ``template`` and ``name``.
    """
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            f"CREATE DATABASE {_quote_ident(name)} TEMPLATE {_quote_ident(template)}"
        )
    finally:
        await conn.close()
    return database_url(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, closing any connections still open to it."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()
