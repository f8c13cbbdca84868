"""Budgets of permissions: what a Verify reserves, checks and releases (verifiers only)."""

from __future__ import annotations

from dataclasses import dataclass

from behalf.common.errors import FailedPrecondition
from behalf.registry.commands.budget_claims import claim_digest, new_claim
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.request_ids import claim
from behalf.registry.commands.transaction import Db
from behalf.registry.store import budgets
from behalf.registry.store._rows import Connection
from behalf.registry.store.budgets import Reservation
from behalf.registry.store.request_ids import RequestFacts
from behalf.registry.store.values import MoneyValue


@dataclass(frozen=True)
class ClaimedReservation:
    """A reserve call's outcome and the claim it was handed: "" when it reserved nothing, or
    holds no claim (a replay past the cap: it has nothing to give back)."""

    reservation: Reservation
    claim: str


@dataclass(frozen=True)
class Fit:
    """Whether an amount fits a budget now, and what is left of it."""

    fits: bool
    remaining_minor: int


async def _budget_state(
    conn: Connection, tenant_id: str, permission_id: str, amount: MoneyValue
) -> budgets.BudgetState:
    """The permission's budget, which must exist and be in the amount's currency."""
    state = await budgets.state(conn, tenant_id, permission_id)
    if state is None:
        raise not_found("permission", permission_id)
    if state.budget_minor is None:
        raise FailedPrecondition(f"permission {permission_id} has no budget")
    if state.currency != amount.currency:
        raise FailedPrecondition(f"permission {permission_id} budget is in {state.currency}")
    return state


async def reserve(db: Db, facts: RequestFacts, amount: MoneyValue) -> ClaimedReservation:
    """Reserve `amount` once per request id; the budget is never exceeded. Each call that
    reserved (the first, and each retry that found the reservation live) gets a claim of its
    own, which only its release can give back."""
    handed = new_claim()
    async with db.pool.acquire() as conn:
        await _budget_state(conn, facts.tenant_id, facts.permission_id, amount)
        await claim(conn, facts)
        reservation = await budgets.reserve(
            conn,
            tenant_id=facts.tenant_id,
            permission_id=facts.permission_id,
            request_id=facts.request_id,
            amount_minor=amount.amount_minor,
            currency=amount.currency,
            claim_digest=claim_digest(handed),
        )
    return ClaimedReservation(reservation, handed if reservation.claimed else "")


async def check(db: Db, tenant_id: str, permission_id: str, amount: MoneyValue) -> Fit:
    """Would the amount fit now? Reads only: test-mode decisions spend nothing."""
    async with db.pool.acquire() as conn:
        state = await _budget_state(conn, tenant_id, permission_id, amount)
    left = (state.budget_minor or 0) - state.spent_minor
    return Fit(fits=not state.revoked and amount.amount_minor <= left, remaining_minor=left)


async def release(db: Db, tenant_id: str, permission_id: str, request_id: str, handed: str) -> bool:
    """Give back the claim `handed` on a request's reservation; True when the amount went back
    to the budget (store.budgets.release). A claim no reserve handed out gives back nothing."""
    async with db.pool.acquire() as conn:
        return await budgets.release(
            conn,
            tenant_id=tenant_id,
            permission_id=permission_id,
            request_id=request_id,
            claim_digest=claim_digest(handed),
        )
