"""The dispatcher's consumer loops: whole polls (events) or records (retry tasks), gated on
`due-time`.

The loop itself (in-order commits, retries, rebalances, clean stop) is `behalf.common.consume`.
The events loop hands a whole poll to one handler (one write for the batch; the handler only
queues deliveries, so it never waits for a POST). Retry loops handle each record on its own, and
with `gate_on_due` a record whose `due-time` header lies in the future pauses its partition
until it is due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

from behalf.common import consume
from behalf.common.consume import ConsumeLoop, Record, RetryLater
from behalf.common.kafka import PLAINTEXT, KafkaSecurity
from behalf.dispatcher.tasks import due_seconds

__all__ = ["BatchHandler", "ConsumerLoop", "Handler", "RetryLater", "new_consumer"]

Handler = Callable[[Record], Awaitable[None]]
BatchHandler = Callable[[list[Record]], Awaitable[None]]


def _due(record: Record) -> float | None:
    return due_seconds(record.headers)


class ConsumerLoop(ConsumeLoop):
    """Runs one consumer until `stop()`; `handler` must be idempotent (at-least-once)."""

    def __init__(
        self,
        name: str,
        consumer: AIOKafkaConsumer,
        topics: list[str],
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        gate_on_due: bool = False,
        max_in_flight: int = 1000,
        drain_seconds: float = 20.0,
        batches_in_flight: int = 1,
    ) -> None:
        async def handle(records: list[Record]) -> None:
            if handler is not None:
                await handler(records[0])

        super().__init__(
            name,
            consumer,
            topics,
            batch_handler or handle,
            per_record=batch_handler is None,
            due=_due if gate_on_due else None,
            max_in_flight=max_in_flight,
            drain_seconds=drain_seconds,
            batches_in_flight=batches_in_flight,
        )

    async def consumer_start(self) -> None:
        """Connect the consumer (separately from `run`, so startup can retry it)."""
        await self.start_consumer()


def new_consumer(
    bootstrap: str, group_id: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT
) -> AIOKafkaConsumer:
    """A consumer that never commits by itself and starts new groups at the earliest offset."""
    return consume.new_consumer(bootstrap, group_id, client_id=client_id, security=security)
