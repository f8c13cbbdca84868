"""Idempotency keys: the first response to a create, kept (encrypted by the caller) for 24 h."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from behalf.registry.store._rows import Connection
from behalf.registry.store.locks import lock_until_commit

RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class Remembered:
    """A response stored under a key, with the hash of the request that made it."""

    request_hash: bytes
    response: bytes


async def lock(conn: Connection, tenant_id: str, operation: str, key: str) -> None:
    """Serialise callers of one key until the transaction ends."""
    await lock_until_commit(conn, "idempotency", tenant_id, operation, key)


async def find(conn: Connection, tenant_id: str, operation: str, key: str) -> Remembered | None:
    row = await conn.fetchrow(
        """SELECT request_hash, response FROM idempotency_keys
           WHERE tenant_id = $1 AND operation = $2 AND idempotency_key = $3
             AND created_at > now() - $4::interval""",
        tenant_id,
        operation,
        key,
        RETENTION,
    )
    return Remembered(bytes(row["request_hash"]), bytes(row["response"])) if row else None


async def save(
    conn: Connection,
    tenant_id: str,
    operation: str,
    key: str,
    *,
    request_hash: bytes,
    response: bytes,
) -> None:
    """Remember a response (replacing an expired entry under the same key)."""
    await conn.execute(
        """INSERT INTO idempotency_keys
               (tenant_id, operation, idempotency_key, request_hash, response)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, operation, idempotency_key) DO UPDATE
           SET request_hash = EXCLUDED.request_hash, response = EXCLUDED.response,
               created_at = now()""",
        tenant_id,
        operation,
        key,
        request_hash,
        response,
    )
