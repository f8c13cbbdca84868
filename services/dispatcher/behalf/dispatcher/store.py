"""Delivery state in PostgreSQL: deliveries, their attempts, suspensions (asyncpg)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from behalf.common.errors import Unavailable
from behalf.common.ids import new_id
from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.payloads import WebhookMessage

PENDING = "pending"
RETRYING = "retrying"
SUCCEEDED = "succeeded"
DEAD = "dead"
OPEN_STATES = (PENDING, RETRYING)
MAX_ERROR = 500

_COLUMNS = """delivery_id, tenant_id, endpoint_id, event_id, event_type, webhook_id, state,
    attempt_count, cycle_start, payload, next_attempt_at, last_status_code, last_error,
    created_at, updated_at"""
# What the API shows, read from `listed_deliveries` (parked deliveries included): no payload.
_LISTED = _COLUMNS.replace("payload,", "''::bytea AS payload,")


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery as stored."""

    delivery_id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    webhook_id: str
    state: str
    attempt_count: int
    cycle_start: int
    payload: bytes
    next_attempt_at: datetime | None
    last_status_code: int
    last_error: str
    created_at: datetime
    updated_at: datetime

    @property
    def attempts_in_cycle(self) -> int:
        return self.attempt_count - self.cycle_start


@dataclass(frozen=True)
class AttemptRow:
    """One recorded attempt."""

    attempt_number: int
    attempted_at: datetime
    status_code: int
    latency_ms: float
    error: str
    response_body: str


