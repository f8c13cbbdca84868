"""PostgreSQL restarted under registry mutations: it reconnects; no outbox row lost or reordered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import grpc

from behalf.v1 import common_pb2, events_pb2, registry_pb2, resources_pb2
from tests.faults.load import (
    agent_with_grant,
    aio_registry,
    aio_verifier,
    consume_all,
    purchase,
    wait_until,
)
from tests.harness.infra import KafkaServer, PostgresServer
from tests.harness.stack import Tenant, start_stack, stop_stack

TENANTS = 3
RECOVERY_BOUND_SECONDS = 15.0
WATCH_BOUND_SECONDS = 15.0
OUTAGE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}


@dataclass(frozen=True)
class Mutation:
    """One registry mutation call and its result."""

    tenant_id: str
    event_type: str
    sent: float
    received: float
    revision: int = 0
    error: grpc.StatusCode | None = None


async def _mutate_forever(
    registry, tenant: Tenant, out: list[Mutation], stop: asyncio.Event
) -> None:
    """create agent → grant → disable → enable → revoke, again and again; a failure restarts."""

    async def call(event_type: str, rpc, request) -> object | None:
        sent = time.monotonic()
        try:
            reply = await rpc(request, metadata=tenant.admin, timeout=10)
        except grpc.aio.AioRpcError as exc:
            out.append(
                Mutation(tenant.tenant_id, event_type, sent, time.monotonic(), error=exc.code())
            )
            await asyncio.sleep(0.1)
            return None
        out.append(Mutation(tenant.tenant_id, event_type, sent, time.monotonic(), reply.revision))
        return reply

    n = 0
    while not stop.is_set():
        n += 1
        created = await call(
            "agent.created",
            registry.CreateAgent,
            registry_pb2.CreateAgentRequest(name=f"a{n}", kind=resources_pb2.AGENT_KIND_NATIVE),
        )
        if created is None:
            continue
        agent_id = created.agent.agent_id
        granted = await call(
            "permission.granted",
            registry.GrantPermission,
            registry_pb2.GrantPermissionRequest(
                agent_id=agent_id, allowed_actions=["read_email"], resources=["mail.example.com"]
            ),
        )
        if granted is None:
            continue
        if (
            await call(
                "agent.disabled",
                registry.DisableAgent,
                registry_pb2.DisableAgentRequest(agent_id=agent_id),
            )
            is None
        ):
            continue
        if (
            await call(
                "agent.enabled",
                registry.EnableAgent,
                registry_pb2.EnableAgentRequest(agent_id=agent_id),
            )
            is None
        ):
            continue
        await call(
            "permission.revoked",
            registry.RevokePermission,
            registry_pb2.RevokePermissionRequest(permission_id=granted.permission.permission_id),
        )


async def test_registry_rides_out_a_postgres_restart(
    own_postgres: PostgresServer, shared_kafka: KafkaServer, tmp_path: Path
) -> None:
    """Mutations fail only while PostgreSQL is down, and only UNAVAILABLE or INTERNAL; every
    committed mutation reaches the lifecycle topic, in revision order per tenant."""
    stack = await start_stack(own_postgres.url, shared_kafka.bootstrap, tmp_path)
    try:
        tenants = [stack.create_tenant(f"t{i}") for i in range(TENANTS)]
        registry = aio_registry(stack.registry.target)
        mutations: list[Mutation] = []
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(_mutate_forever(registry, t, mutations, stop)) for t in tenants
        ]
        started = time.monotonic()
        await asyncio.sleep(3)
        stopping = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        stopped = time.monotonic()
        await asyncio.sleep(2)
        await asyncio.to_thread(own_postgres.start)
        back = time.monotonic()

        def ok_after(moment: float, tenant_id: str) -> int:
            return sum(
                1
                for m in mutations
                if m.tenant_id == tenant_id and m.sent >= moment and m.error is None
            )

        recovered = await wait_until(
            lambda: all(ok_after(back, t.tenant_id) >= 1 for t in tenants),
            RECOVERY_BOUND_SECONDS,
            "mutations to succeed again",
        )
        await wait_until(
            lambda: all(ok_after(recovered, t.tenant_id) >= 10 for t in tenants),
            RECOVERY_BOUND_SECONDS,
            "a steady stream of mutations after recovery",
        )
        stop.set()
        await asyncio.gather(*workers)
        ended = time.monotonic()
        assert stack.registry.process.poll() is None, "the registry died"

        errors = [m for m in mutations if m.error is not None]
        codes = Counter(m.error.name for m in errors if m.error is not None)
        assert {m.error for m in errors} <= OUTAGE_CODES, codes
        outside = [m for m in errors if m.received < stopping or m.sent > recovered]
        assert not outside, f"{len(outside)} failures outside the outage: {outside[:3]}"

        committed = [m for m in mutations if m.error is None]
        wanted = {(m.tenant_id, m.revision, m.event_type) for m in committed}
        events: list[tuple[int, int, events_pb2.LifecycleEvent]] = []

        def all_found(records: list) -> bool:
            for partition, offset, _, value in records[len(events) :]:
                events.append((partition, offset, events_pb2.LifecycleEvent.FromString(value)))
            return wanted <= {(e.tenant_id, e.revision, e.type) for _, _, e in events}

        await consume_all(shared_kafka.bootstrap, f"{stack.topic_prefix}.lifecycle", all_found)
        found = {(e.tenant_id, e.revision, e.type) for _, _, e in events}
        missing = wanted - found
        assert not missing, f"{len(missing)} committed mutations missing: {sorted(missing)[:5]}"

        # Per tenant, in the order its partition holds them (first copy of each event id):
        # revisions never go backwards.
        per_tenant: dict[str, list[int]] = defaultdict(list)
        seen: set[str] = set()
        duplicates = 0
        for _, _, event in sorted(events, key=lambda e: (e[0], e[1])):
            if event.event_id in seen:
                duplicates += 1
                continue
            seen.add(event.event_id)
            per_tenant[event.tenant_id].append(event.revision)
        for tenant_id, revisions in per_tenant.items():
            assert revisions == sorted(revisions), f"reordered lifecycle events for {tenant_id}"
        partitions = {e.tenant_id: p for p, _, e in events}
        assert all(partitions[e.tenant_id] == p for p, _, e in events), "a tenant spans partitions"

        # The watch stream survives too: a grant made now reaches the verifier within a bound
        # (its outbox tail backs off up to 5 s while PostgreSQL is away).
        agent_id, grant = await agent_with_grant(registry, tenants[0], "after")
        granted = time.monotonic()
        verifier = aio_verifier(stack.verifiers[0].target)
        while True:
            decision = (
                await verifier.Verify(
                    purchase(agent_id, 100, grant.revision), metadata=tenants[0].verify, timeout=10
                )
            ).decision
            if decision.outcome == common_pb2.OUTCOME_ALLOW:
                break
            assert decision.reason_code == common_pb2.REASON_CODE_STALE_POLICY, decision
            assert time.monotonic() - granted < WATCH_BOUND_SECONDS, "the verifier stayed behind"
        watch_lag = time.monotonic() - granted

        print(
            f"\npostgres-restarted: {len(mutations)} mutations by {TENANTS} tenants in"
            f" {ended - started:.1f}s; {len(committed)} committed, failures {dict(codes)};"
            f" stop took {stopped - stopping:.1f}s, down {back - stopped:.1f}s; first success"
            f" {recovered - back:.2f}s after PostgreSQL was back; {len(events)} lifecycle events"
            f" read ({duplicates} duplicates), 0 of {len(wanted)} committed missing, 0 reordered;"
            f" a grant made {granted - back:.1f}s after the restart allowed {watch_lag:.2f}s later"
        )
    finally:
        await stop_stack(stack)
