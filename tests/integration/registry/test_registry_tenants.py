"""RegistryService tenants and API keys, and the internal AuthenticateApiKey, on real PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from behalf.v1 import internal_pb2, registry_pb2, resources_pb2
from tests.integration.registry.support import Registry, fails

pytestmark = pytest.mark.integration
C = grpc.StatusCode


async def test_create_tenant_returns_a_working_admin_key(registry: Registry) -> None:
    """CreateTenant with the service credential returns a tenant and an admin key that works."""
    created = await registry.public(registry.operator_token).CreateTenant(
        registry_pb2.CreateTenantRequest(name="Acme")
    )
    assert created.tenant.tenant_id.startswith("ten_")
    assert created.admin_key.role == resources_pb2.ROLE_ADMIN
    assert created.admin_key_secret.startswith("bhk_admin_")
    assert created.admin_key.display_prefix == created.admin_key_secret[:14]
    got = await registry.public(created.admin_key_secret).GetTenant(registry_pb2.GetTenantRequest())
    assert got.tenant == created.tenant
    assert got.revision >= 1


async def test_create_tenant_needs_the_service_credential(registry: Registry) -> None:
    """A tenant admin key, a wrong token or no credential cannot create tenants."""
    tenant = await registry.tenant()
    request = registry_pb2.CreateTenantRequest(name="Other")
    await fails(tenant.admin.CreateTenant(request), C.UNAUTHENTICATED)
    await fails(registry.public("nope").CreateTenant(request), C.UNAUTHENTICATED)
    await fails(registry.public(None).CreateTenant(request), C.UNAUTHENTICATED)


@pytest.mark.parametrize(("name", "problem"), [("", "required"), ("x" * 201, "200")])
async def test_create_tenant_rejects_bad_names(registry: Registry, name: str, problem: str) -> None:
    """A tenant name must be 1..200 characters; the error names the field."""
    await fails(
        registry.public(registry.operator_token).CreateTenant(
            registry_pb2.CreateTenantRequest(name=name)
        ),
        C.INVALID_ARGUMENT,
        "name",
        problem,
    )


async def test_create_tenant_is_idempotent(registry: Registry) -> None:
    """The same idempotency key and body return the first tenant (its admin key's secret is
    not shown again); another body is refused."""
    operator = registry.public(registry.operator_token)
    request = registry_pb2.CreateTenantRequest(name="Acme", idempotency_key="t-1")
    first = await operator.CreateTenant(request)
    again = await operator.CreateTenant(request)
    assert (again.tenant, again.admin_key) == (first.tenant, first.admin_key)
    assert first.admin_key_secret and again.admin_key_secret == ""
    await fails(
        operator.CreateTenant(
            registry_pb2.CreateTenantRequest(name="Other", idempotency_key="t-1")
        ),
        C.ALREADY_EXISTS,
        "idempotency_key",
    )


@pytest.mark.parametrize(
    "token",
    [None, "", "bhk_admin_" + "A" * 43, "not-a-key", "bhk_admin_short"],
)
async def test_missing_or_bad_keys_are_unauthenticated(
    registry: Registry, token: str | None
) -> None:
    """Every RPC refuses a missing, malformed or unknown key with UNAUTHENTICATED."""
    await registry.tenant()
    await fails(
        registry.public(token).GetTenant(registry_pb2.GetTenantRequest()), C.UNAUTHENTICATED
    )
    await fails(
        registry.public(token).ListAgents(registry_pb2.ListAgentsRequest()), C.UNAUTHENTICATED
    )


async def test_api_keys_create_list_revoke(registry: Registry) -> None:
    """Keys are made per role, listed without secrets; a revoked key authenticates nothing."""
    tenant = await registry.tenant()
    listed = await tenant.admin.ListApiKeys(registry_pb2.ListApiKeysRequest())
    assert [k.role for k in listed.api_keys] == [
        resources_pb2.ROLE_ADMIN,
        resources_pb2.ROLE_AUDIT_READ,
        resources_pb2.ROLE_VERIFY,
    ]
    assert tenant.admin_secret not in str(listed)
    page = await tenant.admin.ListApiKeys(registry_pb2.ListApiKeysRequest(page_size=2))
    assert len(page.api_keys) == 2 and page.next_page_token
    rest = await tenant.admin.ListApiKeys(
        registry_pb2.ListApiKeysRequest(page_size=2, page_token=page.next_page_token)
    )
    assert [k.key_id for k in rest.api_keys] == [listed.api_keys[2].key_id]
    assert not rest.next_page_token

    audit_key = listed.api_keys[1]
    revoked = await tenant.admin.RevokeApiKey(
        registry_pb2.RevokeApiKeyRequest(key_id=audit_key.key_id)
    )
    assert revoked.api_key.HasField("revoke_time")
    await fails(tenant.audit.GetTenant(registry_pb2.GetTenantRequest()), C.UNAUTHENTICATED)
    # Revoking it again changes nothing, and names a revision that was committed (a client
    # passing it as min_revision must not wait for one that never comes).
    again = await tenant.admin.RevokeApiKey(
        registry_pb2.RevokeApiKeyRequest(key_id=audit_key.key_id)
    )
    assert again.api_key.revoke_time == revoked.api_key.revoke_time
    assert again.revision == revoked.revision
    events = [e for e, _, _ in await registry.outbox()]
    assert events.count("api_key.created") == 3 and events.count("api_key.revoked") == 1


async def test_api_key_roles_are_enforced(registry: Registry) -> None:
    """Only admin keys manage keys; audit-read and verify keys get PERMISSION_DENIED."""
    tenant = await registry.tenant()
    request = registry_pb2.CreateApiKeyRequest(name="k", role=resources_pb2.ROLE_ADMIN)
    for stub in (tenant.audit, tenant.verify):
        await fails(stub.CreateApiKey(request), C.PERMISSION_DENIED)
        await fails(stub.ListApiKeys(registry_pb2.ListApiKeysRequest()), C.PERMISSION_DENIED)
    await fails(tenant.verify.GetTenant(registry_pb2.GetTenantRequest()), C.PERMISSION_DENIED)
    assert (await tenant.audit.GetTenant(registry_pb2.GetTenantRequest())).tenant.tenant_id


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (registry_pb2.CreateApiKeyRequest(name="", role=resources_pb2.ROLE_ADMIN), "name"),
        (registry_pb2.CreateApiKeyRequest(name="k"), "role"),
        (registry_pb2.CreateApiKeyRequest(name="k", role=99), "role"),
        (
            registry_pb2.CreateApiKeyRequest(
                name="k", role=resources_pb2.ROLE_ADMIN, idempotency_key="a b"
            ),
            "idempotency_key",
        ),
    ],
)
async def test_create_api_key_rejects_bad_fields(
    registry: Registry, request_: registry_pb2.CreateApiKeyRequest, field: str
) -> None:
    """Each invalid CreateApiKey field is INVALID_ARGUMENT naming it."""
    tenant = await registry.tenant()
    await fails(tenant.admin.CreateApiKey(request_), C.INVALID_ARGUMENT, field)


async def test_another_tenants_key_id_is_not_found(registry: Registry) -> None:
    """Revoking another tenant's key looks exactly like revoking a key that does not exist."""
    mine, theirs = await registry.tenant("Mine"), await registry.tenant("Theirs")
    their_key = (await theirs.admin.ListApiKeys(registry_pb2.ListApiKeysRequest())).api_keys[0]
    missing = "key_" + "0" * 20
    a = await fails(
        mine.admin.RevokeApiKey(registry_pb2.RevokeApiKeyRequest(key_id=their_key.key_id)),
        C.NOT_FOUND,
    )
    b = await fails(
        mine.admin.RevokeApiKey(registry_pb2.RevokeApiKeyRequest(key_id=missing)), C.NOT_FOUND
    )
    assert a.replace(their_key.key_id, missing) == b
    await fails(
        mine.admin.RevokeApiKey(registry_pb2.RevokeApiKeyRequest(key_id="bad")),
        C.INVALID_ARGUMENT,
        "key_id",
    )


