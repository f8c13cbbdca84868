"""Dispatcher SIGKILLed repeatedly during delivery: every event delivered, every delivery final."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from standardwebhooks.webhooks import Webhook

from behalf.v1 import (
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    registry_pb2,
    resources_pb2,
)
from tests.faults.load import (
    VerifyLoad,
    agent_with_grant,
    aio_registry,
    aio_verifier,
    purchase,
    tally,
    wait_until,
)
from tests.harness.infra import KafkaServer, PostgresServer
from tests.harness.processes import start_service
from tests.harness.receiver import Received, Receiver
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

KILLS = 3
KILL_EVERY_SECONDS = 3.0
DELIVERY_BOUND_SECONDS = 120.0
FINAL_STATES = {dispatcher_pb2.DELIVERY_STATE_SUCCEEDED, dispatcher_pb2.DELIVERY_STATE_DEAD}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()


def _flaky_first_attempt() -> object:
    """503 on the first attempt of one webhook id in four, so retry tiers are in play too."""
    attempts: Counter[str] = Counter()

    async def behaviour(request: Received, _n: int) -> tuple[int, dict[str, str]]:
        webhook_id = request.headers.get("webhook-id", "")
        attempts[webhook_id] += 1
        unlucky = hashlib.sha256(webhook_id.encode()).digest()[0] % 4 == 0
        return (503, {}) if unlucky and attempts[webhook_id] == 1 else (200, {})

    return behaviour


async def _create_agents(stack: Stack, tenant: Tenant, out: list[str], stop: asyncio.Event) -> None:
    registry = aio_registry(stack.registry.target)
    while not stop.is_set():
        reply = await registry.CreateAgent(
            registry_pb2.CreateAgentRequest(
                name=f"n{len(out)}", kind=resources_pb2.AGENT_KIND_EXTERNAL
            ),
            metadata=tenant.admin,
            timeout=10,
        )
        out.append(reply.agent.agent_id)
        await asyncio.sleep(0.3)


def _list_deliveries(stack: Stack, tenant: Tenant, endpoint_id: str) -> list:
    assert stack.dispatcher is not None
    with grpc.insecure_channel(stack.dispatcher.target) as channel:
        stub = dispatcher_pb2_grpc.DispatcherServiceStub(channel)
        found, token = [], ""
        while True:
            page = stub.ListDeliveries(
                dispatcher_pb2.ListDeliveriesRequest(
                    endpoint_id=endpoint_id, page_size=500, page_token=token
                ),
                metadata=tenant.admin,
                timeout=10,
            )
            found.extend(page.deliveries)
            token = page.next_page_token
            if not token:
                return found


async def test_deliveries_survive_dispatcher_crashes(
    shared_postgres: PostgresServer, shared_kafka: KafkaServer, receiver: Receiver, tmp_path: Path
) -> None:
    """Decisions and agent events made while the dispatcher is killed again and again all reach
    the endpoint (duplicates keep their webhook id) and every delivery ends SUCCEEDED or DEAD."""
    receiver.behaviours["/hooks"] = _flaky_first_attempt()  # type: ignore[assignment]
    stack = await start_stack(
        shared_postgres.url,
        shared_kafka.bootstrap,
        tmp_path,
        dispatcher=True,
        overrides=[
            ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("BEHALF_WEBHOOK_RETRY_TIERS", "1s,2s"),
            ("BEHALF_DISPATCHER_GROUP", f"faults-{uuid.uuid4().hex[:8]}"),
        ],
    )
    try:
        tenant = stack.create_tenant()
        endpoint = await aio_registry(stack.registry.target).CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url("/hooks"), event_types=["verification.*", "agent.created"]
            ),
            metadata=tenant.admin,
            timeout=10,
        )
        agent_id, grant = await agent_with_grant(
            aio_registry(stack.registry.target), tenant, "buyer"
        )
        verifier = aio_verifier(stack.verifiers[0].target)
        load = VerifyLoad()
        load.add_worker(
            "allow",
            verifier,
            tenant.verify,
            lambda: purchase(agent_id, 100, grant.revision),
            pause=0.1,
        )
        load.add_worker(
            "deny",
            verifier,
            tenant.verify,
            lambda: purchase(agent_id, 90000, grant.revision),
            pause=0.1,
        )
        agents = [agent_id]
        stop_agents = asyncio.Event()
        creator = asyncio.create_task(_create_agents(stack, tenant, agents, stop_agents))
        started = time.monotonic()

        restarts: list[float] = []
        for _ in range(KILLS):
            await asyncio.sleep(KILL_EVERY_SECONDS)
            assert stack.dispatcher is not None
            old = stack.dispatcher
            old.kill()
            stack.dispatcher = start_service(
                "dispatcher",
                stack.env,
                stack.log_dir,
                BEHALF_REGISTRY_INTERNAL_TARGET=stack.registry.internal_target,
                BEHALF_GRPC_PORT=str(old.grpc_port),
                BEHALF_METRICS_PORT=str(old.metrics_port),
            )
            began = time.monotonic()
            await asyncio.to_thread(stack.dispatcher.wait_serving)
            restarts.append(time.monotonic() - began)
        await asyncio.sleep(1)
        replies = await load.finish()
        stop_agents.set()
        await creator
        load_ended = time.monotonic()

        assert not [r for r in replies if r.error is not None], tally(replies)
        decisions = {r.request_id for r in replies}
        created = set(agents)

        def received() -> tuple[set[str], set[str]]:
            got_decisions, got_agents = set(), set()
            for request in receiver.on("/hooks"):
                body = json.loads(request.body)
                if body["type"] == "agent.created":
                    got_agents.add(body["data"]["agent"]["agent_id"])
                else:
                    got_decisions.add(body["data"]["decision"]["request_id"])
            return got_decisions, got_agents

        def everything_arrived() -> bool:
            got_decisions, got_agents = received()
            return decisions <= got_decisions and created <= got_agents

        try:
            all_arrived = await wait_until(
                everything_arrived, DELIVERY_BOUND_SECONDS, "every event at the endpoint", 0.5
            )
        except AssertionError:
            got_decisions, got_agents = received()
            raise AssertionError(
                f"undelivered: {len(decisions - got_decisions)} decisions,"
                f" {len(created - got_agents)} agent.created"
            ) from None

        webhook = Webhook(endpoint.signing_secret)
        ids_per_event: dict[str, set[str]] = defaultdict(set)
        copies: Counter[str] = Counter()
        for request in receiver.on("/hooks"):
            payload = webhook.verify(request.body, request.headers)
            ids_per_event[payload["data"]["event_id"]].add(request.headers["webhook-id"])
            copies[request.headers["webhook-id"]] += 1
        assert all(len(ids) == 1 for ids in ids_per_event.values()), "a duplicate changed its id"

        endpoint_id = endpoint.endpoint.endpoint_id

        def all_final() -> bool:
            listed = _list_deliveries(stack, tenant, endpoint_id)
            return len(listed) >= len(ids_per_event) and all(
                d.state in FINAL_STATES for d in listed
            )

        finals = await wait_until(all_final, DELIVERY_BOUND_SECONDS, "every delivery final", 0.5)
        deliveries = _list_deliveries(stack, tenant, endpoint_id)
        assert {d.webhook_id for d in deliveries} == set(copies), "listed ≠ delivered webhook ids"
        assert len({d.event_id for d in deliveries}) == len(deliveries), "two deliveries, one event"
        states = Counter(dispatcher_pb2.DeliveryState.Name(d.state) for d in deliveries)
        assert states == {"DELIVERY_STATE_SUCCEEDED": len(deliveries)}, states
        duplicates = sum(n - 1 for n in copies.values())
        first_failed = sum(1 for d in deliveries if d.attempt_count > 1)
        print(
            f"\ndispatcher-killed: {KILLS} SIGKILLs {KILL_EVERY_SECONDS}s apart (restart to SERVING"
            f" {', '.join(f'{s:.1f}s' for s in restarts)}); {len(replies)} decisions"
            f" ({tally(replies)}) and {len(created)} agent.created in"
            f" {load_ended - started:.1f}s; all {len(deliveries)} events delivered"
            f" {all_arrived - load_ended:.1f}s after the load ended, all SUCCEEDED"
            f" {finals - load_ended:.1f}s after; {len(receiver.on('/hooks'))} POSTs,"
            f" {duplicates} duplicates (same webhook-id); {first_failed} needed a retry"
        )
    finally:
        await stop_stack(stack)
