"""Run the real service processes (console entry points) for end-to-end tests."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness.infra import REPO_ROOT, free_port

# One credential per service identity; the registry is given only their SHA-256 digests.
VERIFIER_TOKEN = "test-verifier-token-" + secrets.token_hex(16)
DISPATCHER_TOKEN = "test-dispatcher-token-" + secrets.token_hex(16)
OPERATOR_TOKEN = "test-operator-token-" + secrets.token_hex(16)
MASTER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()


def token_digest(token: str) -> str:
    """What the registry's BEHALF_<IDENTITY>_TOKEN_DIGESTS lists: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def tool(name: str) -> str:
    """Path of a Go tool installed by `make tools` into .bin."""
    return str(REPO_ROOT / ".bin" / name)


def entry_point(name: str) -> list[str]:
    """The command that runs a service, from the interpreter running the tests."""
    return [sys.executable, "-m", f"behalf.{name}"]


@dataclass
class ServiceProcess:
    """One running service process with its own ports and log file."""

    name: str
    grpc_port: int
    metrics_port: int
    log_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)
    internal_port: int = 0  # the registry's RegistryInternalService listener

    @property
    def http_url(self) -> str:
        """The verifier's HTTP/JSON API (BEHALF_HTTP_PORT)."""
        return f"http://127.0.0.1:{self.env['BEHALF_HTTP_PORT']}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def internal_target(self) -> str:
        return f"127.0.0.1:{self.internal_port}"

    def channel(self) -> grpc.Channel:
        """A channel to this service as its peers reach it (see `client_credentials`)."""
        credentials = client_credentials(self.env)
        if credentials is None:
            return grpc.insecure_channel(self.target)
        return grpc.secure_channel(self.target, credentials)

    def health_status(self, timeout: float = 1.0) -> int:
        with self.channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
            return int(reply.status)

    def wait_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.process.returncode}:\n{self.log()}")
            try:
                if self.health_status() == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not SERVING after {timeout}s:\n{self.log()}")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def client_credentials(env: Mapping[str, str]) -> grpc.ChannelCredentials | None:
    """How a test reaches a service started with `env`: plaintext (None) unless it serves TLS,
    then TLS trusting BEHALF_TLS_CA_FILE and presenting the services' own client certificate
    (BEHALF_TLS_CLIENT_CERT_FILE) when they have one."""
    if not env.get("BEHALF_TLS_CERT_FILE"):
        return None
    root = Path(env["BEHALF_TLS_CA_FILE"]).read_bytes()
    cert, key = env.get("BEHALF_TLS_CLIENT_CERT_FILE"), env.get("BEHALF_TLS_CLIENT_KEY_FILE")
    if not cert or not key:
        return grpc.ssl_channel_credentials(root)
    return grpc.ssl_channel_credentials(root, Path(key).read_bytes(), Path(cert).read_bytes())


def base_env(database_url: str, kafka_bootstrap: str, topic_prefix: str) -> dict[str, str]:
    """Environment shared by every service of one test stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHALF_")}
    env.update(
        BEHALF_DATABASE_URL=database_url,
        BEHALF_KAFKA_BOOTSTRAP=kafka_bootstrap,
        BEHALF_TOPIC_PREFIX=topic_prefix,
        BEHALF_TOPIC_PARTITIONS="2",
        BEHALF_VERIFIER_TOKEN=VERIFIER_TOKEN,
        BEHALF_DISPATCHER_TOKEN=DISPATCHER_TOKEN,
        BEHALF_VERIFIER_TOKEN_DIGESTS=token_digest(VERIFIER_TOKEN),
        BEHALF_DISPATCHER_TOKEN_DIGESTS=token_digest(DISPATCHER_TOKEN),
        BEHALF_OPERATOR_TOKEN_DIGESTS=token_digest(OPERATOR_TOKEN),
        BEHALF_MASTER_KEY=MASTER_KEY,
        BEHALF_STARTUP_TIMEOUT_SECONDS="60",
        BEHALF_GRACE_SECONDS="5",
        BEHALF_LOG_LEVEL="INFO",
        BEHALF_ALLOW_PRIVATE_WEBHOOK_URLS="true",
        # One process per verifier: a test that kills or inspects "the verifier" means one
        # process; tests/integration/test_verifier_workers.py runs several.
        BEHALF_VERIFIER_WORKERS="1",
    )
    return env


def _port(given: str | None) -> int:
    """The port a test asked for, or a free one (also when it passes a malformed value on
    purpose, to see the service refuse it)."""
    return int(given) if given and given.isdigit() else free_port()


def start_service(
    name: str, env: dict[str, str], log_dir: Path, **overrides: str
) -> ServiceProcess:
    """Start `behalf.<name>` on free ports (or those given in `overrides`); does not wait.

    The registry also gets a free internal port (BEHALF_INTERNAL_PORT) unless given one. A
    restart on the same port appends to the previous process's log file.
    """
    grpc_port = _port(overrides.get("BEHALF_GRPC_PORT"))
    metrics_port = _port(overrides.get("BEHALF_METRICS_PORT"))
    ports = {"BEHALF_GRPC_PORT": str(grpc_port), "BEHALF_METRICS_PORT": str(metrics_port)}
    internal_port = 0
    if name == "registry":
        internal_port = _port(overrides.get("BEHALF_INTERNAL_PORT"))
        ports["BEHALF_INTERNAL_PORT"] = str(internal_port)
    if name == "verifier":  # never the default 8081: tests run many verifiers at once
        ports["BEHALF_HTTP_PORT"] = str(_port(overrides.get("BEHALF_HTTP_PORT")))
    full_env = {**env, **ports, **overrides}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{grpc_port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            entry_point(name), env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    return ServiceProcess(name, grpc_port, metrics_port, log_path, process, full_env, internal_port)
