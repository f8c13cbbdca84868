"""Event types of decisions, one definition for the Kafka header and the webhook body.

A test-mode decision (a manual test link, `check()` in the SDKs) authorizes nothing, so it
travels as its own type, `verification.test.<outcome>`, never as `verification.<outcome>`.
Endpoints receive test types only when they name them (see `explicitly_wanted`).
"""

from __future__ import annotations

from collections.abc import Iterable

from behalf.v1 import common_pb2, events_pb2

TEST_DECISION_PREFIX = "verification.test."

_DECISION_TYPES: dict[int, str] = {
    common_pb2.OUTCOME_ALLOW: "verification.allowed",
    common_pb2.OUTCOME_DENY: "verification.denied",
    common_pb2.OUTCOME_REQUIRE_APPROVAL: "verification.approval_required",
}
_TEST_DECISION_TYPES: dict[int, str] = {
    common_pb2.OUTCOME_ALLOW: "verification.test.allowed",
    common_pb2.OUTCOME_DENY: "verification.test.denied",
    common_pb2.OUTCOME_REQUIRE_APPROVAL: "verification.test.approval_required",
}
DECISION_TYPES = tuple(_DECISION_TYPES.values())
TEST_DECISION_TYPES = tuple(_TEST_DECISION_TYPES.values())


def is_test(event: events_pb2.DecisionEvent) -> bool:
    """True when either the event or its decision is marked as a test (either one suffices)."""
    return event.test_mode or event.decision.test_mode


def decision_type(event: events_pb2.DecisionEvent) -> str | None:
    """`verification.[test.]allowed|denied|approval_required`; None for an unknown outcome."""
    types = _TEST_DECISION_TYPES if is_test(event) else _DECISION_TYPES
    return types.get(event.decision.outcome)


def header_type(event: events_pb2.DecisionEvent) -> str:
    """The type for the Kafka `event-type` header: an unknown outcome reads as a deny."""
    types = _TEST_DECISION_TYPES if is_test(event) else _DECISION_TYPES
    return types.get(event.decision.outcome, types[common_pb2.OUTCOME_DENY])


def is_test_type(event_type: str) -> bool:
    """True for the type of a test-mode decision."""
    return event_type.startswith(TEST_DECISION_PREFIX)


def explicitly_wanted(filters: Iterable[str]) -> list[str]:
    """The filters that may select test types: those under `verification.test.`, so neither an
    empty filter, `*` nor `verification.*` ever selects a test decision."""
    return [pattern for pattern in filters if pattern.startswith(TEST_DECISION_PREFIX)]