async def test_authenticate_api_key_internal_rpc(registry: Registry) -> None:
    """AuthenticateApiKey maps a key to its tenant and role, with the service credential only."""
    tenant = await registry.tenant()
    found = await registry.as_dispatcher().AuthenticateApiKey(
        internal_pb2.AuthenticateApiKeyRequest(api_key=tenant.verify_secret)
    )
    assert (found.tenant_id, found.role) == (tenant.tenant_id, resources_pb2.ROLE_VERIFY)
    await fails(
        registry.as_dispatcher().AuthenticateApiKey(
            internal_pb2.AuthenticateApiKeyRequest(api_key="bhk_admin_" + "B" * 43)
        ),
        C.UNAUTHENTICATED,
    )
    await fails(
        registry.internal(tenant.admin_secret).AuthenticateApiKey(
            internal_pb2.AuthenticateApiKeyRequest(api_key=tenant.verify_secret)
        ),
        C.UNAUTHENTICATED,
    )


async def test_idempotent_api_key_creation_never_shows_the_secret_again(
    registry: Registry,
) -> None:
    """Retrying CreateApiKey with the same key returns the first key, without its secret."""
    tenant = await registry.tenant()
    request = registry_pb2.CreateApiKeyRequest(
        name="ci", role=resources_pb2.ROLE_VERIFY, idempotency_key="k-1"
    )
    first = await tenant.admin.CreateApiKey(request)
    second = await tenant.admin.CreateApiKey(request)
    assert first.secret and second.secret == ""
    assert second.api_key == first.api_key and second.revision == first.revision > 0
    stored = await registry.pool.fetchval("SELECT response FROM idempotency_keys")
    assert first.secret.encode() not in bytes(stored)


