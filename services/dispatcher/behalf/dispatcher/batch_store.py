"""Delivery state written in batches: one statement per batch, never one per delivery.

A consumer batch of events becomes one INSERT of every delivery row (the deliveries to an
endpoint failing here become one compact parked record per endpoint instead); the outcomes the
lanes produce meanwhile become one transaction (an UPDATE of the deliveries and one INSERT of
their attempts). Every write is guarded by the attempt number it expects, so a stale duplicate
changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import asyncpg

from behalf.common.errors import Unavailable
from behalf.common.ids import new_ids
from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.payloads import WebhookMessage
from behalf.dispatcher.store import COLUMNS, MAX_ERROR, PENDING, DeliveryRow, row_from


@dataclass(frozen=True)
class AttemptWrite:
    """Record attempt `row.attempt_count + 1` and move the delivery to `state`."""

    row: DeliveryRow
    outcome: AttemptOutcome
    state: str
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class ParkWrite:
    """Move an open delivery to `state` without an attempt."""

    row: DeliveryRow
    state: str
    next_attempt_at: datetime | None
    reason: str


_VALUES = """unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::bytea[]"""
_INSERT_DELIVERIES = f"""
    INSERT INTO deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type,
        webhook_id, state, payload)
    SELECT id, ten, ep, ev, et, wh, 'pending', pl
    FROM {_VALUES}) AS v(id, ten, ep, ev, et, wh, pl)
    ON CONFLICT (event_id, endpoint_id) DO NOTHING
    RETURNING delivery_id, created_at"""
# The same, and parked deliveries: one record per (tenant, endpoint), each the slice `lo:hi` of
# the events in $8-$10 (id, type, payload; sent once for all the endpoints parked for them),
# from $11-$14 (lo, hi, tenant, endpoint).
_INSERT_PARKED_AND_DELIVERIES = f"""
    WITH parked AS (
        INSERT INTO parked_deliveries (tenant_id, endpoint_id, size, event_ids, event_types,
            payloads)
        SELECT r.ten, r.ep, r.hi - r.lo + 1, ($8::text[])[r.lo:r.hi], ($9::text[])[r.lo:r.hi],
               ($10::bytea[])[r.lo:r.hi]
        FROM unnest($11::int[], $12::int[], $13::text[], $14::text[]) AS r(lo, hi, ten, ep))
    {_INSERT_DELIVERIES}"""
# Parked records at least `$1` seconds old whose endpoint is not in `$2` become pending delivery
# rows, oldest first, whole records until `$3` deliveries are reached. The rows keep the
# record's time (so a reclaim pass claims them at once); a key that has a row already (the
# event came again while its endpoint was not failing) keeps that row. Replicas unparking at
# once: one's DELETE waits for the other's and then finds the record gone.
_UNPARK = """
    WITH due AS (
        SELECT park_id, sum(size) OVER (ORDER BY park_id) - size AS before
        FROM parked_deliveries
        WHERE created_at < now() - make_interval(secs => $1)
          AND NOT (endpoint_id = ANY($2::text[]))
        ORDER BY park_id LIMIT $3),
    taken AS (
        DELETE FROM parked_deliveries p USING due
        WHERE p.park_id = due.park_id AND due.before < $3
        RETURNING p.*),
    expanded AS (
        INSERT INTO deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type,
            webhook_id, state, payload, created_at, updated_at)
        SELECT parked_delivery_id('dlv', u.ev, t.endpoint_id), t.tenant_id, t.endpoint_id,
               u.ev, u.et, parked_delivery_id('msg', u.ev, t.endpoint_id), 'pending', u.pl,
               t.created_at, t.created_at
        FROM taken t
        CROSS JOIN LATERAL unnest(t.event_ids, t.event_types, t.payloads) AS u(ev, et, pl)
        ON CONFLICT (event_id, endpoint_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) FROM expanded"""
# The oldest parked delivery of each endpoint in `$1` becomes a pending row, the rest stays
# parked: the probe of an endpoint whose breaker has cooled down, queued at once by the caller
# (touched now, so no other replica's reclaim takes it). A record it empties is removed.
_UNPARK_PROBES = f"""
    WITH head AS (
        SELECT p.* FROM unnest($1::text[]) AS e(endpoint_id)
        CROSS JOIN LATERAL (
            SELECT park_id, tenant_id, endpoint_id, size, created_at, event_ids[1] AS ev,
                   event_types[1] AS et, payloads[1] AS pl
            FROM parked_deliveries
            WHERE endpoint_id = e.endpoint_id
            ORDER BY park_id LIMIT 1
            FOR UPDATE SKIP LOCKED) p),
    emptied AS (
        DELETE FROM parked_deliveries p USING head h
        WHERE p.park_id = h.park_id AND h.size = 1),
    shrunk AS (
        UPDATE parked_deliveries p
        SET size = p.size - 1, event_ids = p.event_ids[2:], event_types = p.event_types[2:],
            payloads = p.payloads[2:]
        FROM head h WHERE p.park_id = h.park_id AND h.size > 1),
    made AS (
        INSERT INTO deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type,
            webhook_id, state, payload, created_at, updated_at)
        SELECT parked_delivery_id('dlv', ev, endpoint_id), tenant_id, endpoint_id, ev, et,
               parked_delivery_id('msg', ev, endpoint_id), 'pending', pl, created_at, now()
        FROM head
        ON CONFLICT (event_id, endpoint_id) DO NOTHING
        RETURNING *)
    SELECT {COLUMNS} FROM made"""


class BatchStore:
    """The dispatcher's hot-path writes (the same tables as `DeliveryStore`)."""

    def __init__(self, pool: asyncpg.Pool | None = None) -> None:
        self._db = pool

    def attach(self, pool: asyncpg.Pool) -> None:
        self._db = pool

    @property
    def _pool(self) -> asyncpg.Pool:
        if self._db is None:
            raise Unavailable("the dispatcher is starting")
        return self._db

    async def create_for_events(
        self,
        fanout: Sequence[tuple[WebhookMessage, Sequence[str]]],
        *,
        parked: Collection[str] = (),
    ) -> list[DeliveryRow]:
        """One delivery per (event, endpoint), idempotent: a redelivered event yields the
        same rows with the same webhook ids. One statement for the whole batch, and a second
        only for keys that existed already (a redelivered event). The deliveries to endpoints
        in `parked` (failing here) are written as one compact record per endpoint, in the same
        statement, and not returned: no ids are drawn for them (theirs derive from the key) and
        each event is sent once however many of its endpoints fail. `unpark` makes them rows
        once the endpoint recovers.

        Neither reads by the tenant: with `tenant_id = …` in the join, PostgreSQL may take the
        (tenant, endpoint, state) index and filter all of a busy endpoint's rows for each key
        (seconds per batch once a failing endpoint has a backlog); the unique (event_id,
        endpoint_id) index finds each row, and the tenant is compared here."""
        pairs = [(m, e) for m, endpoints in fanout for e in endpoints if e not in parked]
        parked_columns = _parked_columns(fanout, parked) if parked else None
        if not pairs and not parked_columns:
            return []
        keys = [
            (m, e, d, w)
            for (m, e), d, w in zip(
                pairs, new_ids("dlv", len(pairs)), new_ids("msg", len(pairs)), strict=True
            )
        ]
        async with self._pool.acquire() as conn:
            # Only the ids and the time come back: the rest of a new row is what was sent
            # (and the table's defaults), so no payload travels back and is decoded again.
            inserted = await conn.fetch(
                _INSERT_PARKED_AND_DELIVERIES if parked_columns else _INSERT_DELIVERIES,
                *_columns(keys),
                *(parked_columns or ()),
            )
            created_at = {r["delivery_id"]: r["created_at"] for r in inserted}
            rows = [_new_row(m, e, d, w, created_at[d]) for m, e, d, w in keys if d in created_at]
            existing = [(m, e) for m, e, d, _ in keys if d not in created_at]
            if existing:
                records = await conn.fetch(
                    f"""SELECT {_qualified("d")} FROM unnest($1::text[], $2::text[]) AS k(ev, ep)
                        JOIN deliveries d ON (d.event_id, d.endpoint_id) = (k.ev, k.ep)""",
                    [m.event_id for m, _ in existing],
                    [e for _, e in existing],
                )
                tenants = {(m.event_id, e): m.tenant_id for m, e in existing}
                found = [row_from(r) for r in records]
                rows += [
                    r for r in found if tenants.get((r.event_id, r.endpoint_id)) == r.tenant_id
                ]
        return rows

    async def write(self, attempts: Sequence[AttemptWrite], parks: Sequence[ParkWrite]) -> set[str]:
        """Apply every write in one transaction; the delivery ids that changed (the others
        had moved on already)."""
        changed: set[str] = set()
        if not attempts and not parks:
            return changed
        async with self._pool.acquire() as conn, conn.transaction():
            if attempts:
                changed |= await _write_attempts(conn, attempts)
            if parks:
                records = await conn.fetch(
                    """UPDATE deliveries d SET state = v.state, next_attempt_at = v.next_at,
                           last_error = v.reason, updated_at = now(),
                           dead_at = CASE WHEN v.state = 'dead' THEN now() ELSE NULL END
                       FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[],
                                   $5::text[]) AS v(id, prev, state, next_at, reason)
                       WHERE d.delivery_id = v.id AND d.attempt_count = v.prev
                         AND d.state IN ('pending', 'retrying')
                       RETURNING d.delivery_id""",
                    [p.row.delivery_id for p in parks],
                    [p.row.attempt_count for p in parks],
                    [p.state for p in parks],
                    [p.next_attempt_at for p in parks],
                    [p.reason[:MAX_ERROR] for p in parks],
                )
                changed |= {r["delivery_id"] for r in records}
        return changed

    async def unpark(self, older_than_seconds: float, failing: Sequence[str], limit: int) -> int:
        """Make parked deliveries to endpoints not in `failing` pending rows (about `limit` at
        most, whole records); how many rows were made."""
        made: int = await self._pool.fetchval(_UNPARK, older_than_seconds, list(failing), limit)
        return made

    async def unpark_probes(self, probing: Collection[str]) -> list[DeliveryRow]:
        """Make the oldest parked delivery of each endpoint in `probing` a pending row."""
        if not probing:
            return []
        return [row_from(r) for r in await self._pool.fetch(_UNPARK_PROBES, list(probing))]

    async def reclaim(
        self,
        older_than_seconds: float,
        exclude: Sequence[str],
        limit: int,
        *,
        retry_lost_after_seconds: float | None = None,
    ) -> list[DeliveryRow]:
        """Pending deliveries nobody touched for `older_than_seconds` (their process died
        after queueing them), and retrying ones `retry_lost_after_seconds` past due (their
        retry task was dropped: it came before its attempt was recorded), up to `limit` of each,
        claimed by making them pending and touching them; another replica skips them."""
        # Each kind walks its own partial index in order and stops at the limit.
        records = await self._pool.fetch(
            f"""WITH untouched AS (
                    SELECT delivery_id FROM deliveries
                    WHERE state = 'pending' AND updated_at < now() - make_interval(secs => $1)
                      AND NOT (delivery_id = ANY($2::text[]))
                    ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED),
                lost AS (
                    SELECT delivery_id FROM deliveries
                    WHERE state = 'retrying' AND $4::float8 IS NOT NULL
                      AND next_attempt_at < now() - make_interval(secs => $4)
                      AND NOT (delivery_id = ANY($2::text[]))
                    ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                UPDATE deliveries SET updated_at = now(), state = 'pending'
                WHERE delivery_id IN (SELECT delivery_id FROM untouched
                                      UNION ALL SELECT delivery_id FROM lost)
                RETURNING {COLUMNS}""",
            older_than_seconds,
            list(exclude),
            limit,
            retry_lost_after_seconds,
        )
        return [row_from(r) for r in records]


