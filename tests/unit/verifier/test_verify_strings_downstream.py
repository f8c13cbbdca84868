"""Agent strings at their limits still make records every consumer downstream can take
(PostgreSQL text, Kafka's record limit, the webhook body): these pin the limits that make it so."""

from __future__ import annotations

import json

import pytest

from behalf.common.errors import InvalidArgument
from behalf.common.ids import new_id
from behalf.dispatcher.payloads import from_decision
from behalf.v1 import common_pb2, events_pb2, verifier_pb2
from behalf.verifier.http_body import parse_verify_body
from behalf.verifier.validation import MAX_CONTEXT_ENTRIES, validate_verify

KAFKA_MAX_RECORD = 1024 * 1024  # aiokafka's max_request_size and the broker's default


@pytest.mark.parametrize("bad", ["a\x00b", "\x00"])
def test_nul_in_context_never_reaches_postgresql(bad: str) -> None:
    """Attack: U+0000 in a context key or value, which PostgreSQL text refuses
    downstream. validate_verify refuses every Cc character in both."""
    for context in ({"k": bad}, {bad: "v"}):
        request = verifier_pb2.VerifyRequest(
            agent_id=new_id("agt"), action="purchase", context=context
        )
        with pytest.raises(InvalidArgument):
            validate_verify(request, new_id("ten"))


def test_lone_surrogate_in_http_json_is_refused() -> None:
    """Attack: `"\\ud800"` in the HTTP JSON body (no protobuf string holds it; the
    audit sink and dispatcher would fail to decode). The HTTP body parser refuses it."""
    body = json.dumps({"agentId": new_id("agt"), "action": "x", "context": {"k": "\ud800"}})
    with pytest.raises(InvalidArgument):
        parse_verify_body(body.encode())


def test_the_largest_decision_is_a_kafka_record_and_a_webhook_body() -> None:
    """Attack: 32 context entries of 64 + 256 emoji (4 UTF-8 bytes each, 12 bytes
    once JSON-escaped). The record (~41 kB) and the webhook body (~123 kB) stay far below
    Kafka's 1 MiB; both are accepted by validate_verify first."""
    wide = "\U0001f600"
    context = {f"{n:02d}" + wide * 62: wide * 256 for n in range(MAX_CONTEXT_ENTRIES)}
    tenant = new_id("ten")
    request = verifier_pb2.VerifyRequest(
        agent_id=new_id("agt"), action="purchase", request_id="r" * 128, context=context
    )
    validate_verify(request, tenant)
    event = events_pb2.DecisionEvent(
        event_id=new_id("evt"),
        tenant_id=tenant,
        agent_id=request.agent_id,
        action=request.action,
        context=context,
        decision=common_pb2.Decision(
            outcome=common_pb2.OUTCOME_DENY, request_id=request.request_id
        ),
    )
    event.decision.decide_time.GetCurrentTime()
    record = event.SerializeToString()
    body = from_decision(event).body
    assert len(record) < KAFKA_MAX_RECORD // 8
    assert len(body) < KAFKA_MAX_RECORD // 4
    assert json.loads(body)["data"]["context"] == context
