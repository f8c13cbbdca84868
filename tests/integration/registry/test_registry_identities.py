"""Service identities on a running registry: each credential reaches exactly its own RPCs, and
the internal API is served only on the internal listener."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import symbol_database

from behalf.registry.identities import (
    ALLOWED_METHODS,
    INTERNAL_SERVICE,
    PUBLIC_SERVICE,
    Identity,
    method,
)
from behalf.v1 import internal_pb2, registry_pb2, registry_pb2_grpc, resources_pb2
from tests.integration.registry.support import Registry

pytestmark = pytest.mark.integration

_INTERNAL = internal_pb2.DESCRIPTOR.services_by_name["RegistryInternalService"]
# Every RPC a service credential is checked for: the whole internal API, and CreateTenant.
GUARDED = [method(INTERNAL_SERVICE, m.name) for m in _INTERNAL.methods] + [
    method(PUBLIC_SERVICE, "CreateTenant")
]
REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def _descriptor(path: str) -> Any:
    service, name = path.strip("/").split("/")
    descriptor = internal_pb2.DESCRIPTOR if service == INTERNAL_SERVICE else registry_pb2.DESCRIPTOR
    return descriptor.services_by_name[service.rsplit(".", 1)[1]].methods_by_name[name]


async def _call(channel: grpc.aio.Channel, path: str, metadata: tuple) -> grpc.StatusCode:
    """Call `path` with an empty (or, for CreateTenant, a minimal) request; its status."""
    rpc = _descriptor(path)
    request_type = symbol_database.Default().GetSymbol(rpc.input_type.full_name)
    response_type = symbol_database.Default().GetSymbol(rpc.output_type.full_name)
    request = request_type(name="Acme") if rpc.name == "CreateTenant" else request_type()
    kwargs = {
        "request_serializer": request_type.SerializeToString,
        "response_deserializer": response_type.FromString,
    }
    try:
        if rpc.client_streaming:
            call = channel.stream_stream(path, **kwargs)(
                _once(internal_pb2.WatchPolicyRequest(hello=internal_pb2.WatchHello())),
                metadata=metadata,
                timeout=5,
            )
            await call.read()
            call.cancel()
        else:
            await channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def _once(message: Any) -> AsyncIterator[Any]:
    yield message


def _channel(registry: Registry, path: str) -> grpc.aio.Channel:
    """Where the RPC is served: the internal listener for the internal API."""
    return registry.internal_channel if INTERNAL_SERVICE in path else registry.channel


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.mark.parametrize("identity", list(Identity), ids=str)
@pytest.mark.parametrize("path", GUARDED, ids=lambda p: p.rsplit("/", 1)[1])
async def test_each_identity_reaches_exactly_its_rpcs(
    registry: Registry, identity: Identity, path: str
) -> None:
    """A service credential gets PERMISSION_DENIED from every guarded RPC outside its identity's
    list, and past the check (any other status) on every RPC in it."""
    code = await _call(_channel(registry, path), path, _bearer(registry.tokens[identity]))
    if path in ALLOWED_METHODS[identity]:
        assert code not in REFUSED, code
    else:
        assert code is grpc.StatusCode.PERMISSION_DENIED, code


@pytest.mark.parametrize("path", GUARDED, ids=lambda p: p.rsplit("/", 1)[1])
async def test_no_or_an_unknown_credential_is_unauthenticated(
    registry: Registry, path: str
) -> None:
    """No credential, a made-up one and a tenant admin key are all UNAUTHENTICATED on every
    guarded RPC."""
    tenant = await registry.tenant()
    channel = _channel(registry, path)
    for metadata in ((), _bearer("svc-" + "x" * 40), _bearer(tenant.admin_secret)):
        assert await _call(channel, path, metadata) is grpc.StatusCode.UNAUTHENTICATED


def test_the_table_names_real_rpcs_and_gives_each_internal_one_an_owner() -> None:
    """Every method in the identity table exists in the protos, and every internal RPC belongs
    to exactly one identity (the operator to none of them)."""
    every = set().union(*ALLOWED_METHODS.values())
    assert every <= set(GUARDED)
    for path in GUARDED:
        owners = [i for i, allowed in ALLOWED_METHODS.items() if path in allowed]
        assert len(owners) == 1, (path, owners)
    assert ALLOWED_METHODS[Identity.OPERATOR] == {method(PUBLIC_SERVICE, "CreateTenant")}


@pytest.mark.parametrize("identity", list(Identity), ids=str)
async def test_public_port_does_not_serve_the_internal_api(
    registry: Registry, identity: Identity
) -> None:
    """RegistryInternalService on the public port is UNIMPLEMENTED, even with the credential
    that may call it there, and RegistryService is not on the internal port."""
    token = _bearer(registry.tokens[identity])
    for rpc in _INTERNAL.methods:
        path = method(INTERNAL_SERVICE, rpc.name)
        assert await _call(registry.channel, path, token) is grpc.StatusCode.UNIMPLEMENTED
    create_tenant = method(PUBLIC_SERVICE, "CreateTenant")
    code = await _call(registry.internal_channel, create_tenant, token)
    assert code is grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("identity", list(Identity), ids=str)
async def test_no_service_credential_acts_for_a_tenant(
    registry: Registry, identity: Identity
) -> None:
    """A service credential with `x-behalf-tenant` (or any header) is UNAUTHENTICATED on tenant
    RPCs: it reads nothing, and creates no key, in an existing tenant."""
    tenant = await registry.tenant()
    metadata = (*_bearer(registry.tokens[identity]), ("x-behalf-tenant", tenant.tenant_id))
    stub = registry_pb2_grpc.RegistryServiceStub(registry.channel)
    calls = (
        (stub.GetTenant, registry_pb2.GetTenantRequest()),
        (stub.ListApiKeys, registry_pb2.ListApiKeysRequest()),
        (stub.ListAgents, registry_pb2.ListAgentsRequest()),
        (stub.ListWebhookEndpoints, registry_pb2.ListWebhookEndpointsRequest()),
        (
            stub.CreateApiKey,
            registry_pb2.CreateApiKeyRequest(name="x", role=resources_pb2.ROLE_ADMIN),
        ),
    )
    for call, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=metadata, timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    keys = await tenant.admin.ListApiKeys(registry_pb2.ListApiKeysRequest())
    assert len(keys.api_keys) == 3  # the first admin key, the auditor's, the verifier's
