"""Session fixtures for integration tests: one real PostgreSQL server and one Kafka broker."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.infra import (
    KafkaServer,
    PostgresServer,
    default_base_dir,
    start_kafka,
    start_postgres,
)


@pytest.fixture(scope="session")
def infra_base_dir() -> Iterator[Path]:
    """Folder for the servers' data and logs, removed after the session."""
    # A subfolder of its own: the fault suite keeps its servers beside it, and removing the
    # whole per-process folder here would pull their data out from under them.
    path = default_base_dir() / "integration"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # the per-process folder, once nothing else uses it


@pytest.fixture(scope="session")
def postgres_server(infra_base_dir: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session."""
    server = start_postgres(infra_base_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_server(infra_base_dir: Path) -> Iterator[KafkaServer]:
    """A single-node Kafka broker for the whole session."""
    server = start_kafka(infra_base_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres_server: PostgresServer) -> str:
    """URL of the session's ``behalf`` database."""
    return postgres_server.url


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_server: KafkaServer) -> str:
    """Bootstrap address (``host:port``) of the session's Kafka broker."""
    return kafka_server.bootstrap
