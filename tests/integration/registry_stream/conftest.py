"""Fixtures for the registry's stream tests: a fresh migrated database and fresh topics per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from behalf.common.kafka import Topics, ensure_topics
from behalf.common.pg import connect_pool, migrate
from behalf.registry.watch import WatchHub
from tests.harness.infra import create_database_from_template, drop_database
from tests.harness.infra import database_url as with_database
from tests.integration.registry_stream.stream_support import Database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def registry_template(database_url: str) -> AsyncIterator[str]:
    """Name of a database with every registry migration applied, copied by each test."""
    import asyncpg

    name = f"regstream_tmpl_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    pool = await connect_pool(
        with_database(database_url, name), schema="registry", timeout_seconds=30
    )
    try:
        await migrate(pool, "behalf.registry")
    finally:
        await pool.close()
    yield name
    await drop_database(database_url, name)


@pytest.fixture
async def db(database_url: str, registry_template: str) -> AsyncIterator[Database]:
    """A fresh registry database (copied from the migrated template) and a pool on it."""
    name = f"regstream_{uuid.uuid4().hex[:12]}"
    url = await create_database_from_template(database_url, registry_template, name)
    pool = await connect_pool(url, schema="registry", timeout_seconds=30, max_size=20)
    try:
        yield Database(url=url, pool=pool)
    finally:
        await pool.close()
        await drop_database(database_url, name)


@pytest.fixture
async def hub(db: Database) -> AsyncIterator[WatchHub]:
    """A started hub on the test's database."""
    watch = WatchHub(db.pool, database_url=db.url, heartbeat_seconds=0.2)
    await watch.start()
    yield watch
    await watch.stop()


@pytest.fixture
async def topics(kafka_bootstrap: str) -> Topics:
    """A unique topic prefix with its lifecycle and decisions topics created (3 partitions)."""
    prefix = f"rs{uuid.uuid4().hex[:12]}"
    named = Topics(prefix)
    await ensure_topics(
        kafka_bootstrap, [named.lifecycle, named.decisions], partitions=3, timeout_seconds=60
    )
    return named
