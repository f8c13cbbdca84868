"""Approvals: one human decision on exactly one request; state changes are conditional UPDATEs.

An approval past its expiry that is still `pending` or `approved` in the table reads as
EXPIRED everywhere here, whether or not the sweeper has marked it yet.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from behalf.registry.store._rows import Connection, Executor, set_money, set_time
from behalf.registry.store.locks import lock_until_commit
from behalf.registry.store.paging import Cursor
from behalf.registry.store.permissions import grant_in_force
from behalf.registry.store.request_ids import RequestFacts
from behalf.v1 import resources_pb2

R = resources_pb2
_STATE_FROM_DB = {
    "pending": R.APPROVAL_STATE_PENDING,
    "approved": R.APPROVAL_STATE_APPROVED,
    "denied": R.APPROVAL_STATE_DENIED,
    "expired": R.APPROVAL_STATE_EXPIRED,
    "consumed": R.APPROVAL_STATE_CONSUMED,
}
_STATE_TO_DB: dict[int, str] = {v: k for k, v in _STATE_FROM_DB.items()}
_LIVE = ("pending", "approved")

# The effective state as SQL, so filters agree with what `to_approval` shows.
_EFFECTIVE_STATE = (
    "CASE WHEN state IN ('pending', 'approved') AND expires_at <= now() "
    "THEN 'expired' ELSE state END"
)


def to_approval(row: asyncpg.Record, now: datetime) -> R.Approval:
    state = row["state"]
    if state in _LIVE and row["expires_at"] <= now:
        state = "expired"
    approval = R.Approval(
        approval_id=row["approval_id"],
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        action=row["action"],
        resource=row["resource"],
        permission_id=row["permission_id"],
        state=_STATE_FROM_DB[state],
        request_id=row["request_id"],
        resolved_by=row["resolved_by"],
        resolved_by_key_id=row["resolved_by_key_id"],
        resolution_comment=row["resolution_comment"],
    )
    set_money(approval.amount, row["amount_minor"], row["amount_currency"])
    set_time(approval.create_time, row["created_at"])
    set_time(approval.expire_time, row["expires_at"])
    set_time(approval.resolve_time, row["resolved_at"])
    set_time(approval.consume_time, row["consumed_at"])
    return approval


async def _now(conn: Executor) -> datetime:
    now: datetime = await conn.fetchval("SELECT now()")
    return now


class TooManyPending(Exception):
    """The agent already waits on `MAX_PENDING_PER_AGENT` approvals."""


# What one agent may have waiting on humans at once: an agent asking again and again with fresh
# request ids must not bury the approval queue (and the customer's webhooks) in requests.
MAX_PENDING_PER_AGENT = 100


async def insert_if_new(
    conn: Executor, *, approval_id: str, request: RequestFacts, expires_at: datetime
) -> tuple[R.Approval, bool]:
    """Create the approval for this request id, or return the one already made (and False);
    TooManyPending when the agent has as many pending as it may. Call inside a transaction:
    it holds the agent's approval lock until the end, so concurrent requests count in turn."""
    await lock_until_commit(conn, "approvals", request.tenant_id, request.agent_id)
    row = await conn.fetchrow(
        """INSERT INTO approvals (approval_id, tenant_id, agent_id, action, resource,
               amount_minor, amount_currency, permission_id, state, request_id, expires_at)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10
           WHERE (SELECT count(*) FROM (
                     SELECT 1 FROM approvals
                     WHERE tenant_id = $2 AND state = 'pending' AND agent_id = $3
                       AND expires_at > now()
                     LIMIT $11) AS pending) < $11
           ON CONFLICT (tenant_id, agent_id, request_id) DO NOTHING RETURNING *, now() AS now""",
        approval_id,
        request.tenant_id,
        request.agent_id,
        request.action,
        request.resource,
        request.amount_minor,
        request.amount_currency,
        request.permission_id,
        request.request_id,
        expires_at,
        MAX_PENDING_PER_AGENT,
    )
    if row is not None:
        return to_approval(row, row["now"]), True
    row = await conn.fetchrow(
        """SELECT *, now() AS now FROM approvals
           WHERE tenant_id = $1 AND agent_id = $2 AND request_id = $3""",
        request.tenant_id,
        request.agent_id,
        request.request_id,
    )
    if row is None:
        raise TooManyPending
    return to_approval(row, row["now"]), False


async def expire_live_for_agent(conn: Executor, tenant_id: str, agent_id: str) -> list[R.Approval]:
    """End the agent's pending and approved approvals now (the agent is gone); those already
    past their time are left to the sweeper, which reports each expiry once."""
    rows = await conn.fetch(
        """UPDATE approvals SET state = 'expired', expires_at = now()
           WHERE tenant_id = $1 AND agent_id = $2 AND state IN ('pending', 'approved')
             AND expires_at > now()
           RETURNING *, now() AS now""",
        tenant_id,
        agent_id,
    )
    return [to_approval(row, row["now"]) for row in rows]


