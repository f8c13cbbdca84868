"""Passports against the real registry: a bounded, signed expiry and verification only under the
keys the registry publishes to the tenant, never the key a passport carries; what a verified
passport reports as in force is never more than Verify would let through."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf.duration_pb2 import Duration

from behalf import AsyncBehalf, PassportError, SignedPassport
from behalf._passport import _b64url, key_id_of
from behalf.v1 import registry_pb2, resources_pb2
from tests.harness.stack import Stack, Tenant, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("passport"), verifiers=0
    )
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("passports")


@pytest.fixture(scope="module")
def other(stack: Stack) -> Tenant:
    return stack.create_tenant("passports-other")


def _export(stack: Stack, tenant: Tenant, agent_id: str, **fields) -> SignedPassport:
    reply = stack.registry_stub().ExportPassport(
        registry_pb2.ExportPassportRequest(agent_id=agent_id, **fields),
        metadata=tenant.admin,
        timeout=10,
    )
    return SignedPassport(reply.document, reply.signature, reply.key_id, reply.public_key)


async def _published_keys(stack: Stack, tenant: Tenant) -> dict[str, str]:
    async with AsyncBehalf(tenant.admin_key, registry_target=stack.registry.target) as client:
        return await client.passport_keys()


async def test_exported_passport_verifies_under_published_keys_until_its_expiry(
    stack: Stack, tenant: Tenant
) -> None:
    """A passport exported with `valid_for` signs that expiry and verifies under the keys
    ListPassportKeys publishes; without `valid_for` it is valid for one hour."""
    agent_id, grant = stack.agent_with_grant(tenant)
    signed = _export(stack, tenant, agent_id, valid_for=Duration(seconds=2 * 3600))
    keys = await _published_keys(stack, tenant)
    assert list(keys) == [signed.key_id]
    passport = signed.verify(keys)
    assert passport.expires_at - passport.issued_at == timedelta(hours=2)
    assert [p["permission_id"] for p in passport.active_permissions()] == [
        grant.permission.permission_id
    ]
    with pytest.raises(PassportError, match="expired"):
        signed.verify(keys, max_age=None, now=passport.expires_at)
    default = _export(stack, tenant, agent_id).verify(keys)
    assert default.expires_at - default.issued_at == timedelta(hours=1)


async def test_valid_for_over_seven_days_is_invalid_argument(stack: Stack, tenant: Tenant) -> None:
    """ExportPassport refuses a `valid_for` over seven days with INVALID_ARGUMENT on that field."""
    agent_id, _ = stack.agent_with_grant(tenant)
    with pytest.raises(grpc.RpcError) as refused:
        _export(stack, tenant, agent_id, valid_for=Duration(seconds=7 * 86400 + 1))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "valid_for" in (refused.value.details() or "")
    week = _export(stack, tenant, agent_id, valid_for=Duration(seconds=7 * 86400))
    assert week.verify(await _published_keys(stack, tenant), max_age=None).agent_id == agent_id


async def test_tampered_or_self_signed_passports_are_refused(stack: Stack, tenant: Tenant) -> None:
    """A changed document fails the published key, and a document re-signed by a fresh key that
    travels with it is not trusted."""
    agent_id, _ = stack.agent_with_grant(tenant)
    signed = _export(stack, tenant, agent_id)
    keys = await _published_keys(stack, tenant)
    tampered = SignedPassport(
        signed.document.replace(b'"80000"', b'"99999"'),
        signed.signature,
        signed.key_id,
        signed.public_key,
    )
    assert tampered.document != signed.document
    with pytest.raises(PassportError, match="signature"):
        tampered.verify(keys)

    forger = Ed25519PrivateKey.generate()
    body = {**json.loads(tampered.document), "key_id": key_id_of(forger.public_key())}
    document = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    raw = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    self_signed = SignedPassport(
        document, _b64url(forger.sign(document)), body["key_id"], _b64url(raw)
    )
    with pytest.raises(PassportError, match="not trusted"):
        self_signed.verify(keys)
    with pytest.raises(PassportError, match="no trusted key"):
        self_signed.verify()


async def _in_force(stack: Stack, tenant: Tenant, agent_id: str) -> list[str]:
    """The permission ids a relying party would honour from a passport exported now."""
    signed = _export(stack, tenant, agent_id)
    passport = signed.verify(await _published_keys(stack, tenant))
    return [line["permission_id"] for line in passport.active_permissions()]


async def test_a_disabled_agents_passport_lists_nothing_in_force(
    stack: Stack, tenant: Tenant
) -> None:
    """A disabled agent is denied everything: a passport exported after DisableAgent lists none
    of its lines (before, it listed the grant as in force while Verify answered
    AGENT_DISABLED)."""
    agent_id, grant = stack.agent_with_grant(tenant, "to-disable")
    assert await _in_force(stack, tenant, agent_id) == [grant.permission.permission_id]
    stack.registry_stub().DisableAgent(
        registry_pb2.DisableAgentRequest(agent_id=agent_id), metadata=tenant.admin, timeout=10
    )
    assert await _in_force(stack, tenant, agent_id) == []


async def test_a_test_mode_agents_passport_lists_nothing_in_force(
    stack: Stack, tenant: Tenant
) -> None:
    """An agent in manual test mode is authorized to do nothing: its passport lists none of its
    lines (before, it listed the grant as in force)."""
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(
            name="tester",
            kind=resources_pb2.AGENT_KIND_EXTERNAL,
            mode=resources_pb2.AGENT_MODE_TEST,
        ),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    registry.GrantPermission(coachella_grant(agent.agent_id), metadata=tenant.admin, timeout=10)
    assert await _in_force(stack, tenant, agent.agent_id) == []


async def test_another_tenants_passport_does_not_verify_under_this_tenants_keys(
    stack: Stack, tenant: Tenant, other: Tenant
) -> None:
    """A relying party verifies with the keys the registry publishes to its own tenant: a
    passport another tenant's admin exports (any lines it likes, for an agent of its own) does
    not verify under them. Before, every tenant was signed with the one registry key."""
    foreign_agent, _ = stack.agent_with_grant(other, "foreign", max_amount=None)
    signed = _export(stack, other, foreign_agent)
    with pytest.raises(PassportError):
        signed.verify(await _published_keys(stack, tenant))
    assert signed.verify(await _published_keys(stack, other)).agent_id == foreign_agent
