"""Validating what verifiers send with a Verify's stateful steps (InvalidArgument(field, …))."""

from __future__ import annotations

from behalf.common.errors import InvalidArgument
from behalf.common.resource_names import InvalidResourceName, normalize_resource
from behalf.registry import validation as v
from behalf.registry.store.request_ids import RequestFacts
from behalf.registry.store.values import MoneyValue
from behalf.v1 import internal_pb2 as pb

MAX_REQUEST_ID = 128


def request_id(value: str, field: str = "request_id") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > MAX_REQUEST_ID or any(ord(ch) < 0x21 for ch in value):
        raise InvalidArgument(field, f"must be 1..{MAX_REQUEST_ID} printable characters")
    return value


def action(value: str) -> str:
    actions = v.actions([value], "action")
    if not actions:
        raise InvalidArgument("action", "is required")
    return actions[0]


def resource(value: str) -> str:
    """The verifier sends normalized resources; anything else is refused, not normalized here."""
    try:
        normalized = normalize_resource(value)
    except InvalidResourceName as exc:
        raise InvalidArgument("resource", str(exc)) from None
    if normalized != value:
        raise InvalidArgument("resource", "must be a normalized resource")
    return value


def required_money(request: pb.ReserveBudgetRequest | pb.CheckBudgetRequest) -> MoneyValue:
    if not request.HasField("amount"):
        raise InvalidArgument("amount", "is required")
    return v.money(request.amount, "amount")


def facts(
    tenant_id: str,
    request: pb.ReserveBudgetRequest | pb.CreateApprovalRequest | pb.ConsumeApprovalRequest,
    amount: MoneyValue | None,
) -> RequestFacts:
    """What the Verify behind a stateful step asked for, validated."""
    return RequestFacts(
        tenant_id=tenant_id,
        agent_id=v.require_id(request.agent_id, "agt", "agent_id"),
        action=action(request.action),
        resource=resource(request.resource),
        amount_minor=amount.amount_minor if amount else None,
        amount_currency=amount.currency if amount else None,
        permission_id=v.require_id(request.permission_id, "prm", "permission_id"),
        request_id=request_id(request.request_id),
    )
