"""DeliveryTask records for the retry and dead-letter topics, and the producer that sends them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common.errors import Unavailable
from behalf.common.kafka import EVENT_TYPE_HEADER
from behalf.dispatcher.store import DeliveryRow
from behalf.v1 import events_pb2

DUE_TIME_HEADER = "due-time"  # milliseconds since the epoch, decimal
ATTEMPT_HEADER = "attempt"
WEBHOOK_ID_HEADER = "webhook-id"

Headers = list[tuple[str, bytes]]


def build_task(
    *,
    delivery_id: str,
    webhook_id: str,
    tenant_id: str,
    endpoint_id: str,
    event_id: str,
    event_type: str,
    payload: bytes,
    attempt: int,
    due: datetime,
) -> tuple[events_pb2.DeliveryTask, Headers]:
    """The record value and its headers (due time, attempt, webhook id, event type)."""
    due_ts = Timestamp()
    due_ts.FromDatetime(due.astimezone(UTC))
    task = events_pb2.DeliveryTask(
        delivery_id=delivery_id,
        webhook_id=webhook_id,
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        attempt=attempt,
        due_time=due_ts,
    )
    headers: Headers = [
        (DUE_TIME_HEADER, str(int(due.timestamp() * 1000)).encode()),
        (ATTEMPT_HEADER, str(attempt).encode()),
        (WEBHOOK_ID_HEADER, webhook_id.encode()),
        (EVENT_TYPE_HEADER, event_type.encode()),
    ]
    return task, headers


def due_seconds(headers: Sequence[tuple[str, bytes]]) -> float | None:
    """The due time from record headers as epoch seconds, or None when absent or malformed."""
    for key, value in headers:
        if key == DUE_TIME_HEADER:
            try:
                return int(value.decode()) / 1000.0
            except (UnicodeDecodeError, ValueError):
                return None
    return None


class TaskSink(Protocol):
    """Durably enqueues tasks (returns only after the broker acknowledged every one)."""

    async def send(
        self, topic: str, items: Sequence[tuple[events_pb2.DeliveryTask, Headers]]
    ) -> None: ...


class KafkaTaskSink:
    """An idempotent `acks=all` producer, keyed by tenant id, attached once Kafka is up."""

    def __init__(self, producer: AIOKafkaProducer | None = None) -> None:
        self._producer = producer

    def attach(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(
        self, topic: str, items: Sequence[tuple[events_pb2.DeliveryTask, Headers]]
    ) -> None:
        producer = self._producer
        if producer is None:
            raise Unavailable("the dispatcher is starting")
        futures = [
            await producer.send(
                topic,
                task.SerializeToString(),
                key=task.tenant_id.encode(),
                headers=headers,
            )
            for task, headers in items
        ]
        for future in futures:
            await future


def task_for(
    row: DeliveryRow, attempt: int, due: datetime
) -> tuple[events_pb2.DeliveryTask, Headers]:
    """The retry or dead-letter record of a stored delivery."""
    return build_task(
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        tenant_id=row.tenant_id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=row.payload,
        attempt=attempt,
        due=due,
    )
