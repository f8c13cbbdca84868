"""DispatcherService authentication against a real registry: tenant keys only, revocation bites
within a second, and the service credential never acts for a tenant."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from behalf.v1 import dispatcher_pb2, dispatcher_pb2_grpc, registry_pb2, resources_pb2
from tests.harness.processes import DISPATCHER_TOKEN, OPERATOR_TOKEN, VERIFIER_TOKEN
from tests.harness.stack import Stack, Tenant, bearer, start_stack, stop_stack

pytestmark = pytest.mark.integration

REVOCATION_BOUND_SECONDS = 1.0


@pytest.fixture
async def stack(database_url: str, kafka_bootstrap: str, tmp_path) -> AsyncIterator[Stack]:
    """A real registry and dispatcher (processes) on a fresh database and topic prefix."""
    running = await start_stack(
        database_url, kafka_bootstrap, tmp_path, verifiers=0, dispatcher=True
    )
    try:
        yield running
    finally:
        await stop_stack(running)


@pytest.fixture
def dispatcher(stack: Stack) -> dispatcher_pb2_grpc.DispatcherServiceStub:
    assert stack.dispatcher is not None
    return dispatcher_pb2_grpc.DispatcherServiceStub(stack.channel(stack.dispatcher.target))


def list_deliveries(stub: dispatcher_pb2_grpc.DispatcherServiceStub, key: str) -> None:
    stub.ListDeliveries(dispatcher_pb2.ListDeliveriesRequest(), metadata=bearer(key), timeout=5)


def refused(call, *args, **kwargs) -> grpc.StatusCode:
    """The status code of a call that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value.code()


def new_admin_key(stack: Stack, tenant: Tenant, name: str) -> registry_pb2.CreateApiKeyResponse:
    return stack.registry_stub().CreateApiKey(
        registry_pb2.CreateApiKeyRequest(name=name, role=resources_pb2.ROLE_ADMIN),
        metadata=tenant.admin,
        timeout=10,
    )


async def test_revoked_tenant_key_is_refused_within_a_second(stack: Stack, dispatcher) -> None:
    """A tenant admin key that works at the dispatcher is UNAUTHENTICATED there within 1 s of
    RevokeApiKey returning; the tenant's other keys keep working."""
    tenant = stack.create_tenant()
    doomed = new_admin_key(stack, tenant, "doomed")
    for _ in range(3):  # the dispatcher now holds a fresh answer for the key
        list_deliveries(dispatcher, doomed.secret)

    stack.registry_stub().RevokeApiKey(
        registry_pb2.RevokeApiKeyRequest(key_id=doomed.api_key.key_id),
        metadata=tenant.admin,
        timeout=10,
    )
    revoked_at = time.monotonic()
    deadline = revoked_at + REVOCATION_BOUND_SECONDS
    while True:
        try:
            list_deliveries(dispatcher, doomed.secret)
        except grpc.RpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAUTHENTICATED, exc
            break
        assert time.monotonic() < deadline, "a revoked key still works after 1 s"
        await asyncio.sleep(0.02)
    assert time.monotonic() - revoked_at <= REVOCATION_BOUND_SECONDS
    list_deliveries(dispatcher, tenant.admin_key)  # only that key was cut off


async def test_service_token_cannot_act_as_a_tenant(stack: Stack, dispatcher) -> None:
    """Every service credential (the dispatcher's own, the verifier's, the operator's), with or
    without `x-behalf-tenant`, is UNAUTHENTICATED on every DispatcherService RPC, even for a
    tenant that exists."""
    tenant = stack.create_tenant()
    calls = (
        (dispatcher.ListDeliveries, dispatcher_pb2.ListDeliveriesRequest()),
        (dispatcher.GetDelivery, dispatcher_pb2.GetDeliveryRequest(delivery_id="dlv_" + "a" * 20)),
        (dispatcher.Redrive, dispatcher_pb2.RedriveRequest(endpoint_id="whe_" + "a" * 20)),
    )
    for token in (DISPATCHER_TOKEN, VERIFIER_TOKEN, OPERATOR_TOKEN):
        for metadata in ((*bearer(token), ("x-behalf-tenant", tenant.tenant_id)), bearer(token)):
            for method, request in calls:
                code = refused(method, request, metadata=metadata, timeout=5)
                assert code is grpc.StatusCode.UNAUTHENTICATED, (method, code)
    list_deliveries(dispatcher, tenant.admin_key)  # the tenant's own key does work