@dataclass(frozen=True)
class DeliveryFilter:
    """ListDeliveries filters; empty values do not filter."""

    endpoint_id: str = ""
    event_id: str = ""
    state: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row of the previous page."""

    created_at: datetime
    delivery_id: str


def _row(record: asyncpg.Record) -> DeliveryRow:
    return DeliveryRow(**dict(record))


COLUMNS = _COLUMNS
row_from = _row


class DeliveryStore:
    """Every read and write of the dispatcher's tables."""

    def __init__(self, pool: asyncpg.Pool | None = None) -> None:
        self._db = pool

    def attach(self, pool: asyncpg.Pool) -> None:
        """Use `pool` from now on (the service registers its servicer before connecting)."""
        self._db = pool

    @property
    def _pool(self) -> asyncpg.Pool:
        if self._db is None:
            raise Unavailable("the dispatcher is starting")
        return self._db

    async def create_for_event(
        self, message: WebhookMessage, endpoint_ids: Sequence[str]
    ) -> list[DeliveryRow]:
        """One delivery per endpoint, idempotent on (event, endpoint): a redelivered event
        yields the same rows, with the same webhook ids."""
        if not endpoint_ids:
            return []
        ids = list(endpoint_ids)
        async with self._pool.acquire() as conn:
            await conn.executemany(
                """INSERT INTO deliveries (delivery_id, tenant_id, endpoint_id, event_id,
                       event_type, webhook_id, state, payload)
                   VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)
                   ON CONFLICT (event_id, endpoint_id) DO NOTHING""",
                [
                    (
                        new_id("dlv"),
                        message.tenant_id,
                        endpoint_id,
                        message.event_id,
                        message.event_type,
                        new_id("msg"),
                        message.body,
                    )
                    for endpoint_id in ids
                ],
            )
            records = await conn.fetch(
                f"""SELECT {_COLUMNS} FROM deliveries
                    WHERE event_id = $1 AND endpoint_id = ANY($2::text[]) AND tenant_id = $3""",
                message.event_id,
                ids,
                message.tenant_id,
            )
        return [_row(r) for r in records]

    async def get(self, delivery_id: str) -> DeliveryRow | None:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM deliveries WHERE delivery_id = $1", delivery_id
        )
        return _row(record) if record else None

    async def record_attempt(
        self,
        row: DeliveryRow,
        outcome: AttemptOutcome,
        *,
        state: str,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record attempt `row.attempt_count + 1` and the new state, unless another worker
        recorded that attempt first (then nothing changes and False is returned)."""
        number = row.attempt_count + 1
        error = outcome.error[:MAX_ERROR]
        async with self._pool.acquire() as conn, conn.transaction():
            updated = await conn.fetchval(
                """UPDATE deliveries SET attempt_count = $2, state = $3, next_attempt_at = $4,
                       last_status_code = $5, last_error = $6, updated_at = now(),
                       dead_at = CASE WHEN $3 = 'dead' THEN now() ELSE NULL END
                   WHERE delivery_id = $1 AND attempt_count = $7
                       AND state IN ('pending', 'retrying')
                   RETURNING 1""",
                row.delivery_id,
                number,
                state,
                next_attempt_at,
                outcome.status_code,
                error,
                row.attempt_count,
            )
            if updated is None:
                return False
            await conn.execute(
                """INSERT INTO delivery_attempts (delivery_id, attempt_number, attempted_at,
                       status_code, latency_ms, error, response_body)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                row.delivery_id,
                number,
                outcome.started_at,
                outcome.status_code,
                outcome.latency_seconds * 1000.0,
                error,
                outcome.response_body,
            )
        return True

    async def park(
        self, row: DeliveryRow, *, state: str, next_attempt_at: datetime | None, reason: str
    ) -> bool:
        """Move an open delivery to `retrying` or `dead` without an attempt (saturated,
        suspended or removed endpoint); False if it moved on meanwhile."""
        updated = await self._pool.fetchval(
            """UPDATE deliveries SET state = $2, next_attempt_at = $3, last_error = $4,
                   updated_at = now(),
                   dead_at = CASE WHEN $2 = 'dead' THEN now() ELSE NULL END
               WHERE delivery_id = $1 AND attempt_count = $5 AND state IN ('pending', 'retrying')
               RETURNING 1""",
            row.delivery_id,
            state,
            next_attempt_at,
            reason[:MAX_ERROR],
            row.attempt_count,
        )
        return updated is not None

    async def list_deliveries(
        self, tenant_id: str, where: DeliveryFilter, after: Cursor | None, limit: int
    ) -> list[DeliveryRow]:
        """Newest first, keyset-paginated; parked deliveries show as pending."""
        clauses = ["tenant_id = $1"]
        args: list[object] = [tenant_id]

        def add(sql: str, value: object) -> None:
            args.append(value)
            clauses.append(sql.replace("?", f"${len(args)}"))

        if where.endpoint_id:
            add("endpoint_id = ?", where.endpoint_id)
        if where.event_id:
            add("event_id = ?", where.event_id)
        if where.state:
            add("state = ?", where.state)
        if where.start_time is not None:
            add("created_at >= ?", where.start_time)
        if where.end_time is not None:
            add("created_at < ?", where.end_time)
        if after is not None:
            args.extend([after.created_at, after.delivery_id])
            clauses.append(f"(created_at, delivery_id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        sql = (
            f"SELECT {_LISTED} FROM listed_deliveries WHERE {' AND '.join(clauses)} "
            f"ORDER BY created_at DESC, delivery_id DESC LIMIT ${len(args)}"
        )
        return [_row(r) for r in await self._pool.fetch(sql, *args)]

    async def get_with_attempts(
        self, tenant_id: str, delivery_id: str
    ) -> tuple[DeliveryRow, list[AttemptRow]] | None:
        async with self._pool.acquire() as conn:
            record = await conn.fetchrow(
                f"""SELECT {_LISTED} FROM listed_deliveries
                    WHERE delivery_id = $1 AND tenant_id = $2""",
                delivery_id,
                tenant_id,
            )
            if record is None:
                return None
            attempts = await conn.fetch(
                """SELECT attempt_number, attempted_at, status_code, latency_ms, error,
                       response_body
                   FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt_number""",
                delivery_id,
            )
        return _row(record), [AttemptRow(**dict(a)) for a in attempts]

    async def redrive(
        self,
        tenant_id: str,
        *,
        delivery_id: str = "",
        endpoint_id: str = "",
        dead_since: datetime | None = None,
        enqueue: Callable[[list[DeliveryRow]], Awaitable[None]],
        limit: int = 10_000,
    ) -> int:
        """Move dead deliveries back to pending in a new retry cycle; `enqueue` (a durable
        produce) runs inside the transaction, so either both happen or neither."""
        async with self._pool.acquire() as conn, conn.transaction():
            if delivery_id:
                records = await conn.fetch(
                    f"""SELECT {_COLUMNS} FROM deliveries
                        WHERE tenant_id = $1 AND delivery_id = $2 AND state = 'dead'
                        FOR UPDATE""",
                    tenant_id,
                    delivery_id,
                )
            else:
                records = await conn.fetch(
                    f"""SELECT {_COLUMNS} FROM deliveries
                        WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'dead'
                          AND ($3::timestamptz IS NULL OR dead_at >= $3)
                        ORDER BY dead_at LIMIT $4 FOR UPDATE""",
                    tenant_id,
                    endpoint_id,
                    dead_since,
                    limit,
                )
            rows = [_row(r) for r in records]
            if not rows:
                return 0
            updated = await conn.fetch(
                f"""UPDATE deliveries SET state = 'pending', cycle_start = attempt_count,
                       next_attempt_at = now(), dead_at = NULL, updated_at = now()
                    WHERE delivery_id = ANY($1::text[]) RETURNING {_COLUMNS}""",
                [r.delivery_id for r in rows],
            )
            await enqueue([_row(r) for r in updated])
        return len(rows)

    async def suspend_endpoint(self, tenant_id: str, endpoint_id: str, reason: str) -> None:
        await self._pool.execute(
            """INSERT INTO endpoint_suspensions (tenant_id, endpoint_id, reason)
               VALUES ($1, $2, $3) ON CONFLICT (tenant_id, endpoint_id) DO NOTHING""",
            tenant_id,
            endpoint_id,
            reason,
        )

    async def mark_suspension_reported(self, tenant_id: str, endpoint_id: str) -> None:
        await self._pool.execute(
            """UPDATE endpoint_suspensions SET reported = true
               WHERE tenant_id = $1 AND endpoint_id = $2""",
            tenant_id,
            endpoint_id,
        )

    async def unreported_suspensions(self, limit: int) -> list[tuple[str, str, str]]:
        """(tenant id, endpoint id, reason) of suspensions the registry has not acknowledged,
        oldest first."""
        rows = await self._pool.fetch(
            """SELECT tenant_id, endpoint_id, reason FROM endpoint_suspensions
               WHERE NOT reported ORDER BY suspended_at LIMIT $1""",
            limit,
        )
        return [(r["tenant_id"], r["endpoint_id"], r["reason"]) for r in rows]

    async def lift_suspensions(self, tenant_id: str, endpoint_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM endpoint_suspensions WHERE tenant_id = $1 AND endpoint_id = $2",
            tenant_id,
            endpoint_id,
        )

    async def suspended(self, tenant_id: str) -> frozenset[str]:
        rows = await self._pool.fetch(
            "SELECT endpoint_id FROM endpoint_suspensions WHERE tenant_id = $1", tenant_id
        )
        return frozenset(r["endpoint_id"] for r in rows)
