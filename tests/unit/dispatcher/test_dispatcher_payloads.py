"""Webhook bodies from decision and lifecycle events."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common.event_types import header_type
from behalf.dispatcher.payloads import UnsupportedEvent, from_decision, from_lifecycle
from behalf.v1 import common_pb2, events_pb2, resources_pb2


def _decision(outcome: int, *, test_mode: bool = False) -> events_pb2.DecisionEvent:
    return events_pb2.DecisionEvent(
        event_id="evt_1",
        tenant_id="ten_1",
        agent_id="agt_1",
        action="purchase",
        resource="shop.example.com",
        key_id="key_1",
        test_mode=test_mode,
        decision=common_pb2.Decision(
            request_id="req_1",
            outcome=outcome,
            decide_time=Timestamp(seconds=1_700_000_000, nanos=5_000_000),
            test_mode=test_mode,
        ),
    )


@pytest.mark.parametrize(
    ("outcome", "event_type"),
    [
        (common_pb2.OUTCOME_ALLOW, "verification.allowed"),
        (common_pb2.OUTCOME_DENY, "verification.denied"),
        (common_pb2.OUTCOME_REQUIRE_APPROVAL, "verification.approval_required"),
    ],
)
def test_decision_types_follow_the_outcome(outcome, event_type):
    """Each outcome has its webhook type; data is the event as JSON."""
    message = from_decision(_decision(outcome))
    body = json.loads(message.body)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == message.event_type == event_type
    assert body["timestamp"] == "2023-11-14T22:13:20.005Z"
    assert body["data"]["event_id"] == "evt_1"
    assert body["data"]["decision"]["request_id"] == "req_1"
    assert (message.event_id, message.tenant_id) == ("evt_1", "ten_1")


@pytest.mark.parametrize(
    ("outcome", "event_type"),
    [
        (common_pb2.OUTCOME_ALLOW, "verification.test.allowed"),
        (common_pb2.OUTCOME_DENY, "verification.test.denied"),
        (common_pb2.OUTCOME_REQUIRE_APPROVAL, "verification.test.approval_required"),
    ],
)
def test_test_mode_decisions_have_their_own_types(outcome, event_type):
    """A test-mode decision goes out as `verification.test.*`, never as a real decision type."""
    message = from_decision(_decision(outcome, test_mode=True))
    assert message.event_type == json.loads(message.body)["type"] == event_type


def test_either_test_mark_makes_a_test_type():
    """A decision marked as a test only on the event, or only on the decision, is a test."""
    only_event = _decision(common_pb2.OUTCOME_ALLOW)
    only_event.test_mode = True
    only_decision = _decision(common_pb2.OUTCOME_ALLOW)
    only_decision.decision.test_mode = True
    assert from_decision(only_event).event_type == "verification.test.allowed"
    assert from_decision(only_decision).event_type == "verification.test.allowed"


@pytest.mark.parametrize("test_mode", [False, True])
def test_kafka_header_and_webhook_type_agree(test_mode):
    """The verifier's `event-type` header names the same type as the webhook body, and an
    unknown outcome's header reads as a deny of the same kind."""
    for outcome in (
        common_pb2.OUTCOME_ALLOW,
        common_pb2.OUTCOME_DENY,
        common_pb2.OUTCOME_REQUIRE_APPROVAL,
    ):
        event = _decision(outcome, test_mode=test_mode)
        assert header_type(event) == from_decision(event).event_type
    unknown = header_type(_decision(common_pb2.OUTCOME_UNSPECIFIED, test_mode=test_mode))
    assert unknown == ("verification.test.denied" if test_mode else "verification.denied")


def test_unspecified_outcome_is_refused():
    """A decision without an outcome cannot become a webhook."""
    with pytest.raises(UnsupportedEvent):
        from_decision(_decision(common_pb2.OUTCOME_UNSPECIFIED))


def test_lifecycle_uses_its_own_type_and_commit_time():
    """A lifecycle event keeps its type; the body carries the subject."""
    event = events_pb2.LifecycleEvent(
        event_id="evt_2",
        tenant_id="ten_1",
        type="agent.disabled",
        revision=7,
        occur_time=Timestamp(seconds=1_700_000_000),
        agent=resources_pb2.Agent(agent_id="agt_1"),
    )
    body = json.loads(from_lifecycle(event).body)
    assert body["type"] == "agent.disabled"
    assert body["timestamp"] == "2023-11-14T22:13:20Z"
    assert body["data"]["agent"]["agent_id"] == "agt_1"
    assert body["data"]["revision"] == "7"


def test_body_is_deterministic():
    """The same event always yields the same bytes, so retries sign the same body."""
    assert from_decision(_decision(1)).body == from_decision(_decision(1)).body


def test_lifecycle_without_type_is_refused():
    """An untyped lifecycle event is skipped."""
    with pytest.raises(UnsupportedEvent):
        from_lifecycle(events_pb2.LifecycleEvent(event_id="evt_3"))


def test_an_event_json_cannot_hold_is_unsupported_not_a_crash() -> None:
    """A decide time past year 9999 or with negative nanos decodes, but no webhook body can
    carry it: the pipeline skips such an event (UnsupportedEvent) instead of failing its batch."""
    for seconds, nanos in ((253_402_300_800, 0), (1, -5)):
        event = _decision(common_pb2.OUTCOME_ALLOW)
        event.decision.decide_time.seconds, event.decision.decide_time.nanos = seconds, nanos
        with pytest.raises(UnsupportedEvent, match="JSON"):
            from_decision(event)
    lifecycle = events_pb2.LifecycleEvent(event_id="evt_1", tenant_id="ten_1", type="agent.created")
    lifecycle.occur_time.nanos = -1
    with pytest.raises(UnsupportedEvent, match="JSON"):
        from_lifecycle(lifecycle)