async def _write_attempts(
    conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record], attempts: Sequence[AttemptWrite]
) -> set[str]:
    records = await conn.fetch(
        """UPDATE deliveries d SET attempt_count = v.prev + 1, state = v.state,
               next_attempt_at = v.next_at, last_status_code = v.status, last_error = v.error,
               updated_at = now(),
               dead_at = CASE WHEN v.state = 'dead' THEN now() ELSE NULL END
           FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::int[],
                       $6::text[]) AS v(id, prev, state, next_at, status, error)
           WHERE d.delivery_id = v.id AND d.attempt_count = v.prev
             AND d.state IN ('pending', 'retrying')
           RETURNING d.delivery_id""",
        [a.row.delivery_id for a in attempts],
        [a.row.attempt_count for a in attempts],
        [a.state for a in attempts],
        [a.next_attempt_at for a in attempts],
        [a.outcome.status_code for a in attempts],
        [a.outcome.error[:MAX_ERROR] for a in attempts],
    )
    changed = {r["delivery_id"] for r in records}
    done = [a for a in attempts if a.row.delivery_id in changed]
    if done:
        await conn.execute(
            """INSERT INTO delivery_attempts (delivery_id, attempt_number, attempted_at,
                   status_code, latency_ms, error, response_body)
               SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[],
                                    $5::float8[], $6::text[], $7::text[])""",
            [a.row.delivery_id for a in done],
            [a.row.attempt_count + 1 for a in done],
            [a.outcome.started_at for a in done],
            [a.outcome.status_code for a in done],
            [a.outcome.latency_seconds * 1000.0 for a in done],
            [a.outcome.error[:MAX_ERROR] for a in done],
            [a.outcome.response_body for a in done],
        )
    return changed


