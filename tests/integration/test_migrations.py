"""Migrations apply to an empty database and are idempotent."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from behalf.common.pg import connect_pool, load_migrations, migrate
from tests.harness.infra import database_url as with_database
from tests.harness.infra import drop_database


@pytest.mark.parametrize(
    ("package", "schema"),
    [
        ("behalf.registry", "registry"),
        ("behalf.dispatcher", "dispatcher"),
        ("behalf.console", "console"),
    ],
)
async def test_migrations_apply_from_zero_then_do_nothing(
    database_url: str, package: str, schema: str
) -> None:
    """A fresh database gets every migration once; a second run applies none."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(database_url, name)
    pool = await connect_pool(url, schema=schema, timeout_seconds=10)
    try:
        first = await migrate(pool, package)
        second = await migrate(pool, package)
        assert first == [m.version for m in load_migrations(package)]
        assert second == []
        recorded = await pool.fetchval("SELECT count(*) FROM schema_migrations")
        assert recorded == len(first)
    finally:
        await pool.close()
        await drop_database(database_url, name)