async def test_list_verifiers_and_audit_queries_are_tenant_scoped(registry: Registry) -> None:
    """ListVerifiers reports the hub's view; audit queries are asked for the caller's tenant."""
    tenant = await registry.tenant()
    verifiers = await tenant.audit.ListVerifiers(registry_pb2.ListVerifiersRequest())
    [seen] = verifiers.verifiers
    assert seen.verifier_id.startswith("verifier-") and "fake" not in seen.verifier_id
    own = await registry.pool.fetchval(
        "SELECT max(revision) FROM outbox WHERE tenant_id = $1", tenant.tenant_id
    )
    assert verifiers.current_revision == own >= 1
    assert seen.acked_revision <= own
    await tenant.audit.ListDecisions(registry_pb2.ListDecisionsRequest())
    await fails(
        tenant.audit.GetDecision(registry_pb2.GetDecisionRequest(request_id="req-1")), C.NOT_FOUND
    )
    for asked in (
        registry_pb2.GetDecisionRequest(event_id="evt_" + "a" * 20),
        registry_pb2.GetDecisionRequest(approval_id="apr_" + "a" * 20),
    ):
        await fails(tenant.audit.GetDecision(asked), C.NOT_FOUND)
    for asked, field in (
        (registry_pb2.GetDecisionRequest(), "request_id"),
        (registry_pb2.GetDecisionRequest(request_id="r", event_id="evt_" + "a" * 20), "event_id"),
        (registry_pb2.GetDecisionRequest(event_id="e", approval_id="a"), "approval_id"),
    ):
        await fails(tenant.audit.GetDecision(asked), C.INVALID_ARGUMENT, field)
    await fails(
        tenant.audit.ListDecisions(registry_pb2.ListDecisionsRequest(page_size=501)),
        C.INVALID_ARGUMENT,
        "page_size",
    )
    await fails(
        tenant.verify.ListDecisions(registry_pb2.ListDecisionsRequest()), C.PERMISSION_DENIED
    )
    assert registry.audit.tenants == [tenant.tenant_id] * 4
