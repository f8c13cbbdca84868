"""Jinja filters: timestamps, money, enum names and test markers, formatted for people."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from google.protobuf import timestamp_pb2

from behalf import minor_unit_exponent
from behalf.v1 import common_pb2, dispatcher_pb2, events_pb2, resources_pb2

TEST_REQUEST_PREFIX = "test:"
TEST_CONTEXT_KEY = "behalf.test_mode"


def has_time(value: timestamp_pb2.Timestamp | None) -> bool:
    return value is not None and (value.seconds != 0 or value.nanos != 0)


def when(value: timestamp_pb2.Timestamp | None) -> str:
    """`2025-01-31 14:05:09 UTC`, or an em dash when unset."""
    if not has_time(value):
        return "—"
    assert value is not None
    return value.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: timestamp_pb2.Timestamp | None) -> str:
    if not has_time(value):
        return ""
    assert value is not None
    return value.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def remaining(value: timestamp_pb2.Timestamp | None, now: datetime | None = None) -> str:
    """Time left until `value`, such as `2d 3h`, `5m 10s` or `expired`."""
    if not has_time(value):
        return "never"
    assert value is not None
    left = int((value.ToDatetime(tzinfo=UTC) - (now or datetime.now(UTC))).total_seconds())
    if left <= 0:
        return "expired"
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s"


def epoch(seconds: int) -> str:
    """Unix seconds as `2025-01-31 14:05 UTC`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def money(value: common_pb2.Money | None) -> str:
    """`799.99 USD`, or an em dash when there is no amount."""
    if value is None or not value.currency:
        return "—"
    exponent = minor_unit_exponent(value.currency)
    major = Decimal(value.amount_minor).scaleb(-exponent)
    return f"{major:.{exponent}f} {value.currency}"


def short_enum(enum: Any, number: int, prefix: str) -> str:
    try:
        return str(enum.Name(number)).removeprefix(prefix)
    except ValueError:
        return str(number)


def outcome(number: int) -> str:
    return short_enum(common_pb2.Outcome, number, "OUTCOME_")


def reason(number: int) -> str:
    return short_enum(common_pb2.ReasonCode, number, "REASON_CODE_")


def risk(number: int) -> str:
    return short_enum(common_pb2.Risk, number, "RISK_")


def kind(number: int) -> str:
    return short_enum(resources_pb2.AgentKind, number, "AGENT_KIND_").lower()


def mode(number: int) -> str:
    """`test` for an agent in manual test mode, else `enforced` (unspecified is enforced)."""
    return "test" if number == resources_pb2.AGENT_MODE_TEST else "enforced"


def category(number: int) -> str:
    return short_enum(common_pb2.ActionCategory, number, "ACTION_CATEGORY_").lower()


def approval_state(number: int) -> str:
    return short_enum(resources_pb2.ApprovalState, number, "APPROVAL_STATE_")


def delivery_state(number: int) -> str:
    return short_enum(dispatcher_pb2.DeliveryState, number, "DELIVERY_STATE_")


def breaker_state(number: int) -> str:
    """`closed`, `half-open` or `open`; `unknown` while no dispatcher has reported."""
    if number == resources_pb2.BREAKER_STATE_UNSPECIFIED:
        return "unknown"
    return (
        short_enum(resources_pb2.BreakerState, number, "BREAKER_STATE_").lower().replace("_", "-")
    )


def percent(rate: float) -> str:
    """A success rate as `99.5%`: one decimal, so a few failures in thousands still show."""
    return f"{rate * 100:.1f}%"


def is_test_decision(event: events_pb2.DecisionEvent) -> bool:
    """A test decision, as the verifier flagged it. Never from the request id or context
    markers a test link also sets: any agent can send those with a real request, and a real
    allow (or the approval it asks for) must not look like a harmless test."""
    return event.test_mode or event.decision.test_mode


FILTERS = {
    "when": when,
    "iso": iso,
    "remaining": remaining,
    "money": money,
    "epoch": epoch,
    "outcome": outcome,
    "reason": reason,
    "risk": risk,
    "kind": kind,
    "mode": mode,
    "category": category,
    "approval_state": approval_state,
    "delivery_state": delivery_state,
    "breaker_state": breaker_state,
    "percent": percent,
}
TESTS = {"test_decision": is_test_decision, "set": has_time}
