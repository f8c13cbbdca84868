"""Steady, bounded load for fault scenarios: every reply recorded with when it was sent and got."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
from aiokafka import AIOKafkaConsumer

from behalf.v1 import (
    common_pb2,
    registry_pb2,
    registry_pb2_grpc,
    resources_pb2,
    verifier_pb2,
    verifier_pb2_grpc,
)
from tests.harness.stack import Tenant, coachella_grant

Metadata = tuple[tuple[str, str], ...]


def usd(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency="USD")


def code_name(reason_code: int) -> str:
    return common_pb2.ReasonCode.Name(reason_code).removeprefix("REASON_CODE_")


@dataclass(frozen=True)
class Reply:
    """One Verify call: what was asked, when, and what came back (a decision or an error)."""

    label: str
    request_id: str
    amount: int
    sent: float
    received: float
    outcome: int = 0
    reason_code: int = 0
    error: grpc.StatusCode | None = None

    @property
    def allowed(self) -> bool:
        return self.error is None and self.outcome == common_pb2.OUTCOME_ALLOW

    @property
    def summary(self) -> str:
        if self.error is not None:
            return f"error:{self.error.name}"
        outcome = common_pb2.Outcome.Name(self.outcome).removeprefix("OUTCOME_")
        return f"{outcome}/{code_name(self.reason_code)}"


@dataclass
class VerifyLoad:
    """A few asyncio workers calling Verify in a loop until stopped; every reply is kept."""

    replies: list[Reply] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def add_worker(
        self,
        label: str,
        stub: verifier_pb2_grpc.VerifierServiceStub,
        metadata: Metadata,
        make: Callable[[], verifier_pb2.VerifyRequest],
        *,
        pause: float = 0.02,
        timeout: float = 10.0,
    ) -> None:
        self._tasks.append(
            asyncio.create_task(self._work(label, stub, metadata, make, pause, timeout))
        )

    async def _work(
        self,
        label: str,
        stub: verifier_pb2_grpc.VerifierServiceStub,
        metadata: Metadata,
        make: Callable[[], verifier_pb2.VerifyRequest],
        pause: float,
        timeout: float,  # noqa: ASYNC109 - the per-call gRPC deadline
    ) -> None:
        while not self.stop.is_set():
            request = make()
            if not request.request_id:
                request.request_id = f"req-{uuid.uuid4().hex}"
            sent = time.monotonic()
            try:
                reply = await stub.Verify(request, metadata=metadata, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                self.replies.append(
                    Reply(label, request.request_id, 0, sent, time.monotonic(), error=exc.code())
                )
            else:
                decision = reply.decision
                assert decision.request_id == request.request_id
                self.replies.append(
                    Reply(
                        label,
                        request.request_id,
                        request.amount.amount_minor,
                        sent,
                        time.monotonic(),
                        decision.outcome,
                        decision.reason_code,
                    )
                )
            await asyncio.sleep(pause)

    async def finish(self) -> list[Reply]:
        self.stop.set()
        await asyncio.gather(*self._tasks)
        return self.replies

    def since(self, moment: float, label: str | None = None) -> list[Reply]:
        return [r for r in self.replies if r.sent >= moment and label in (None, r.label)]


def tally(replies: Iterable[Reply]) -> dict[str, int]:
    """How many replies of each kind ("ALLOW/ALLOWED", "DENY/STALE_POLICY", "error:…")."""
    return dict(sorted(Counter(r.summary for r in replies).items()))


async def wait_until(
    predicate: Callable[[], bool], within: float, what: str, step: float = 0.05
) -> float:
    """Wait for `predicate`; return when it held (monotonic) or fail naming `what`."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(step)
    return time.monotonic()


def aio_verifier(target: str) -> verifier_pb2_grpc.VerifierServiceStub:
    return verifier_pb2_grpc.VerifierServiceStub(grpc.aio.insecure_channel(target))


def aio_registry(target: str) -> registry_pb2_grpc.RegistryServiceStub:
    return registry_pb2_grpc.RegistryServiceStub(grpc.aio.insecure_channel(target))


async def agent_with_grant(
    registry: registry_pb2_grpc.RegistryServiceStub,
    tenant: Tenant,
    name: str,
    **grant_fields: object,
) -> tuple[str, registry_pb2.GrantPermissionResponse]:
    """An agent allowed to purchase on coachella.com up to 800.00 USD for an hour."""
    agent = (
        await registry.CreateAgent(
            registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
            metadata=tenant.admin,
            timeout=10,
        )
    ).agent
    request = coachella_grant(agent.agent_id, **grant_fields)
    grant = await registry.GrantPermission(request, metadata=tenant.admin, timeout=10)
    return agent.agent_id, grant


def purchase(agent_id: str, amount: int = 100, min_revision: int = 0) -> verifier_pb2.VerifyRequest:
    return verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=usd(amount),
        min_revision=min_revision,
    )


async def consume_all(
    bootstrap: str,
    topic: str,
    done: Callable[[list[tuple[int, int, dict[str, bytes], bytes]]], bool],
    within: float = 60.0,
) -> list[tuple[int, int, dict[str, bytes], bytes]]:
    """Read `topic` from the start until `done(records)` or `within` seconds pass.

    Records are (partition, offset, headers, value) in the order each partition holds them.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"faults-{uuid.uuid4().hex}",
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[tuple[int, int, dict[str, bytes], bytes]] = []
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not done(records):
            batches = await consumer.getmany(timeout_ms=500)
            for partition, batch in batches.items():
                for record in batch:
                    headers = {k: v for k, v in record.headers}
                    records.append((partition.partition, record.offset, headers, record.value))
    finally:
        await consumer.stop()
    return records