async def get(conn: Executor, tenant_id: str, approval_id: str) -> R.Approval | None:
    row = await conn.fetchrow(
        "SELECT *, now() AS now FROM approvals WHERE tenant_id = $1 AND approval_id = $2",
        tenant_id,
        approval_id,
    )
    return to_approval(row, row["now"]) if row else None


async def list_page(
    conn: Executor,
    tenant_id: str,
    *,
    state: int | None,
    agent_id: str | None,
    before: Cursor | None,
    limit: int,
) -> list[tuple[R.Approval, datetime]]:
    """Newest first, before the cursor."""
    rows = await conn.fetch(
        f"""SELECT *, now() AS now FROM approvals
            WHERE tenant_id = $1
              AND ($2::text IS NULL OR {_EFFECTIVE_STATE} = $2)
              AND ($3::text IS NULL OR agent_id = $3)
              AND ($4::timestamptz IS NULL OR (created_at, approval_id) < ($4, $5))
            ORDER BY created_at DESC, approval_id DESC LIMIT $6""",
        tenant_id,
        _STATE_TO_DB[state] if state is not None else None,
        agent_id,
        before.created_at if before else None,
        before.row_id if before else "",
        limit,
    )
    return [(to_approval(r, r["now"]), r["created_at"]) for r in rows]


async def resolve(
    conn: Executor,
    tenant_id: str,
    approval_id: str,
    *,
    approve: bool,
    resolved_by: str,
    resolved_by_key_id: str,
    comment: str,
) -> R.Approval | None:
    """Approve or deny a pending, unexpired approval; None if it is not in that state."""
    row = await conn.fetchrow(
        """UPDATE approvals SET state = $3, resolved_at = now(), resolved_by = $4,
               resolution_comment = $5, resolved_by_key_id = $6
           WHERE tenant_id = $1 AND approval_id = $2 AND state = 'pending' AND expires_at > now()
           RETURNING *, now() AS now""",
        tenant_id,
        approval_id,
        "approved" if approve else "denied",
        resolved_by,
        comment,
        resolved_by_key_id,
    )
    return to_approval(row, row["now"]) if row else None


# The approval row is for exactly this request: $1..$8 are tenant, approval, agent, action,
# resource, amount, currency and permission.
_SAME_REQUEST = """tenant_id = $1 AND approval_id = $2 AND agent_id = $3 AND action = $4
    AND resource = $5 AND amount_minor IS NOT DISTINCT FROM $6
    AND amount_currency IS NOT DISTINCT FROM $7 AND permission_id = $8"""

# The grant it was asked under ($8, of agent $3) is still in force, and its agent still acts:
# a verifier deciding from a snapshot older than a revocation spends no approval on it.
_GRANT_IN_FORCE = grant_in_force("$1", "$8", agent_id="$3")
# No other approval of the agent has been consumed by this request id: one request, one
# approval (a replay carrying a second approval must not spend it).
_NO_OTHER_CONSUMED = """NOT EXISTS (SELECT 1 FROM approvals o
    WHERE o.tenant_id = $1 AND o.agent_id = $3 AND o.consumed_by_request_id = $9
      AND o.approval_id <> $2)"""


async def consume(
    conn: Connection,
    *,
    approval_id: str,
    request: RequestFacts,
) -> bool:
    """Move an approved, unexpired approval for exactly this request, under a grant still in
    force, to consumed; at most once, and at most one approval per request id.

    A retry by the request id that consumed it, with the same content, is answered True again;
    anything else (another request id, the same id asking for something else, or the same id
    carrying a second approval) loses. Consumptions by one request id take turns, so two
    approvals sent at once under one id cannot both be spent.
    """
    async with conn.transaction():
        await lock_until_commit(
            conn, "approval_consumer", request.tenant_id, request.agent_id, request.request_id
        )
        return await _consume(conn, approval_id, request)


async def _consume(conn: Connection, approval_id: str, request: RequestFacts) -> bool:
    arguments = (
        request.tenant_id,
        approval_id,
        request.agent_id,
        request.action,
        request.resource,
        request.amount_minor,
        request.amount_currency,
        request.permission_id,
        request.request_id,
    )
    consumed = await conn.fetchval(
        f"""UPDATE approvals SET state = 'consumed', consumed_at = now(),
               consumed_by_request_id = $9
           WHERE {_SAME_REQUEST} AND state = 'approved' AND expires_at > now()
             AND {_GRANT_IN_FORCE} AND {_NO_OTHER_CONSUMED}
           RETURNING true""",
        *arguments,
    )
    if consumed:
        return True
    again = await conn.fetchval(
        f"""SELECT true FROM approvals
           WHERE {_SAME_REQUEST} AND state = 'consumed' AND consumed_by_request_id = $9
             AND {_GRANT_IN_FORCE}""",
        *arguments,
    )
    return bool(again)
