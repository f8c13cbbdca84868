"""The dispatcher end to end: real Kafka, PostgreSQL, a local HTTP receiver, a fake registry."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import grpc
import pytest
from aiokafka import AIOKafkaConsumer
from standardwebhooks.webhooks import Webhook

from behalf.common.kafka import PLAINTEXT
from behalf.dispatcher.endpoint_changes import EndpointChanges
from behalf.dispatcher.targets import Target, TargetCache
from behalf.v1 import (
    common_pb2,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    events_pb2,
    resources_pb2,
)
from tests.integration.dispatcher.conftest import (
    ADMIN_KEY,
    OTHER_ADMIN_KEY,
    SERVICE_TOKEN,
    TENANT,
    bearer,
    decision_event,
    dispatcher_env,
    new_secret,
    publish,
    run_dispatcher,
)

pytestmark = pytest.mark.integration

METADATA = bearer(ADMIN_KEY)


def api(running):
    channel = grpc.aio.insecure_channel(running.target)
    return channel, dispatcher_pb2_grpc.DispatcherServiceStub(channel)


async def deliveries(stub, **filters):
    reply = await stub.ListDeliveries(
        dispatcher_pb2.ListDeliveriesRequest(**filters), metadata=METADATA
    )
    return list(reply.deliveries)


async def wait_state(stub, event_id: str, state: int, within: float = 30.0):
    deadline = time.monotonic() + within
    while True:
        found = await deliveries(stub, event_id=event_id)
        if found and all(d.state == state for d in found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries of {event_id} not in state {state}: {found}")
        await asyncio.sleep(0.1)


async def test_decision_is_delivered_signed_to_matching_endpoints(
    env, registry, receiver, producer, prefix
):
    """A denial reaches the endpoints whose filter matches, verifiable with both rotation keys."""
    old, new = new_secret(), new_secret()
    registry.add(receiver.url("/all"), secrets_=[new, old])
    registry.add(receiver.url("/verif"), event_types=["verification.*"])
    registry.add(receiver.url("/agents"), event_types=["agent.*"])
    registry.add(receiver.url("/off"), disabled=True)
    event = decision_event(common_pb2.OUTCOME_DENY)
    async with run_dispatcher(env) as running:
        await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        await receiver.wait_for(lambda: len(receiver.requests) >= 2)
        request = receiver.on("/all")[0]
        for secret in (old, new):
            body = Webhook(secret).verify(request.body, request.headers)
            assert body["type"] == "verification.denied"
            assert body["data"]["event_id"] == event.event_id
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        assert request.headers["content-type"] == "application/json"
        channel, stub = api(running)
        async with channel:
            found = await wait_state(stub, event.event_id, dispatcher_pb2.DELIVERY_STATE_SUCCEEDED)
            assert len(found) == 2
            got = await stub.GetDelivery(
                dispatcher_pb2.GetDeliveryRequest(delivery_id=found[0].delivery_id),
                metadata=METADATA,
            )
            attempt = got.delivery.attempts[0]
            assert (attempt.attempt_number, attempt.status_code) == (1, 200)
            assert attempt.response_body == "received"
        await asyncio.sleep(0.5)
        assert receiver.on("/agents") == [] and receiver.on("/off") == []
        assert {r.headers["webhook-id"] for r in receiver.requests} == {d.webhook_id for d in found}


async def test_the_previous_secret_signs_only_until_its_overlap_ends(
    env, registry, receiver, producer, prefix
):
    """During a rotation the registry lists both secrets and when the overlap ends. The target
    stays cached for up to a minute, yet a delivery after the overlap carries the current
    secret's signature alone: a retired secret signs nothing."""
    old, new = new_secret(), new_secret()
    registry.add(receiver.url("/rotating"), secrets_=[new, old])
    [target] = registry.targets[TENANT]
    overlap_ends = time.time() + 3.0
    target.endpoint.previous_secret_expire_time.FromNanoseconds(int(overlap_ends * 1e9))
    async with run_dispatcher(env):
        first = decision_event(common_pb2.OUTCOME_DENY)
        await publish(producer, f"{prefix}.decisions", first, "verification.denied")
        await receiver.wait_for(lambda: len(receiver.on("/rotating")) >= 1)
        [during] = receiver.on("/rotating")
        if time.time() < overlap_ends:  # (a slow first delivery proves only the second half)
            assert len(during.headers["webhook-signature"].split(" ")) == 2
        await asyncio.sleep(max(overlap_ends - time.time(), 0.0) + 0.2)
        second = decision_event(common_pb2.OUTCOME_DENY)
        await publish(producer, f"{prefix}.decisions", second, "verification.denied")
        await receiver.wait_for(lambda: len(receiver.on("/rotating")) >= 2)
        after = receiver.on("/rotating")[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(after.body, after.headers)["data"]["event_id"] == second.event_id


async def test_fails_twice_then_succeeds_with_one_webhook_id(
    env, registry, receiver, producer, prefix
):
    """Two 500s then a 200: three requests with one webhook-id, three attempts, succeeded."""

    async def flaky(_request, n):
        return (500, {}) if n <= 2 else (200, {})

    receiver.behaviours["/flaky"] = flaky
    registry.add(receiver.url("/flaky"))
    event = decision_event(common_pb2.OUTCOME_ALLOW)
    async with run_dispatcher(env) as running:
        await publish(producer, f"{prefix}.decisions", event, "verification.allowed")
        channel, stub = api(running)
        async with channel:
            [delivery] = await wait_state(
                stub, event.event_id, dispatcher_pb2.DELIVERY_STATE_SUCCEEDED, within=30
            )
            got = await stub.GetDelivery(
                dispatcher_pb2.GetDeliveryRequest(delivery_id=delivery.delivery_id),
                metadata=METADATA,
            )
    requests = receiver.on("/flaky")
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {delivery.webhook_id}
    assert [a.status_code for a in got.delivery.attempts] == [500, 500, 200]
    assert [a.attempt_number for a in got.delivery.attempts] == [1, 2, 3]
    assert requests[1].at - requests[0].at >= 0.9  # the 1s tier
    assert requests[2].at - requests[1].at >= 1.9  # the 2s tier


async def test_what_a_hostile_endpoint_answers_is_recorded_and_retried_as_anything_else(
    env, registry, receiver, producer, prefix
):
    """A body with NUL bytes (which PostgreSQL's text refuses) is stored with replacement
    characters, and a Retry-After of Unicode digits is ignored; both deliveries finish with
    every attempt recorded, rather than wedging the outcome writer or the attempt."""

    async def nul_body(_request, _n):
        return 200, {}, b"ok\x00!"

    async def odd_retry_after(_request, n):
        return (503, {"Retry-After": "\u00b2"}) if n == 1 else (200, {})

    receiver.behaviours["/nul"] = nul_body
    receiver.behaviours["/throttled"] = odd_retry_after
    registry.add(receiver.url("/nul"))
    registry.add(receiver.url("/throttled"))
    event = decision_event(common_pb2.OUTCOME_ALLOW)
    async with run_dispatcher(env) as running:
        await publish(producer, f"{prefix}.decisions", event, "verification.allowed")
        channel, stub = api(running)
        async with channel:
            found = await wait_state(stub, event.event_id, dispatcher_pb2.DELIVERY_STATE_SUCCEEDED)
            recorded = []
            for delivery in found:
                got = await stub.GetDelivery(
                    dispatcher_pb2.GetDeliveryRequest(delivery_id=delivery.delivery_id),
                    metadata=METADATA,
                )
                recorded.append([(a.status_code, a.response_body) for a in got.delivery.attempts])
    assert sorted(recorded) == [
        [(200, "ok\ufffd!")],  # /nul
        [(503, "received"), (200, "received")],  # /throttled
    ]


async def test_always_failing_goes_dead_and_redrive_keeps_the_webhook_id(
    env, registry, receiver, producer, prefix, kafka_bootstrap
):
    """Every tier fails, the task lands in the dead-letter topic, redrive delivers it again."""
    healthy = False

    async def broken(_request, _n):
        return (200, {}) if healthy else (503, {})

    receiver.behaviours["/broken"] = broken
    endpoint_id, _ = registry.add(receiver.url("/broken"))
    event = decision_event()
    async with run_dispatcher(env) as running:
        await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        channel, stub = api(running)
        async with channel:
            [dead] = await wait_state(stub, event.event_id, dispatcher_pb2.DELIVERY_STATE_DEAD)
            assert dead.attempt_count == 3 and dead.last_status_code == 503
            got = await stub.GetDelivery(
                dispatcher_pb2.GetDeliveryRequest(delivery_id=dead.delivery_id),
                metadata=METADATA,
            )
            assert [a.status_code for a in got.delivery.attempts] == [503, 503, 503]

            consumer = AIOKafkaConsumer(
                f"{prefix}.webhooks.dead",
                bootstrap_servers=kafka_bootstrap,
                group_id=f"{prefix}-dlq-reader",
                auto_offset_reset="earliest",
            )
            await consumer.start()
            try:
                record = await asyncio.wait_for(consumer.getone(), 30)
            finally:
                await consumer.stop()
            task = events_pb2.DeliveryTask.FromString(record.value)
            assert (task.delivery_id, task.webhook_id) == (dead.delivery_id, dead.webhook_id)
            assert dict(record.headers)["webhook-id"] == dead.webhook_id.encode()
            assert dict(record.headers)["attempt"] == b"3"

            healthy = True
            reply = await stub.Redrive(
                dispatcher_pb2.RedriveRequest(endpoint_id=endpoint_id), metadata=METADATA
            )
            assert reply.redriven_count == 1
            [done] = await wait_state(stub, event.event_id, dispatcher_pb2.DELIVERY_STATE_SUCCEEDED)
            again = await stub.Redrive(
                dispatcher_pb2.RedriveRequest(delivery_id=dead.delivery_id), metadata=METADATA
            )
            assert again.redriven_count == 0  # not dead any more
    requests = receiver.on("/broken")
    assert len(requests) == 4
    assert {r.headers["webhook-id"] for r in requests} == {dead.webhook_id}
    assert done.attempt_count == 4


async def test_hanging_endpoint_does_not_delay_a_healthy_one(
    env, registry, receiver, producer, prefix
):
    """With one endpoint hanging on every request, 50 events reach the healthy one in < 3 s."""

    async def hang(_request, _n):
        return None

    receiver.behaviours["/hang"] = hang
    registry.add(receiver.url("/hang"))
    registry.add(receiver.url("/fast"))
    events = [decision_event() for _ in range(50)]
    async with run_dispatcher(env):
        started = time.monotonic()
        for event in events:
            await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        await receiver.wait_for(lambda: len(receiver.on("/fast")) >= 50, within=3.0)
        elapsed = time.monotonic() - started
        hanging = len(receiver.on("/hang"))
    assert elapsed < 3.0
    assert 0 < hanging <= 8  # the per-endpoint concurrency; the rest were parked in a tier


async def test_gone_endpoint_is_dead_and_suspended(env, registry, receiver, producer, prefix):
    """A 410 kills the delivery at once and stops further sends to that endpoint."""

    async def gone(_request, _n):
        return 410, {}

    receiver.behaviours["/gone"] = gone
    registry.add(receiver.url("/gone"))
    first, second = decision_event(), decision_event()
    async with run_dispatcher(env) as running:
        channel, stub = api(running)
        async with channel:
            await publish(producer, f"{prefix}.decisions", first, "verification.denied")
            [dead] = await wait_state(stub, first.event_id, dispatcher_pb2.DELIVERY_STATE_DEAD)
            assert dead.attempt_count == 1 and dead.last_status_code == 410
            await publish(producer, f"{prefix}.decisions", second, "verification.denied")
            await asyncio.sleep(1.5)
            assert await deliveries(stub, event_id=second.event_id) == []
    assert len(receiver.on("/gone")) == 1


async def test_webhook_lifecycle_event_invalidates_the_target_cache(
    env, registry, receiver, producer, prefix
):
    """After a `webhook.endpoint_created` event, the new endpoint receives the next decision."""
    registry.add(receiver.url("/first"))
    async with run_dispatcher(env):
        await publish(producer, f"{prefix}.decisions", decision_event(), "verification.denied")
        await receiver.wait_for(lambda: len(receiver.on("/first")) == 1)
        calls = registry.calls
        registry.add(receiver.url("/second"), event_types=["verification.*"])
        change = events_pb2.LifecycleEvent(
            event_id="evt_" + uuid.uuid4().hex[:20],
            tenant_id=TENANT,
            type="webhook.endpoint_created",
            endpoint=resources_pb2.WebhookEndpoint(endpoint_id="whe_x", tenant_id=TENANT),
        )
        await publish(producer, f"{prefix}.lifecycle", change, change.type)
        await receiver.wait_for(lambda: len(receiver.on("/first")) == 2)  # filter: everything
        assert registry.calls > calls
        await publish(producer, f"{prefix}.decisions", decision_event(), "verification.denied")
        await receiver.wait_for(lambda: len(receiver.on("/second")) == 1)


async def test_private_targets_are_refused_without_the_development_setting(
    dispatcher_db, kafka_bootstrap, prefix, registry, receiver, producer
):
    """A loopback URL is never called unless private targets are allowed; the delivery dies."""
    env = dispatcher_env(
        dispatcher_db,
        kafka_bootstrap,
        prefix,
        registry.port,
        BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS="false",
    )
    registry.add(receiver.url("/private").replace("http://", "https://"))
    event = decision_event()
    async with run_dispatcher(env) as running:
        await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        channel, stub = api(running)
        async with channel:
            [dead] = await wait_state(stub, event.event_id, dispatcher_pb2.DELIVERY_STATE_DEAD)
    assert "private" in dead.last_error
    assert receiver.requests == []


async def test_api_authenticates_isolates_tenants_and_pages(
    env, registry, receiver, producer, prefix
):
    """The service token or a wrong key: UNAUTHENTICATED; another tenant's key sees nothing;
    pages cover everything."""
    registry.add(receiver.url("/paged"))
    events = [decision_event() for _ in range(5)]
    async with run_dispatcher(env) as running:
        for event in events:
            await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        await receiver.wait_for(lambda: len(receiver.on("/paged")) == 5)
        channel, stub = api(running)
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListDeliveries(
                    dispatcher_pb2.ListDeliveriesRequest(),
                    metadata=(*bearer(SERVICE_TOKEN), ("x-behalf-tenant", TENANT)),
                )
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListDeliveries(
                    dispatcher_pb2.ListDeliveriesRequest(), metadata=bearer("wrong")
                )
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED

            seen, token = [], ""
            while True:
                page = await stub.ListDeliveries(
                    dispatcher_pb2.ListDeliveriesRequest(page_size=2, page_token=token),
                    metadata=METADATA,
                )
                seen.extend(page.deliveries)
                token = page.next_page_token
                if not token:
                    break
            assert sorted(d.event_id for d in seen) == sorted(e.event_id for e in events)
            assert [d.create_time.ToNanoseconds() for d in seen] == sorted(
                (d.create_time.ToNanoseconds() for d in seen), reverse=True
            )

            other = bearer(OTHER_ADMIN_KEY)
            assert (
                list(
                    (
                        await stub.ListDeliveries(
                            dispatcher_pb2.ListDeliveriesRequest(), metadata=other
                        )
                    ).deliveries
                )
                == []
            )
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetDelivery(
                    dispatcher_pb2.GetDeliveryRequest(delivery_id=seen[0].delivery_id),
                    metadata=other,
                )
            assert info.value.code() is grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListDeliveries(
                    dispatcher_pb2.ListDeliveriesRequest(page_token="!!"), metadata=METADATA
                )
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_every_replica_drops_its_cached_targets_on_an_endpoint_change(
    env, kafka_bootstrap, producer, prefix
):
    """A replica that is not the one turning a lifecycle event into webhooks (the events
    group gives it to one) still drops the tenant's cached targets, so it stops delivering to
    an endpoint disabled a moment ago instead of until its cache expires."""
    loads: Counter[str] = Counter()

    class CountingSource:
        async def list_targets(self, tenant_id: str) -> tuple[Target, ...]:
            loads[tenant_id] += 1
            return ()

    cache = TargetCache(CountingSource(), ttl_seconds=3600)
    async with run_dispatcher(env):  # the replica in the events group; it made the topics
        other = EndpointChanges(
            kafka_bootstrap,
            f"{prefix}.lifecycle",
            cache,
            client_id="another-replica",
            security=PLAINTEXT,
        )
        await other.start()
        try:
            await cache.targets(TENANT)
            await cache.targets(TENANT)
            assert loads[TENANT] == 1

            def change(kind: str) -> events_pb2.LifecycleEvent:
                return events_pb2.LifecycleEvent(
                    event_id="evt_" + uuid.uuid4().hex[:20], tenant_id=TENANT, type=kind
                )

            await publish(producer, f"{prefix}.lifecycle", change("agent.disabled"), "x")
            await publish(producer, f"{prefix}.lifecycle", change("webhook.endpoint_disabled"), "x")
            deadline = time.monotonic() + 15
            while loads[TENANT] < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                await cache.targets(TENANT)
            assert loads[TENANT] == 2, "the endpoint change did not reach this replica"
        finally:
            await other.stop()
