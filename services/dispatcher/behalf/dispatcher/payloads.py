"""Webhook JSON bodies `{"type", "timestamp", "data"}` built from Kafka events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict, SerializeToJsonError
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common import event_types
from behalf.v1 import events_pb2


class UnsupportedEvent(ValueError):
    """The event cannot become a webhook (no type, unknown outcome, a field JSON cannot
    hold, such as a timestamp out of range)."""


@dataclass(frozen=True)
class WebhookMessage:
    """One event as it goes out: its identity, its type, and the exact body bytes."""

    event_id: str
    tenant_id: str
    event_type: str
    body: bytes


def _rfc3339(ts: Timestamp, fallback: datetime | None) -> str:
    if ts.seconds or ts.nanos:
        return ts.ToJsonString()
    moment = fallback or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _body(event_type: str, timestamp: str, data: dict[str, object]) -> bytes:
    document = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def decision_type(event: events_pb2.DecisionEvent) -> str:
    """`verification.allowed|denied|approval_required` from the decision's outcome, and
    `verification.test.…` for a test-mode decision (it authorizes nothing)."""
    event_type = event_types.decision_type(event)
    if event_type is None:
        raise UnsupportedEvent(f"decision outcome {event.decision.outcome} has no type")
    return event_type


def from_decision(
    event: events_pb2.DecisionEvent, *, now: datetime | None = None
) -> WebhookMessage:
    """A decision event as a webhook; timestamp is the decision time."""
    event_type = decision_type(event)
    data = _as_json(event)
    timestamp = _rfc3339(event.decision.decide_time, now)
    return WebhookMessage(
        event.event_id, event.tenant_id, event_type, _body(event_type, timestamp, data)
    )


def from_lifecycle(
    event: events_pb2.LifecycleEvent, *, now: datetime | None = None
) -> WebhookMessage:
    """A lifecycle event as a webhook of its own type; timestamp is the commit time."""
    if not event.type:
        raise UnsupportedEvent("lifecycle event has no type")
    data = _as_json(event)
    timestamp = _rfc3339(event.occur_time, now)
    return WebhookMessage(
        event.event_id, event.tenant_id, event.type, _body(event.type, timestamp, data)
    )


def _as_json(event: events_pb2.DecisionEvent | events_pb2.LifecycleEvent) -> dict[str, Any]:
    try:
        return MessageToDict(event, preserving_proto_field_name=True)
    except (SerializeToJsonError, ValueError) as exc:
        raise UnsupportedEvent(f"event cannot be written as JSON: {exc}") from None
