"""Cumulative budgets: atomic reservation and release, idempotent on the Verify request id."""

from __future__ import annotations

from dataclasses import dataclass

from behalf.registry.store._rows import Connection


@dataclass(frozen=True)
class Reservation:
    """The outcome of one reserve call."""

    reserved: bool
    remaining_minor: int
    currency: str


@dataclass(frozen=True)
class BudgetState:
    """A permission's budget as it stands."""

    budget_minor: int | None
    currency: str | None
    spent_minor: int
    revoked: bool


async def state(conn: Connection, tenant_id: str, permission_id: str) -> BudgetState | None:
    row = await conn.fetchrow(
        """SELECT budget_minor, budget_currency, budget_spent_minor, revoked_at IS NOT NULL AS r
           FROM permissions WHERE tenant_id = $1 AND permission_id = $2""",
        tenant_id,
        permission_id,
    )
    if row is None:
        return None
    return BudgetState(
        row["budget_minor"], row["budget_currency"], row["budget_spent_minor"], row["r"]
    )


class _NoRoom(Exception):
    """Rolls the reservation row back when the budget cannot cover it."""


async def reserve(
    conn: Connection,
    *,
    tenant_id: str,
    permission_id: str,
    request_id: str,
    amount_minor: int,
    currency: str,
) -> Reservation:
    """Reserve `amount_minor` once per request id; the budget is never exceeded.

    The reservation row is inserted first (a concurrent duplicate waits on its key); the
    budget is then taken by one conditional UPDATE, so concurrent reservations serialise on
    the permission row and exactly as many succeed as fit.
    """
    try:
        async with conn.transaction():
            inserted = await conn.fetchval(
                """INSERT INTO budget_reservations
                       (permission_id, request_id, tenant_id, amount_minor)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
                permission_id,
                request_id,
                tenant_id,
                amount_minor,
            )
            if not inserted:
                return await _existing(
                    conn, tenant_id, permission_id, request_id, amount_minor, currency
                )
            remaining = await conn.fetchval(
                """UPDATE permissions SET budget_spent_minor = budget_spent_minor + $3
                   WHERE tenant_id = $1 AND permission_id = $2 AND revoked_at IS NULL
                     AND budget_currency = $4 AND budget_minor - budget_spent_minor >= $3
                   RETURNING budget_minor - budget_spent_minor""",
                tenant_id,
                permission_id,
                amount_minor,
                currency,
            )
            if remaining is None:
                raise _NoRoom
            return Reservation(True, remaining, currency)
    except _NoRoom:
        now = await state(conn, tenant_id, permission_id)
        left = (now.budget_minor or 0) - now.spent_minor if now else 0
        return Reservation(False, left, currency)


async def _existing(
    conn: Connection,
    tenant_id: str,
    permission_id: str,
    request_id: str,
    amount_minor: int,
    currency: str,
) -> Reservation:
    """The outcome of the reservation this request id already made: reserved only if it is
    live and for this very amount (the request id's claim already vouches for the rest)."""
    row = await conn.fetchrow(
        """SELECT r.released_at IS NULL AND r.amount_minor = $4 AS same_and_live,
                  p.budget_minor - p.budget_spent_minor AS left
           FROM budget_reservations r JOIN permissions p USING (permission_id)
           WHERE r.permission_id = $1 AND r.request_id = $2 AND r.tenant_id = $3""",
        permission_id,
        request_id,
        tenant_id,
        amount_minor,
    )
    return Reservation(bool(row and row["same_and_live"]), row["left"] if row else 0, currency)


async def release(conn: Connection, *, tenant_id: str, permission_id: str, request_id: str) -> bool:
    """Give a live reservation back, once; False if there is none."""
    async with conn.transaction():
        amount = await conn.fetchval(
            """UPDATE budget_reservations SET released_at = now()
               WHERE permission_id = $1 AND request_id = $2 AND tenant_id = $3
                 AND released_at IS NULL
               RETURNING amount_minor""",
            permission_id,
            request_id,
            tenant_id,
        )
        if amount is None:
            return False
        await conn.execute(
            """UPDATE permissions SET budget_spent_minor = budget_spent_minor - $3
               WHERE tenant_id = $1 AND permission_id = $2""",
            tenant_id,
            permission_id,
            amount,
        )
        return True
