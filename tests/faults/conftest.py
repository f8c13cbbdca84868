"""Fixtures for the fault suite: servers that scenarios may kill, and a shared pair that they don't.

Every test here is marked ``faults``. A scenario that kills or restarts Kafka or PostgreSQL asks
for ``own_kafka`` / ``own_postgres`` and gets a server of its own; the session-wide
``shared_postgres`` / ``shared_kafka`` are never stopped before the session ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: kills real components under load (slow)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def faults_base_dir() -> Iterator[Path]:
    """Folder for the fault suite's servers, removed after the session."""
    path = default_base_dir() / "faults"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # the per-process folder, if nothing else uses it


@pytest.fixture(scope="session")
def shared_postgres(faults_base_dir: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server no scenario stops."""
    server = start_postgres(faults_base_dir / "shared")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_kafka(faults_base_dir: Path) -> Iterator[KafkaServer]:
    """A Kafka broker no scenario stops."""
    server = start_kafka(faults_base_dir / "shared")
    yield server
    server.stop()


@pytest.fixture
def own_kafka(faults_base_dir: Path) -> Iterator[KafkaServer]:
    """A Kafka broker for this test alone, which it may kill and restart."""
    if os.environ.get("BEHALF_KAFKA_BOOTSTRAP"):
        pytest.skip("needs a broker it can kill; BEHALF_KAFKA_BOOTSTRAP points elsewhere")
    path = faults_base_dir / f"own-{uuid.uuid4().hex[:8]}"
    server = start_kafka(path)
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_postgres(faults_base_dir: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test alone, which it may restart."""
    if os.environ.get("BEHALF_DATABASE_URL"):
        pytest.skip("needs a server it can restart; BEHALF_DATABASE_URL points elsewhere")
    path = faults_base_dir / f"own-{uuid.uuid4().hex[:8]}"
    server = start_postgres(path)
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(path, ignore_errors=True)
