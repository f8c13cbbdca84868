"""Publishing decisions to Kafka and waiting for the broker's ack: no allow without an audit."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from behalf.common.kafka import EVENT_TYPE_HEADER
from behalf.v1 import common_pb2, events_pb2

AUDIT_FAILURES = Counter(
    "behalf_verifier_audit_publish_failures_total", "Decisions that could not be audited."
)
_log = structlog.get_logger("audit")

EVENT_TYPES = {
    common_pb2.OUTCOME_ALLOW: "verification.allowed",
    common_pb2.OUTCOME_DENY: "verification.denied",
    common_pb2.OUTCOME_REQUIRE_APPROVAL: "verification.approval_required",
}


class AuditUnavailable(Exception):
    """The decision did not reach the broker in time."""


class DecisionPublisher:
    """Sends DecisionEvents with an idempotent acks=all producer, keyed by tenant."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout_seconds: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout = timeout_seconds

    async def publish(self, event: events_pb2.DecisionEvent) -> None:
        """Return once the broker has acked; raise AuditUnavailable otherwise."""
        event_type = EVENT_TYPES.get(event.decision.outcome, "verification.denied")
        try:
            async with asyncio.timeout(self._timeout):
                await self._producer.send_and_wait(
                    self._topic,
                    value=event.SerializeToString(),
                    key=event.tenant_id.encode(),
                    headers=[
                        (EVENT_TYPE_HEADER, event_type.encode()),
                        ("event-id", event.event_id.encode()),
                    ],
                )
        except Exception as exc:
            AUDIT_FAILURES.inc()
            _log.warning("audit_publish_failed", error=type(exc).__name__)
            raise AuditUnavailable(type(exc).__name__) from exc


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    """An idempotent, acks=all producer tuned to batch concurrent Verify calls together."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=5000,
        retry_backoff_ms=50,
    )
