"""PostgreSQL pools (one schema per service) and the forward-only SQL migration runner."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

import asyncpg
import structlog

from behalf.common.startup import retry_until

_log = structlog.get_logger("pg")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def describe_url(url: str) -> str:
    """host:port/db of a database URL, without user or password, for logs and errors."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


async def connect_pool(
    url: str, *, schema: str, timeout_seconds: float, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """Open a pool whose connections use `schema` first on their search path."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"bad schema name {schema!r}")

    async def open_pool() -> asyncpg.Pool:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=5,
            server_settings={"search_path": f"{schema},public", "application_name": schema},
        )
        assert pool is not None
        return pool

    return await retry_until(
        f"PostgreSQL at {describe_url(url)}", open_pool, timeout_seconds=timeout_seconds
    )


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """Read `<package>/migrations/NNNN_name.sql` in version order."""
    found: list[Migration] = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {package}")
    return found


async def migrate(pool: asyncpg.Pool, package: str) -> list[int]:
    """Apply every migration not applied yet, each in its own transaction; return those applied.

    A session advisory lock serialises concurrent replicas, so two starting at once is safe.
    """
    migrations = load_migrations(package)
    applied_now: list[int] = []
    async with pool.acquire() as conn:
        lock_key = zlib.crc32(package.encode()) & 0x7FFFFFFF
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in migrations:
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                applied_now.append(migration.version)
                _log.info("migration_applied", version=migration.version, name=migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now


async def delete_in_batches(pool: asyncpg.Pool, statement: str, *args: object, batch: int) -> int:
    """Run a DELETE that removes at most `$1` (= `batch`) rows, until it removes fewer; how many
    in all. Each batch is a short statement of its own: a large backlog holds no long
    transaction and no lock a writer would wait for."""
    deleted = 0
    while True:
        status = await pool.execute(statement, batch, *args)
        count = int(status.rsplit(" ", 1)[-1])
        deleted += count
        if count < batch:
            return deleted
