"""`behalf-bootstrap` creates a tenant and a working admin key on a fresh database."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from behalf.common.callers import Role, key_digest
from behalf.common.pg import connect_pool
from behalf.registry.bootstrap import bootstrap
from behalf.registry.store import tenants
from tests.harness.infra import database_url as with_database
from tests.harness.infra import drop_database

pytestmark = pytest.mark.integration


async def test_bootstrap_migrates_and_prints_a_working_admin_key(database_url: str) -> None:
    """Bootstrap applies migrations, creates the tenant, and its key is stored only as a hash."""
    name = f"regboot_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(database_url, name)
    try:
        printed = await bootstrap(url, "Seed tenant")
        assert printed["api_key"].startswith("bhk_admin_")
        pool = await connect_pool(url, schema="registry", timeout_seconds=10)
        try:
            found = await tenants.find_key(pool, key_digest(printed["api_key"]))
            assert found is not None
            assert (found.tenant_id, found.role) == (printed["tenant_id"], Role.ADMIN)
            stored = await pool.fetch("SELECT * FROM api_keys")
            assert printed["api_key"] not in repr([dict(r) for r in stored])
            events = await pool.fetch("SELECT event_type FROM outbox")
            assert [e["event_type"] for e in events] == ["api_key.created"]
        finally:
            await pool.close()
    finally:
        await drop_database(database_url, name)
