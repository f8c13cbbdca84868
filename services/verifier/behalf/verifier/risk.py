"""The deterministic risk score of a decision (ARCHITECTURE §4, step 10)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum

from behalf.verifier.snapshot import ActionCategory, MatchKind, Money, PermissionEntry


class Risk(IntEnum):
    """Mirror of behalf.v1.Risk (same numbers)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


NEAR_EXPIRY = timedelta(minutes=10)

_CATEGORY_POINTS = {
    ActionCategory.DATA_ACCESS: 0,
    ActionCategory.SCHEDULING: 0,
    ActionCategory.CONTENT: 0,
    ActionCategory.MESSAGING: 1,
    ActionCategory.TRANSACTIONS: 2,
    ActionCategory.ADMIN_WORKFLOWS: 2,
    ActionCategory.UNSPECIFIED: 2,
}


def assess_risk(
    permission: PermissionEntry | None,
    match: MatchKind | None,
    amount: Money | None,
    now: datetime,
) -> Risk:
    """Score the action a permission was (or would have been) used for.

    Points are added up, then mapped to a level:

        factor                                                          points
        ------------------------------------------------------------    ------
        category data_access, scheduling, content                            0
        category messaging                                                   1
        category transactions, admin_workflows, unspecified (unknown)        2
        amount >= 80% of the limit (max_amount; else budget remaining)      +1
        resource covered by a wildcard or any-resource grant, or not
          covered at all (the closest permission of a deny)                 +1
        permission expires in under 10 minutes (or has expired)             +1

        total 0-1 -> LOW, 2 -> MEDIUM, 3+ -> HIGH

    The amount only counts in the limit's currency. Without a permission (stale policy, unknown
    or disabled agent, no permission naming the action) nothing can happen and there is no
    category to score, so the risk is LOW.
    """
    if permission is None:
        return Risk.LOW
    points = _CATEGORY_POINTS[permission.category]
    if amount is not None and _near_limit(permission, amount):
        points += 1
    if match is not MatchKind.EXACT:
        points += 1
    if permission.expires_at is not None and permission.expires_at - now < NEAR_EXPIRY:
        points += 1
    if points >= 3:
        return Risk.HIGH
    return Risk.MEDIUM if points == 2 else Risk.LOW


def _near_limit(permission: PermissionEntry, amount: Money) -> bool:
    if permission.max_amount is not None:
        limit = permission.max_amount
        available = limit.amount_minor
    elif permission.budget is not None:
        limit = permission.budget
        available = limit.amount_minor - permission.budget_spent_minor
    else:
        return False
    # amount / available >= 0.8, in integers so no float rounding decides a level
    return amount.currency == limit.currency and amount.amount_minor * 5 >= available * 4
