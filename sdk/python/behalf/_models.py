"""The SDK's own value types: small frozen dataclasses, not protobuf messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from behalf._money import Money
from behalf.v1 import common_pb2, resources_pb2

__all__ = ["Approval", "Decision"]


@dataclass(frozen=True)
class Decision:
    """The result of one Verify. Enum values are names without their prefix: outcome "ALLOW",
    reason_code "AMOUNT_EXCEEDS_LIMIT", risk "HIGH". `test_mode` marks the answer of a
    `check()`: what the policy would decide, which authorizes nothing."""

    request_id: str
    outcome: str
    reason_code: str
    reason: str
    risk: str
    permission_id: str = ""
    policy_revision: int = 0
    approval_id: str = ""
    decide_time: datetime | None = None
    verifier_id: str = ""
    test_mode: bool = False

    @property
    def allowed(self) -> bool:
        """True only for an explicit ALLOW that is not a test: the one answer that authorizes."""
        return self.outcome == "ALLOW" and not self.test_mode

    @classmethod
    def from_proto(cls, message: common_pb2.Decision) -> Decision:
        """Convert the wire message."""
        return cls(
            request_id=message.request_id,
            outcome=_name(common_pb2.Outcome, message.outcome, "OUTCOME_"),
            reason_code=_name(common_pb2.ReasonCode, message.reason_code, "REASON_CODE_"),
            reason=message.reason,
            risk=_name(common_pb2.Risk, message.risk, "RISK_"),
            permission_id=message.permission_id,
            policy_revision=message.policy_revision,
            approval_id=message.approval_id,
            decide_time=_time(message, "decide_time"),
            verifier_id=message.verifier_id,
            test_mode=message.test_mode,
        )


@dataclass(frozen=True)
class Approval:
    """A human decision on exactly one request. state: "PENDING", "APPROVED", "DENIED",
    "EXPIRED" or "CONSUMED"."""

    approval_id: str
    state: str
    agent_id: str
    action: str
    resource: str
    amount: Money | None
    permission_id: str
    request_id: str
    create_time: datetime | None = None
    expire_time: datetime | None = None
    resolve_time: datetime | None = None
    resolved_by: str = ""
    resolution_comment: str = ""

    @classmethod
    def from_proto(cls, message: resources_pb2.Approval) -> Approval:
        """Convert the wire message."""
        amount = None
        if message.HasField("amount"):
            amount = Money(message.amount.amount_minor, message.amount.currency)
        return cls(
            approval_id=message.approval_id,
            state=_name(resources_pb2.ApprovalState, message.state, "APPROVAL_STATE_"),
            agent_id=message.agent_id,
            action=message.action,
            resource=message.resource,
            amount=amount,
            permission_id=message.permission_id,
            request_id=message.request_id,
            create_time=_time(message, "create_time"),
            expire_time=_time(message, "expire_time"),
            resolve_time=_time(message, "resolve_time"),
            resolved_by=message.resolved_by,
            resolution_comment=message.resolution_comment,
        )


def _name(enum: object, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        return "UNSPECIFIED"
    return name.removeprefix(prefix)


def _time(message: object, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)
