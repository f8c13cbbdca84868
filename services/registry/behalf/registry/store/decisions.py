"""The `decisions` table: the audit trail, written by the audit sink, read by the queries.

Column conventions: `outcome` and `reason_code` hold the proto enum names in full
("OUTCOME_ALLOW", "REASON_CODE_NO_PERMISSION"), or the number as text for a value this build does
not know; `decided_at` is the decision's decide_time (the record's timestamp if unset); `payload`
is the record value exactly as consumed, so GetDecision returns what the verifier published;
`test_mode` marks a test decision, which authorized nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from behalf.registry.store._rows import Executor

_INSERT = """
INSERT INTO decisions
    (event_id, tenant_id, request_id, agent_id, outcome, reason_code, decided_at, payload,
     test_mode)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::bytea[], $9::boolean[])
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True)
class DecisionRow:
    """One row of the table, in column order."""

    event_id: str
    tenant_id: str
    request_id: str
    agent_id: str
    outcome: str
    reason_code: str
    decided_at: datetime
    payload: bytes
    test_mode: bool = False


_COLUMNS = tuple(f.name for f in dataclasses.fields(DecisionRow))


@dataclass(frozen=True)
class DecisionFilters:
    """What ListDecisions narrows a tenant's decisions to; None means any."""

    agent_id: str | None = None
    outcome: str | None = None
    reason_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class DecisionCursor:
    """The last row of the previous page (newest first)."""

    decided_at: datetime
    event_id: str


async def insert(executor: Executor, rows: Sequence[DecisionRow]) -> None:
    """Insert the rows in one statement; an event id already stored is skipped."""
    if not rows:
        return
    columns = [[getattr(row, name) for row in rows] for name in _COLUMNS]
    await executor.execute(_INSERT, *columns)


async def list_page(
    executor: Executor,
    tenant_id: str,
    filters: DecisionFilters,
    after: DecisionCursor | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to `limit` of the tenant's matching rows (event_id, decided_at, payload), newest
    first, after `after`."""
    where = ["tenant_id = $1"]
    args: list[object] = [tenant_id]

    def add(condition: str, value: object) -> None:
        args.append(value)
        where.append(condition.format(f"${len(args)}"))

    if filters.agent_id is not None:
        add("agent_id = {}", filters.agent_id)
    if filters.outcome is not None:
        add("outcome = {}", filters.outcome)
    if filters.reason_code is not None:
        add("reason_code = {}", filters.reason_code)
    if filters.start is not None:
        add("decided_at >= {}", filters.start)
    if filters.end is not None:
        add("decided_at < {}", filters.end)
    if filters.request_id is not None:
        add("request_id = {}", filters.request_id)
    if after is not None:
        args.extend([after.decided_at, after.event_id])
        where.append(f"(decided_at, event_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    query = f"""SELECT event_id, decided_at, payload FROM decisions
                WHERE {" AND ".join(where)}
                ORDER BY decided_at DESC, event_id DESC LIMIT ${len(args)}"""
    return await executor.fetch(query, *args)


async def payload_for_request(executor: Executor, tenant_id: str, request_id: str) -> bytes | None:
    """The stored payload of the tenant's decision for a request id (the newest, should there
    be two), or None."""
    payload: bytes | None = await executor.fetchval(
        """SELECT payload FROM decisions WHERE tenant_id = $1 AND request_id = $2
           ORDER BY decided_at DESC, event_id DESC LIMIT 1""",
        tenant_id,
        request_id,
    )
    return payload


async def payload_of_event(executor: Executor, tenant_id: str, event_id: str) -> bytes | None:
    """The stored payload of the tenant's decision event, or None."""
    payload: bytes | None = await executor.fetchval(
        "SELECT payload FROM decisions WHERE tenant_id = $1 AND event_id = $2",
        tenant_id,
        event_id,
    )
    return payload


async def payloads_asking_approval(
    executor: Executor, tenant_id: str, approval_id: str
) -> list[bytes]:
    """Payloads of the real REQUIRE_APPROVAL decisions of the approval's agent under its request
    id, oldest first: the one that asked for it is among them (its payload names the approval).
    Test decisions ask for nothing, so however many the agent made under that id, none push it
    out."""
    rows = await executor.fetch(
        """SELECT d.payload FROM decisions d JOIN approvals a
               ON a.tenant_id = d.tenant_id AND a.agent_id = d.agent_id
              AND a.request_id = d.request_id
           WHERE a.tenant_id = $1 AND a.approval_id = $2
             AND d.outcome = 'OUTCOME_REQUIRE_APPROVAL' AND NOT d.test_mode
           ORDER BY d.decided_at, d.event_id LIMIT 100""",
        tenant_id,
        approval_id,
    )
    return [row["payload"] for row in rows]


async def count_by_bucket(
    executor: Executor,
    tenant_id: str,
    filters: DecisionFilters,
    start: datetime,
    end: datetime,
    buckets: int,
) -> list[asyncpg.Record]:
    """(bucket, outcome, count) of the tenant's matching real decisions (test decisions left
    out) in [start, end) cut into `buckets` equal slices (bucket 0 first), counted by
    PostgreSQL: the chart of a busy tenant costs one indexed scan, not a fetch of its rows."""
    args: list[object] = [tenant_id, start, end, buckets]
    where = ["tenant_id = $1", "decided_at >= $2", "decided_at < $3", "NOT test_mode"]
    if filters.agent_id is not None:
        args.append(filters.agent_id)
        where.append(f"agent_id = ${len(args)}")
    if filters.reason_code is not None:
        args.append(filters.reason_code)
        where.append(f"reason_code = ${len(args)}")
    query = f"""SELECT width_bucket(extract(epoch FROM decided_at),
                                    extract(epoch FROM $2::timestamptz),
                                    extract(epoch FROM $3::timestamptz), $4) - 1 AS bucket,
                       outcome, count(*) AS count
                FROM decisions WHERE {" AND ".join(where)}
                GROUP BY bucket, outcome ORDER BY bucket, outcome"""
    return await executor.fetch(query, *args)
