"""Rows of the policy tables (agents, permissions, approvals) as behalf.v1 messages.

Shared by the watch stream's snapshot and the expiry sweeper, so a verifier sees exactly the shape
the public API returns. Column conventions read here:

- `agents.kind`: "native" / "external".
- `agents.labels`: jsonb (a dict, or its text when no jsonb codec is set on the pool).
- `permissions.category`: the enum's short name in lower case ("transactions") or its full name
  ("ACTION_CATEGORY_TRANSACTIONS"); empty means UNSPECIFIED.
- `approvals.state`: "pending" / "approved" / "denied" / "expired" / "consumed".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from behalf.v1 import common_pb2, resources_pb2

Row = Mapping[str, Any]

AGENT_COLUMNS = (
    "agent_id, tenant_id, name, kind, description, labels::text AS labels, disabled, "
    "created_at, updated_at, revision"
)
PERMISSION_COLUMNS = (
    "permission_id, tenant_id, agent_id, allowed_actions, blocked_actions, resources, "
    "max_amount_minor, max_amount_currency, budget_minor, budget_currency, budget_spent_minor, "
    "not_before, expires_at, requires_approval, revoked_at, template_name, template_version, "
    "category, created_at, revision"
)
APPROVAL_COLUMNS = (
    "approval_id, tenant_id, agent_id, action, resource, amount_minor, amount_currency, "
    "permission_id, state, request_id, created_at, expires_at, resolved_at, resolved_by, "
    "resolution_comment, consumed_at"
)

_KINDS = {
    "native": resources_pb2.AGENT_KIND_NATIVE,
    "external": resources_pb2.AGENT_KIND_EXTERNAL,
}
_STATES = {
    "pending": resources_pb2.APPROVAL_STATE_PENDING,
    "approved": resources_pb2.APPROVAL_STATE_APPROVED,
    "denied": resources_pb2.APPROVAL_STATE_DENIED,
    "expired": resources_pb2.APPROVAL_STATE_EXPIRED,
    "consumed": resources_pb2.APPROVAL_STATE_CONSUMED,
}


def _set_time(target: Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value)


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return {str(k): str(v) for k, v in value.items()}


def _category(value: str | None) -> int:
    if not value:
        return common_pb2.ACTION_CATEGORY_UNSPECIFIED
    name = value if value.startswith("ACTION_CATEGORY_") else f"ACTION_CATEGORY_{value.upper()}"
    try:
        return common_pb2.ActionCategory.Value(name)
    except ValueError:
        return common_pb2.ACTION_CATEGORY_UNSPECIFIED


def agent_from_row(row: Row) -> resources_pb2.Agent:
    """An `agents` row (selected with AGENT_COLUMNS) as an Agent."""
    agent = resources_pb2.Agent(
        agent_id=row["agent_id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        kind=_KINDS.get(row["kind"], resources_pb2.AGENT_KIND_UNSPECIFIED),
        description=row["description"] or "",
        labels=_labels(row["labels"]),
        disabled=row["disabled"],
        revision=row["revision"],
    )
    _set_time(agent.create_time, row["created_at"])
    _set_time(agent.update_time, row["updated_at"])
    return agent


def permission_from_row(row: Row) -> resources_pb2.Permission:
    """A `permissions` row (selected with PERMISSION_COLUMNS) as a Permission."""
    permission = resources_pb2.Permission(
        permission_id=row["permission_id"],
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        allowed_actions=row["allowed_actions"] or [],
        blocked_actions=row["blocked_actions"] or [],
        resources=row["resources"] or [],
        budget_spent_minor=row["budget_spent_minor"],
        requires_approval=row["requires_approval"],
        revoked=row["revoked_at"] is not None,
        template_name=row["template_name"] or "",
        template_version=row["template_version"] or 0,
        category=_category(row["category"]),
        revision=row["revision"],
    )
    if row["max_amount_minor"] is not None:
        permission.max_amount.amount_minor = row["max_amount_minor"]
        permission.max_amount.currency = row["max_amount_currency"]
    if row["budget_minor"] is not None:
        permission.budget.amount_minor = row["budget_minor"]
        permission.budget.currency = row["budget_currency"]
    _set_time(permission.not_before, row["not_before"])
    _set_time(permission.expires_at, row["expires_at"])
    _set_time(permission.revoke_time, row["revoked_at"])
    _set_time(permission.create_time, row["created_at"])
    return permission


def approval_from_row(row: Row) -> resources_pb2.Approval:
    """An `approvals` row (selected with APPROVAL_COLUMNS) as an Approval."""
    approval = resources_pb2.Approval(
        approval_id=row["approval_id"],
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        action=row["action"],
        resource=row["resource"],
        permission_id=row["permission_id"],
        state=_STATES.get(row["state"], resources_pb2.APPROVAL_STATE_UNSPECIFIED),
        request_id=row["request_id"],
        resolved_by=row["resolved_by"] or "",
        resolution_comment=row["resolution_comment"] or "",
    )
    if row["amount_minor"] is not None:
        approval.amount.amount_minor = row["amount_minor"]
        approval.amount.currency = row["amount_currency"]
    _set_time(approval.create_time, row["created_at"])
    _set_time(approval.expire_time, row["expires_at"])
    _set_time(approval.resolve_time, row["resolved_at"])
    _set_time(approval.consume_time, row["consumed_at"])
    return approval
