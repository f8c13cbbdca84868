"""The dispatcher's authenticator: tenant keys via the registry, cached briefly; no operator."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from behalf.common.callers import Role
from behalf.common.errors import PermissionDenied, Unauthenticated, Unavailable
from behalf.dispatcher.auth import CACHE_SECONDS, RegistryKeyAuthenticator
from behalf.v1 import internal_pb2, resources_pb2

SERVICE_TOKEN = "svc-token-for-unit-tests"
TENANT = "ten_" + "a" * 20
KEY = "bhk_admin_" + "K" * 43


def bearer(token: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *extra)


class FakeRegistry:
    """Answers AuthenticateApiKey from a table; counts the questions."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, int]] = {KEY: (TENANT, resources_pb2.ROLE_ADMIN)}
        self.asked: list[str] = []
        self.down = False

    async def __call__(self, request: internal_pb2.AuthenticateApiKeyRequest, **_: Any) -> Any:
        self.asked.append(request.api_key)
        if self.down:
            raise _rpc_error(grpc.StatusCode.UNAVAILABLE)
        if request.api_key not in self.keys:
            raise _rpc_error(grpc.StatusCode.UNAUTHENTICATED)
        tenant_id, role = self.keys[request.api_key]
        return internal_pb2.AuthenticateApiKeyResponse(
            key_id="key_1", tenant_id=tenant_id, role=role
        )


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


class FakeChannel:
    """Enough of a channel for the generated stub: every unary method is the fake registry."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry

    def __getattr__(self, kind: str) -> Any:  # unary_unary, stream_stream, ...
        def method(path: str, *args: Any, **kwargs: Any) -> Any:
            return self.registry if path.endswith("/AuthenticateApiKey") else None

        return method


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(registry: FakeRegistry, clock: Clock) -> RegistryKeyAuthenticator:
    return RegistryKeyAuthenticator(FakeChannel(registry), SERVICE_TOKEN, clock=clock)  # type: ignore[arg-type]


async def test_tenant_key_resolves_to_its_tenant_and_role(auth, registry) -> None:
    """A key the registry knows becomes a caller in the key's tenant with the key's role."""
    caller = await auth.authenticate(bearer(KEY))
    assert (caller.tenant_id, caller.role) == (TENANT, Role.ADMIN)
    assert registry.asked == [KEY]


async def test_audit_read_key_is_audit_read_and_verify_key_is_refused(auth, registry) -> None:
    """An audit-read key reads; a verify key may not use the dispatcher at all."""
    registry.keys["audit"] = (TENANT, resources_pb2.ROLE_AUDIT_READ)
    registry.keys["verify"] = (TENANT, resources_pb2.ROLE_VERIFY)
    assert (await auth.authenticate(bearer("audit"))).role == Role.AUDIT_READ
    with pytest.raises(PermissionDenied):
        await auth.authenticate(bearer("verify"))


async def test_service_token_never_acts_for_a_tenant(auth, registry) -> None:
    """The service credential, with or without x-behalf-tenant, is refused without asking."""
    for metadata in (bearer(SERVICE_TOKEN), bearer(SERVICE_TOKEN, ("x-behalf-tenant", TENANT))):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(metadata)
    assert registry.asked == []


async def test_unknown_key_and_missing_metadata_are_unauthenticated(auth) -> None:
    """A key the registry refuses, and no authorization at all, are both UNAUTHENTICATED."""
    with pytest.raises(Unauthenticated):
        await auth.authenticate(bearer("bhk_admin_" + "Z" * 43))
    with pytest.raises(Unauthenticated):
        await auth.authenticate((("x-behalf-tenant", TENANT),))


async def test_registry_down_is_unavailable(auth, registry) -> None:
    """When the registry cannot answer, the call is UNAVAILABLE, never let through."""
    registry.down = True
    with pytest.raises(Unavailable):
        await auth.authenticate(bearer(KEY))


async def test_answer_is_reused_only_within_the_cache_window(auth, registry, clock) -> None:
    """Within CACHE_SECONDS the answer is reused; at CACHE_SECONDS the registry is asked again."""
    assert CACHE_SECONDS <= 0.5
    await auth.authenticate(bearer(KEY))
    clock.now += CACHE_SECONDS / 2
    await auth.authenticate(bearer(KEY))
    assert len(registry.asked) == 1
    clock.now += CACHE_SECONDS / 2
    await auth.authenticate(bearer(KEY))
    assert len(registry.asked) == 2


async def test_revoked_key_stops_working_once_the_window_passes(auth, registry, clock) -> None:
    """After the registry forgets a key, the dispatcher refuses it within CACHE_SECONDS."""
    await auth.authenticate(bearer(KEY))
    del registry.keys[KEY]
    clock.now += CACHE_SECONDS
    with pytest.raises(Unauthenticated):
        await auth.authenticate(bearer(KEY))


async def test_window_counts_from_before_the_registry_was_asked(registry, clock) -> None:
    """A slow registry answer is not kept longer: its expiry is counted from the question."""

    async def slow(request: Any, **kwargs: Any) -> Any:
        clock.now += 0.4  # the round trip takes 0.4 s
        return await FakeRegistry.__call__(registry, request, **kwargs)

    channel = FakeChannel(registry)
    channel.registry = slow  # type: ignore[assignment]
    auth = RegistryKeyAuthenticator(channel, SERVICE_TOKEN, clock=clock)  # type: ignore[arg-type]
    await auth.authenticate(bearer(KEY))
    asked_at = clock.now - 0.4
    clock.now = asked_at + CACHE_SECONDS
    await auth.authenticate(bearer(KEY))
    assert len(registry.asked) == 2
