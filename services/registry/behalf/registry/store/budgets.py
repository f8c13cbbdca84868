"""Cumulative budgets: atomic reservation and release, idempotent on the Verify request id."""

from __future__ import annotations

from dataclasses import dataclass

from behalf.registry.store._rows import Connection
from behalf.registry.store.permissions import grant_in_force

# Claims one reservation holds at most. Replays of an allowed request id each get the original
# outcome; past this many live claims a replay gets it without a claim of its own (nothing it
# could give back, and the reservation is then never given back), so an agent replaying one id
# cannot grow the row without bound.
MAX_CLAIMS_HELD = 64

# Spent only while the grant applies by the database's clock, whatever the verifier's snapshot
# showed: not revoked, inside its window, its agent enabled and not deleted.
_IN_FORCE = grant_in_force("$1", "$2")


@dataclass(frozen=True)
class Reservation:
    """The outcome of one reserve call; `claimed` when this call holds a claim on it."""

    reserved: bool
    remaining_minor: int
    currency: str
    claimed: bool = False


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
    claim_digest: bytes,
) -> Reservation:
    """Reserve `amount_minor` once per request id; the budget is never exceeded. When it is
    reserved, the call holds a claim on the reservation, kept as `claim_digest`.

    The reservation row is inserted first (a concurrent duplicate waits on its key); the
    budget is then taken by one conditional UPDATE, so concurrent reservations serialise on
    the permission row and exactly as many succeed as fit.
    """
    try:
        async with conn.transaction():
            inserted = await conn.fetchval(
                """INSERT INTO budget_reservations
                       (permission_id, request_id, tenant_id, amount_minor, claim_digests)
                   VALUES ($1, $2, $3, $4, ARRAY[$5::bytea])
                   ON CONFLICT DO NOTHING RETURNING true""",
                permission_id,
                request_id,
                tenant_id,
                amount_minor,
                claim_digest,
            )
            if not inserted:
                return await _existing(
                    conn, tenant_id, permission_id, request_id, amount_minor, currency, claim_digest
                )
            remaining = await _take(conn, tenant_id, permission_id, amount_minor, currency)
            if remaining is None:
                raise _NoRoom
            return Reservation(True, remaining, currency, claimed=True)
    except _NoRoom:
        return Reservation(False, await _left(conn, tenant_id, permission_id), currency)


async def _take(
    conn: Connection, tenant_id: str, permission_id: str, amount_minor: int, currency: str
) -> int | None:
    """Spend `amount_minor` of the budget if it has room and the grant is in force; what is
    left then, or None."""
    remaining: int | None = await conn.fetchval(
        f"""UPDATE permissions SET budget_spent_minor = budget_spent_minor + $3
           WHERE tenant_id = $1 AND permission_id = $2 AND {_IN_FORCE}
             AND budget_currency = $4 AND budget_minor - budget_spent_minor >= $3
           RETURNING budget_minor - budget_spent_minor""",
        tenant_id,
        permission_id,
        amount_minor,
        currency,
    )
    return remaining


async def _left(conn: Connection, tenant_id: str, permission_id: str) -> int:
    now = await state(conn, tenant_id, permission_id)
    return (now.budget_minor or 0) - now.spent_minor if now else 0


async def _existing(
    conn: Connection,
    tenant_id: str,
    permission_id: str,
    request_id: str,
    amount_minor: int,
    currency: str,
    claim_digest: bytes,
) -> Reservation:
    """A retry: the reservation this request id already made, for this very amount (the
    request-id check upstream already vouches for the rest of the request). Reserved again only
    while the grant is in force, as a fresh reservation would be. One whose calls were all
    denied (released) takes the budget again. A live one is claimed once more, by
    `claim_digest`, below MAX_CLAIMS_HELD; past that it is pinned, holding a claim that no
    release names, so the others' releases can never refund the allow this retry gets."""
    row = await conn.fetchrow(
        """SELECT cardinality(claim_digests) AS held, released_at IS NOT NULL AS released
           FROM budget_reservations
           WHERE permission_id = $1 AND request_id = $2 AND tenant_id = $3
             AND amount_minor = $4
           FOR UPDATE""",
        permission_id,
        request_id,
        tenant_id,
        amount_minor,
    )
    in_force = await conn.fetchval(f"SELECT {_IN_FORCE}", tenant_id, permission_id)
    if row is None or not in_force:
        return Reservation(False, await _left(conn, tenant_id, permission_id), currency)
    if row["released"]:
        remaining = await _take(conn, tenant_id, permission_id, amount_minor, currency)
        if remaining is None:
            return Reservation(False, await _left(conn, tenant_id, permission_id), currency)
        await conn.execute(
            """UPDATE budget_reservations
               SET released_at = NULL, claims = 1, claim_digests = ARRAY[$4::bytea]
               WHERE permission_id = $1 AND request_id = $2 AND tenant_id = $3""",
            permission_id,
            request_id,
            tenant_id,
            claim_digest,
        )
        return Reservation(True, remaining, currency, claimed=True)
    claimed = row["held"] < MAX_CLAIMS_HELD
    if claimed:
        await conn.execute(
            """UPDATE budget_reservations
               SET claims = claims + 1, claim_digests = claim_digests || $4::bytea
               WHERE permission_id = $1 AND request_id = $2 AND tenant_id = $3""",
            permission_id,
            request_id,
            tenant_id,
            claim_digest,
        )
    else:
        await conn.execute(
            """UPDATE budget_reservations
               SET claims = GREATEST(claims, cardinality(claim_digests) + 1)
               WHERE permission_id = $1 AND request_id = $2 AND tenant_id = $3""",
            permission_id,
            request_id,
            tenant_id,
        )
    return Reservation(True, await _left(conn, tenant_id, permission_id), currency, claimed=claimed)


async def release(
    conn: Connection, *, tenant_id: str, permission_id: str, request_id: str, claim_digest: bytes
) -> bool:
    """Give back the claim `claim_digest` names on a live reservation; True when it was the
    last, and the amount went back to the budget. A call that was allowed keeps its claim, and
    no other call knows it, so nothing it spent comes back, whatever its retries do."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE budget_reservations
               SET claims = claims - 1, released_at = CASE WHEN claims <= 1 THEN now() END,
                   claim_digests = array_remove(claim_digests, $4::bytea)
               WHERE permission_id = $1 AND request_id = $2 AND tenant_id = $3
                 AND released_at IS NULL AND $4::bytea = ANY (claim_digests)
               RETURNING released_at IS NOT NULL AS last, amount_minor""",
            permission_id,
            request_id,
            tenant_id,
            claim_digest,
        )
        if row is None or not row["last"]:
            return False
        amount = row["amount_minor"]
        await conn.execute(
            """UPDATE permissions SET budget_spent_minor = budget_spent_minor - $3
               WHERE tenant_id = $1 AND permission_id = $2""",
            tenant_id,
            permission_id,
            amount,
        )
        return True
