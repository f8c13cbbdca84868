"""The verifier with its audit changed, for the benchmark only: what the audit costs Verify.

    python bench/verifier_variants.py none         (settings from the environment)
    python bench/verifier_variants.py idempotent

`none` accepts every decision at once and sends nothing: the audit-free point, which tells
the RPC's and the decision's cost from the audit's. `idempotent` sends each decision as an
idempotent acks=all record the moment it is made, without a transaction: what exactness
costs. Production has neither. An allow without an audit record is what the verifier must
never give; and without a transaction a decision whose ack came too late (answered DENY
AUDIT_UNAVAILABLE) may still land in the trail as the allow nobody got, where a transaction
that missed its deadline is never committed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from behalf.common.kafka import Topics
from behalf.common.runner import run_service
from behalf.v1 import events_pb2
from behalf.verifier import audit
from behalf.verifier.app import VerifierService
from behalf.verifier.audit import DecisionPublisher
from behalf.verifier.settings import VerifierSettings


class NoAudit(DecisionPublisher):
    """Accepts every decision at once and sends nothing."""

    def __init__(self) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(
        self,
        event: events_pb2.DecisionEvent,
        *,
        on_withdrawn: Callable[[], None] | None = None,
    ) -> None:
        pass


class IdempotentAudit(DecisionPublisher):
    """Each decision sent at once as an idempotent acks=all record, no lanes, no transaction."""

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            retry_backoff_ms=audit.RETRY_BACKOFF_MS,
        )
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(
        self,
        event: events_pb2.DecisionEvent,
        *,
        on_withdrawn: Callable[[], None] | None = None,
    ) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await (await self._producer.send(self._topic, **audit._record(event)))
        except Exception as exc:
            raise audit.AuditUnavailable("decision not acknowledged in time") from exc


class VariantVerifier(VerifierService):
    variant = "none"

    def audit_trail(self) -> DecisionPublisher:
        if self.variant == "none":
            return NoAudit()
        settings = self.settings
        return IdempotentAudit(
            settings.kafka.bootstrap,
            Topics(settings.kafka.topic_prefix).decisions,
            settings.audit_timeout_seconds,
            transactional_id=f"unused-{settings.verifier_id}",
            lanes=settings.audit_lanes,
        )


if __name__ == "__main__":
    if sys.argv[1:] not in (["none"], ["idempotent"]):
        sys.exit("usage: verifier_variants.py none|idempotent")
    VariantVerifier.variant = sys.argv[1]
    run_service("verifier", VerifierSettings.from_env, VariantVerifier)