def _new_row(
    message: WebhookMessage, endpoint_id: str, delivery_id: str, webhook_id: str, at: datetime
) -> DeliveryRow:
    """A row just inserted, as `create_for_events` wrote it (the table's defaults included)."""
    return DeliveryRow(
        delivery_id,
        message.tenant_id,
        endpoint_id,
        message.event_id,
        message.event_type,
        webhook_id,
        PENDING,
        0,
        0,
        message.body,
        None,
        0,
        "",
        at,
        at,
    )


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in COLUMNS.split(","))


_Key = tuple[WebhookMessage, str, str, str]  # the message, endpoint, delivery and webhook ids


def _columns(
    keys: Sequence[_Key],
) -> tuple[list[str], list[str], list[str], list[str], list[str], list[str], list[bytes]]:
    """The arrays `_VALUES` unnests, in its order."""
    return (
        [d for _, _, d, _ in keys],
        [m.tenant_id for m, _, _, _ in keys],
        [e for _, e, _, _ in keys],
        [m.event_id for m, _, _, _ in keys],
        [m.event_type for m, _, _, _ in keys],
        [w for _, _, _, w in keys],
        [m.body for m, _, _, _ in keys],
    )


class _ParkedColumns(NamedTuple):
    """The parked part's arrays, in the order of `$8`-`$14`: the events, each run of them
    once, then each (tenant, endpoint) record's run (1-based, inclusive bounds)."""

    event_ids: list[str]
    event_types: list[str]
    payloads: list[bytes]
    los: list[int]
    his: list[int]
    tenants: list[str]
    endpoints: list[str]


def _parked_columns(
    fanout: Sequence[tuple[WebhookMessage, Sequence[str]]], parked: Collection[str]
) -> _ParkedColumns | None:
    """Endpoints parked for the same events (the usual case: one tenant's failing endpoints)
    share one run of them."""
    events_of: dict[tuple[str, str], list[int]] = {}
    for n, (message, endpoints) in enumerate(fanout):
        for endpoint in endpoints:
            if endpoint in parked:
                events_of.setdefault((message.tenant_id, endpoint), []).append(n)
    if not events_of:
        return None
    columns = _ParkedColumns([], [], [], [], [], [], [])
    run_of: dict[tuple[int, ...], tuple[int, int]] = {}
    for (tenant, endpoint), events in events_of.items():
        key = tuple(events)
        if key not in run_of:
            run_of[key] = (len(columns.event_ids) + 1, len(columns.event_ids) + len(events))
            for n in events:
                message = fanout[n][0]
                columns.event_ids.append(message.event_id)
                columns.event_types.append(message.event_type)
                columns.payloads.append(message.body)
        lo, hi = run_of[key]
        columns.los.append(lo)
        columns.his.append(hi)
        columns.tenants.append(tenant)
        columns.endpoints.append(endpoint)
    return columns
