"""Webhook endpoints; signing secrets are stored only as ciphertexts made by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from behalf.registry.store._rows import Executor, one, set_time
from behalf.registry.store.paging import Cursor
from behalf.registry.store.webhook_health import HEALTH_JOIN, set_health
from behalf.v1 import resources_pb2

_LIVE = "deleted_at IS NULL"


def to_endpoint(row: asyncpg.Record) -> resources_pb2.WebhookEndpoint:
    endpoint = resources_pb2.WebhookEndpoint(
        endpoint_id=row["endpoint_id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        event_types=row["event_types"],
        disabled=row["disabled"],
        description=row["description"],
        rate_limit_per_second=row["rate_limit_per_second"],
    )
    set_time(endpoint.create_time, row["created_at"])
    set_time(endpoint.secret_rotate_time, row["secret_rotated_at"])
    set_time(endpoint.previous_secret_expire_time, row["previous_secret_expires_at"])
    return endpoint


def _to_endpoint_with_health(row: asyncpg.Record) -> resources_pb2.WebhookEndpoint:
    endpoint = to_endpoint(row)
    set_health(endpoint, row)
    return endpoint


@dataclass(frozen=True)
class StoredTarget:
    """An endpoint with the ciphertexts of the secrets that sign for it now."""

    endpoint: resources_pb2.WebhookEndpoint
    secret_ciphertexts: tuple[bytes, ...]


async def insert(
    conn: Executor,
    *,
    endpoint_id: str,
    tenant_id: str,
    url: str,
    event_types: Sequence[str],
    description: str,
    secret_ciphertext: bytes,
    rate_limit_per_second: float = 0.0,
) -> resources_pb2.WebhookEndpoint:
    row = await conn.fetchrow(
        """INSERT INTO webhook_endpoints (endpoint_id, tenant_id, url, event_types, description,
                                          secret_ciphertext, rate_limit_per_second)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
        endpoint_id,
        tenant_id,
        url,
        list(event_types),
        description,
        secret_ciphertext,
        rate_limit_per_second,
    )
    return to_endpoint(one(row))


async def count_live(conn: Executor, tenant_id: str) -> int:
    """How many endpoints the tenant has (enabled or not)."""
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1 AND {_LIVE}", tenant_id
    )
    return count


async def get(
    conn: Executor, tenant_id: str, endpoint_id: str
) -> resources_pb2.WebhookEndpoint | None:
    row = await conn.fetchrow(
        f"""SELECT * FROM webhook_endpoints w {HEALTH_JOIN}
            WHERE tenant_id = $1 AND endpoint_id = $2 AND {_LIVE}""",
        tenant_id,
        endpoint_id,
    )
    return _to_endpoint_with_health(row) if row else None


async def list_page(
    conn: Executor, tenant_id: str, *, after: Cursor | None, limit: int
) -> list[tuple[resources_pb2.WebhookEndpoint, datetime]]:
    rows = await conn.fetch(
        f"""SELECT * FROM webhook_endpoints w {HEALTH_JOIN} WHERE tenant_id = $1 AND {_LIVE}
              AND ($2::timestamptz IS NULL OR (created_at, endpoint_id) > ($2, $3))
            ORDER BY created_at, endpoint_id LIMIT $4""",
        tenant_id,
        after.created_at if after else None,
        after.row_id if after else "",
        limit,
    )
    return [(_to_endpoint_with_health(r), r["created_at"]) for r in rows]


async def set_disabled(
    conn: Executor, tenant_id: str, endpoint_id: str, *, disabled: bool
) -> tuple[resources_pb2.WebhookEndpoint, bool] | None:
    """The endpoint after the change, and whether anything changed; None if absent."""
    return await _set(conn, tenant_id, endpoint_id, "disabled", disabled)


async def set_rate_limit(
    conn: Executor, tenant_id: str, endpoint_id: str, *, rate_limit_per_second: float
) -> tuple[resources_pb2.WebhookEndpoint, bool] | None:
    """The endpoint after the change, and whether anything changed; None if absent."""
    return await _set(conn, tenant_id, endpoint_id, "rate_limit_per_second", rate_limit_per_second)


_SETTABLE = frozenset({"disabled", "rate_limit_per_second"})


async def _set(
    conn: Executor, tenant_id: str, endpoint_id: str, column: str, value: object
) -> tuple[resources_pb2.WebhookEndpoint, bool] | None:
    """Set one column of a live endpoint (locked first), telling whether it changed."""
    assert column in _SETTABLE  # never a caller's string in the SQL
    row = await conn.fetchrow(
        f"""WITH old AS (SELECT {column} FROM webhook_endpoints
                         WHERE tenant_id = $1 AND endpoint_id = $2 AND {_LIVE} FOR UPDATE)
            UPDATE webhook_endpoints w SET {column} = $3 FROM old
            WHERE w.tenant_id = $1 AND w.endpoint_id = $2
            RETURNING w.*, old.{column} <> $3 AS changed""",
        tenant_id,
        endpoint_id,
        value,
    )
    return (to_endpoint(row), row["changed"]) if row else None


async def rotate(
    conn: Executor,
    tenant_id: str,
    endpoint_id: str,
    *,
    secret_ciphertext: bytes,
    previous_ciphertext: bytes,
    overlap_seconds: float,
) -> resources_pb2.WebhookEndpoint | None:
    row = await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET
                previous_secret_ciphertext = $4,
                previous_secret_expires_at = now() + make_interval(secs => $5),
                secret_ciphertext = $3,
                secret_rotated_at = now()
            WHERE tenant_id = $1 AND endpoint_id = $2 AND {_LIVE} RETURNING *""",
        tenant_id,
        endpoint_id,
        secret_ciphertext,
        previous_ciphertext,
        overlap_seconds,
    )
    return to_endpoint(row) if row else None


async def current_ciphertext(conn: Executor, tenant_id: str, endpoint_id: str) -> bytes | None:
    """The current secret's ciphertext, locking the row for a rotation."""
    value = await conn.fetchval(
        f"""SELECT secret_ciphertext FROM webhook_endpoints
            WHERE tenant_id = $1 AND endpoint_id = $2 AND {_LIVE} FOR UPDATE""",
        tenant_id,
        endpoint_id,
    )
    return bytes(value) if value is not None else None


async def mark_deleted(
    conn: Executor, tenant_id: str, endpoint_id: str
) -> resources_pb2.WebhookEndpoint | None:
    row = await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET deleted_at = now(), disabled = true
            WHERE tenant_id = $1 AND endpoint_id = $2 AND {_LIVE} RETURNING *""",
        tenant_id,
        endpoint_id,
    )
    return to_endpoint(row) if row else None


async def targets(conn: Executor, tenant_id: str) -> list[StoredTarget]:
    """Every live endpoint, with the current ciphertext first and the previous one in overlap."""
    rows = await conn.fetch(
        f"""SELECT *, previous_secret_expires_at > now() AS in_overlap FROM webhook_endpoints
            WHERE tenant_id = $1 AND {_LIVE} ORDER BY created_at, endpoint_id""",
        tenant_id,
    )
    found = []
    for row in rows:
        secrets = [bytes(row["secret_ciphertext"])]
        if row["in_overlap"] and row["previous_secret_ciphertext"] is not None:
            secrets.append(bytes(row["previous_secret_ciphertext"]))
        found.append(StoredTarget(to_endpoint(row), tuple(secrets)))
    return found
