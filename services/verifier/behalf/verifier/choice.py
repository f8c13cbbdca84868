"""Choosing the permission a request is decided by, and the amount rules that need no I/O.

Among several candidate permissions, the first wins under this order:
  1. one whose amount rules pass (amount present if limited, same currency, within the limit),
  2. one that does not require approval,
  3. the most specific resource match: exact name, then `*.suffix` wildcard, then any-resource,
  4. the lowest permission id.
Grants are additive: if any grant allows the request outright, a stricter one does not deny it.
Only blocked actions override, and they override everything.
"""

from __future__ import annotations

from datetime import datetime

from behalf.verifier.outcomes import DecisionResult, ReasonCode, deny
from behalf.verifier.risk import Risk, assess_risk
from behalf.verifier.snapshot import MatchKind, Money, PermissionEntry


def preference(
    permission: PermissionEntry, match: MatchKind, amount: Money | None
) -> tuple[bool, bool, MatchKind, str]:
    """Sort key of a candidate: smaller is preferred (see the module docstring)."""
    return (
        amount_problem(permission, amount) is not None,
        permission.requires_approval,
        match,
        permission.permission_id,
    )


def amount_problem(
    permission: PermissionEntry, amount: Money | None
) -> tuple[ReasonCode, str] | None:
    """The first pure amount rule the request breaks, or None.

    A budget limits amounts as much as a per-action maximum does, so either one makes an
    amount required: otherwise leaving the amount out would bypass the budget.
    """
    pid = permission.permission_id
    limit, budget = permission.max_amount, permission.budget
    if limit is None and budget is None:
        return None
    if amount is None:
        return ReasonCode.AMOUNT_REQUIRED, f"permission {pid} limits amounts; the request has none"
    if limit is not None:
        if amount.currency != limit.currency:
            return (
                ReasonCode.CURRENCY_MISMATCH,
                f"permission {pid} limits amounts in {limit.currency}, not {amount.currency}",
            )
        if amount.amount_minor > limit.amount_minor:
            return (
                ReasonCode.AMOUNT_EXCEEDS_LIMIT,
                f"amount {amount.amount_minor} {amount.currency} (minor units) exceeds the "
                f"limit {limit.amount_minor} of permission {pid}",
            )
    if budget is not None and amount.currency != budget.currency:
        return (
            ReasonCode.CURRENCY_MISMATCH,
            f"the budget of permission {pid} is in {budget.currency}, not {amount.currency}",
        )
    return None


def no_candidate(
    naming_action: tuple[PermissionEntry, ...],
    action: str,
    resource: str,
    amount: Money | None,
    now: datetime,
    revision: int,
) -> DecisionResult:
    """Deny with the most specific reason: expired, then not yet valid, then wrong resource.

    Each considers only permissions that allow the action; the first in permission-id order
    becomes the decision's (closest) permission.
    """
    expired: PermissionEntry | None = None
    not_yet_valid: PermissionEntry | None = None
    elsewhere: PermissionEntry | None = None
    for permission in naming_action:
        if action not in permission.allowed_actions:
            continue
        if permission.is_active(now):
            elsewhere = elsewhere or permission  # active and allowing, so the resource differs
        elif permission.match(resource) is None:
            continue
        elif permission.expires_at is not None and now >= permission.expires_at:
            expired = expired or permission
        else:
            not_yet_valid = not_yet_valid or permission
    if expired is not None:
        return deny(
            ReasonCode.PERMISSION_EXPIRED,
            f"permission {expired.permission_id} would allow {action!r} here but expired at "
            f"{_when(expired.expires_at)}",
            revision,
            scored(expired, expired.match(resource), amount, now),
        )
    if not_yet_valid is not None:
        return deny(
            ReasonCode.PERMISSION_NOT_YET_VALID,
            f"permission {not_yet_valid.permission_id} would allow {action!r} here but not "
            f"before {_when(not_yet_valid.not_before)}",
            revision,
            scored(not_yet_valid, not_yet_valid.match(resource), amount, now),
        )
    if elsewhere is not None:
        return deny(
            ReasonCode.RESOURCE_NOT_ALLOWED,
            f"permission {elsewhere.permission_id} allows {action!r} but not on {resource!r}",
            revision,
            scored(elsewhere, None, amount, now),
        )
    return deny(ReasonCode.NO_PERMISSION, f"no permission allows {action!r}", revision)


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "an unknown time"


def scored(
    permission: PermissionEntry, match: MatchKind | None, amount: Money | None, now: datetime
) -> tuple[str, Risk]:
    return permission.permission_id, assess_risk(permission, match, amount, now)
