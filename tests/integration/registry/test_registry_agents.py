"""RegistryService agents: CRUD, filters, paging, the kill switch, events, isolation."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from behalf.v1 import internal_pb2 as ipb
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2 as res
from tests.integration.registry.support import Registry, fails, new_agent

pytestmark = pytest.mark.integration
C = grpc.StatusCode
MISSING_AGENT = "agt_" + "0" * 20


async def test_create_and_get_agent(registry: Registry) -> None:
    """CreateAgent stores every field and writes agent.created; GetAgent reads it back."""
    tenant = await registry.tenant()
    created = await tenant.admin.CreateAgent(
        pb.CreateAgentRequest(
            name="Shopper",
            kind=res.AGENT_KIND_EXTERNAL,
            description="buys things",
            labels={"team": "ops", "env": "prod"},
        )
    )
    agent = created.agent
    assert agent.agent_id.startswith("agt_") and agent.tenant_id == tenant.tenant_id
    assert (agent.name, agent.kind, dict(agent.labels)) == (
        "Shopper",
        res.AGENT_KIND_EXTERNAL,
        {"team": "ops", "env": "prod"},
    )
    assert agent.revision == created.revision
    assert ("agent.created", created.revision, tenant.tenant_id) in await registry.outbox()
    got = await tenant.audit.GetAgent(pb.GetAgentRequest(agent_id=agent.agent_id))
    assert got.agent == agent


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.CreateAgentRequest(name="", kind=res.AGENT_KIND_NATIVE), "name"),
        (pb.CreateAgentRequest(name="   ", kind=res.AGENT_KIND_NATIVE), "name"),
        (pb.CreateAgentRequest(name="x" * 201, kind=res.AGENT_KIND_NATIVE), "name"),
        (pb.CreateAgentRequest(name="a"), "kind"),
        (pb.CreateAgentRequest(name="a", kind=42), "kind"),
        (
            pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, description="d" * 2001),
            "description",
        ),
        (
            pb.CreateAgentRequest(
                name="a", kind=res.AGENT_KIND_NATIVE, labels={f"k{i}": "v" for i in range(33)}
            ),
            "labels",
        ),
        (
            pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, labels={"k" * 64: "v"}),
            "labels",
        ),
        (
            pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, labels={"k": "v" * 64}),
            "labels",
        ),
        (pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, labels={"": "v"}), "labels"),
    ],
)
async def test_create_agent_rejects_bad_fields(
    registry: Registry, request_: pb.CreateAgentRequest, field: str
) -> None:
    """Each invalid CreateAgent field is INVALID_ARGUMENT naming it."""
    tenant = await registry.tenant()
    await fails(tenant.admin.CreateAgent(request_), C.INVALID_ARGUMENT, field)


async def test_agent_mutations_need_an_admin_key(registry: Registry) -> None:
    """Audit-read and verify keys cannot create, disable, enable or delete agents."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    for stub in (tenant.audit, tenant.verify):
        await fails(
            stub.CreateAgent(pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE)),
            C.PERMISSION_DENIED,
        )
        await fails(
            stub.DisableAgent(pb.DisableAgentRequest(agent_id=agent.agent_id)), C.PERMISSION_DENIED
        )
        await fails(
            stub.EnableAgent(pb.EnableAgentRequest(agent_id=agent.agent_id)), C.PERMISSION_DENIED
        )
        await fails(
            stub.DeleteAgent(pb.DeleteAgentRequest(agent_id=agent.agent_id)), C.PERMISSION_DENIED
        )
    await fails(
        tenant.verify.GetAgent(pb.GetAgentRequest(agent_id=agent.agent_id)), C.PERMISSION_DENIED
    )


async def test_list_agents_filters_and_pages(registry: Registry) -> None:
    """ListAgents filters by kind, disabled and labels, and pages oldest first with tokens."""
    tenant = await registry.tenant()
    made = [
        await new_agent(tenant, f"a{i}", labels={"team": "red" if i % 2 else "blue"})
        for i in range(5)
    ]
    external = await new_agent(tenant, "ext", kind=res.AGENT_KIND_EXTERNAL)
    await tenant.admin.DisableAgent(pb.DisableAgentRequest(agent_id=made[0].agent_id))

    seen, token = [], ""
    while True:
        page = await tenant.audit.ListAgents(pb.ListAgentsRequest(page_size=2, page_token=token))
        seen += [a.agent_id for a in page.agents]
        token = page.next_page_token
        if not token:
            break
    assert seen == [a.agent_id for a in made] + [external.agent_id]

    kinds = await tenant.audit.ListAgents(pb.ListAgentsRequest(kind=res.AGENT_KIND_EXTERNAL))
    assert [a.agent_id for a in kinds.agents] == [external.agent_id]
    disabled = await tenant.audit.ListAgents(pb.ListAgentsRequest(disabled=True))
    assert [a.agent_id for a in disabled.agents] == [made[0].agent_id]
    enabled = await tenant.audit.ListAgents(pb.ListAgentsRequest(disabled=False))
    assert len(enabled.agents) == 5
    red = await tenant.audit.ListAgents(pb.ListAgentsRequest(labels={"team": "red"}))
    assert [a.agent_id for a in red.agents] == [made[1].agent_id, made[3].agent_id]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListAgentsRequest(page_size=-1), "page_size"),
        (pb.ListAgentsRequest(page_size=501), "page_size"),
        (pb.ListAgentsRequest(page_token="garbage!"), "page_token"),
        (pb.ListAgentsRequest(kind=9), "kind"),
    ],
)
async def test_list_agents_rejects_bad_fields(
    registry: Registry, request_: pb.ListAgentsRequest, field: str
) -> None:
    """Bad page sizes, tokens and enum values are INVALID_ARGUMENT naming the field."""
    tenant = await registry.tenant()
    await fails(tenant.audit.ListAgents(request_), C.INVALID_ARGUMENT, field)


async def test_page_token_from_another_list_is_refused(registry: Registry) -> None:
    """A token from ListApiKeys is not accepted by ListAgents."""
    tenant = await registry.tenant()
    keys = await tenant.admin.ListApiKeys(pb.ListApiKeysRequest(page_size=1))
    await fails(
        tenant.admin.ListAgents(pb.ListAgentsRequest(page_token=keys.next_page_token)),
        C.INVALID_ARGUMENT,
        "page_token",
    )


async def test_disable_and_enable_agent(registry: Registry) -> None:
    """Disable bumps the revision, writes agent.disabled, waits for verifiers when asked."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    disabled = await tenant.admin.DisableAgent(
        pb.DisableAgentRequest(
            agent_id=agent.agent_id,
            wait=pb.PropagationWait(enabled=True, timeout=Duration(seconds=90)),
        )
    )
    assert disabled.agent.disabled and disabled.revision > agent.revision
    assert disabled.propagation.all_acked
    assert registry.watcher.waits == [(disabled.revision, 30.0)]
    again = await tenant.admin.DisableAgent(pb.DisableAgentRequest(agent_id=agent.agent_id))
    assert again.revision == disabled.revision and not again.HasField("propagation")
    enabled = await tenant.admin.EnableAgent(pb.EnableAgentRequest(agent_id=agent.agent_id))
    assert not enabled.agent.disabled and enabled.revision > disabled.revision
    types = [e for e, _, _ in await registry.outbox()]
    assert types.count("agent.disabled") == 1 and types.count("agent.enabled") == 1


async def test_disable_wait_defaults_and_rejects_negative(registry: Registry) -> None:
    """A wait without timeout waits 2 s; a negative timeout is INVALID_ARGUMENT."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    await tenant.admin.DisableAgent(
        pb.DisableAgentRequest(agent_id=agent.agent_id, wait=pb.PropagationWait(enabled=True))
    )
    assert registry.watcher.waits[-1][1] == 2.0
    await fails(
        tenant.admin.DisableAgent(
            pb.DisableAgentRequest(
                agent_id=agent.agent_id,
                wait=pb.PropagationWait(enabled=True, timeout=Duration(seconds=-1)),
            )
        ),
        C.INVALID_ARGUMENT,
        "wait.timeout",
    )


async def test_delete_agent_revokes_its_permissions_in_one_revision(registry: Registry) -> None:
    """DeleteAgent soft-deletes the agent and revokes its permissions, all at one revision."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    for action in ("read_email", "browse_web"):
        await tenant.admin.GrantPermission(
            pb.GrantPermissionRequest(
                agent_id=agent.agent_id, allowed_actions=[action], resources=["*"]
            )
        )
    deleted = await tenant.admin.DeleteAgent(pb.DeleteAgentRequest(agent_id=agent.agent_id))
    at_revision = [e for e, r, _ in await registry.outbox() if r == deleted.revision]
    assert at_revision == ["permission.revoked", "permission.revoked", "agent.deleted"]
    await fails(tenant.admin.GetAgent(pb.GetAgentRequest(agent_id=agent.agent_id)), C.NOT_FOUND)
    listed = await tenant.admin.ListPermissions(
        pb.ListPermissionsRequest(agent_id=agent.agent_id, include_inactive=True)
    )
    assert all(p.revoked and p.revision == deleted.revision for p in listed.permissions)
    await fails(
        tenant.admin.DeleteAgent(pb.DeleteAgentRequest(agent_id=agent.agent_id)), C.NOT_FOUND
    )


async def test_delete_agent_revokes_its_keys_and_ends_its_approvals(registry: Registry) -> None:
    """Nothing the agent held outlives it: the keys bound to it are revoked and its pending and
    approved approvals expire, at the deletion's revision; another agent's are untouched."""
    tenant = await registry.tenant()
    agent, other = await new_agent(tenant), await new_agent(tenant, "other")

    async def bound_key(agent_id: str) -> str:
        created = await tenant.admin.CreateApiKey(
            pb.CreateApiKeyRequest(name="own", role=res.ROLE_VERIFY, agent_id=agent_id)
        )
        return str(created.api_key.key_id)

    async def approval(agent_id: str, request_id: str) -> str:
        permission = (
            await tenant.admin.GrantPermission(
                pb.GrantPermissionRequest(
                    agent_id=agent_id,
                    allowed_actions=["purchase"],
                    resources=["*"],
                    requires_approval=True,
                )
            )
        ).permission
        created = await registry.as_verifier().CreateApproval(
            ipb.CreateApprovalRequest(
                tenant_id=tenant.tenant_id,
                agent_id=agent_id,
                action="purchase",
                resource="shop.example.com",
                permission_id=permission.permission_id,
                request_id=request_id,
            )
        )
        return str(created.approval.approval_id)

    keys = {await bound_key(agent.agent_id), await bound_key(other.agent_id)}
    pending = await approval(agent.agent_id, "r1")
    approved = await approval(agent.agent_id, "r2")
    await tenant.admin.ResolveApproval(
        pb.ResolveApprovalRequest(approval_id=approved, approve=True, resolved_by="ops")
    )
    others = await approval(other.agent_id, "r1")

    deleted = await tenant.admin.DeleteAgent(pb.DeleteAgentRequest(agent_id=agent.agent_id))
    at_revision = [e for e, r, _ in await registry.outbox() if r == deleted.revision]
    assert sorted(at_revision) == sorted(
        ["permission.revoked"] * 2
        + ["api_key.revoked"]
        + ["approval.expired"] * 2
        + ["agent.deleted"]
    )
    listed = (await tenant.admin.ListApiKeys(pb.ListApiKeysRequest())).api_keys
    revoked = {k.key_id: k.HasField("revoke_time") for k in listed if k.key_id in keys}
    assert revoked == {k.key_id: k.agent_id == agent.agent_id for k in listed if k.key_id in keys}
    states = {
        a: (await tenant.admin.GetApproval(pb.GetApprovalRequest(approval_id=a))).approval.state
        for a in (pending, approved, others)
    }
    assert states == {
        pending: res.APPROVAL_STATE_EXPIRED,
        approved: res.APPROVAL_STATE_EXPIRED,
        others: res.APPROVAL_STATE_PENDING,
    }


async def test_another_tenants_agent_looks_missing(registry: Registry) -> None:
    """Every agent RPC answers another tenant's agent id exactly as a nonexistent id."""
    mine, theirs = await registry.tenant("Mine"), await registry.tenant("Theirs")
    their_agent = await new_agent(theirs)
    for agent_id in (their_agent.agent_id, MISSING_AGENT):
        calls = [
            mine.admin.GetAgent(pb.GetAgentRequest(agent_id=agent_id)),
            mine.admin.DisableAgent(pb.DisableAgentRequest(agent_id=agent_id)),
            mine.admin.EnableAgent(pb.EnableAgentRequest(agent_id=agent_id)),
            mine.admin.DeleteAgent(pb.DeleteAgentRequest(agent_id=agent_id)),
            mine.admin.ExportPassport(pb.ExportPassportRequest(agent_id=agent_id)),
            mine.admin.GrantPermission(
                pb.GrantPermissionRequest(
                    agent_id=agent_id, allowed_actions=["purchase"], resources=["*"]
                )
            ),
        ]
        for call in calls:
            details = await fails(call, C.NOT_FOUND)
            assert details == f"agent {agent_id} not found"
    listed = await mine.admin.ListAgents(pb.ListAgentsRequest())
    assert not listed.agents
    still = await theirs.admin.GetAgent(pb.GetAgentRequest(agent_id=their_agent.agent_id))
    assert not still.agent.disabled


@pytest.mark.parametrize("agent_id", ["", "agt_short", "prm_" + "0" * 20, "AGT_" + "0" * 20])
async def test_malformed_agent_ids_are_invalid(registry: Registry, agent_id: str) -> None:
    """Malformed agent ids are INVALID_ARGUMENT naming agent_id."""
    tenant = await registry.tenant()
    await fails(
        tenant.admin.GetAgent(pb.GetAgentRequest(agent_id=agent_id)), C.INVALID_ARGUMENT, "agent_id"
    )


async def test_create_agent_idempotency(registry: Registry) -> None:
    """Same idempotency key and body return the first agent; another body is ALREADY_EXISTS."""
    tenant = await registry.tenant()
    request = pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, idempotency_key="ik")
    first = await tenant.admin.CreateAgent(request)
    assert await tenant.admin.CreateAgent(request) == first
    await fails(
        tenant.admin.CreateAgent(
            pb.CreateAgentRequest(name="b", kind=res.AGENT_KIND_NATIVE, idempotency_key="ik")
        ),
        C.ALREADY_EXISTS,
        "different request body",
    )
    other = await registry.tenant("Other")
    assert (await other.admin.CreateAgent(request)).agent.agent_id != first.agent.agent_id
    listed = await tenant.admin.ListAgents(pb.ListAgentsRequest())
    assert len(listed.agents) == 1


async def test_concurrent_idempotent_creates_make_one_agent(registry: Registry) -> None:
    """Ten concurrent creates with one idempotency key create one agent and agree on it."""
    import asyncio

    tenant = await registry.tenant()
    request = pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, idempotency_key="race")
    results = await asyncio.gather(*(tenant.admin.CreateAgent(request) for _ in range(10)))
    assert len({r.agent.agent_id for r in results}) == 1
    assert len((await tenant.admin.ListAgents(pb.ListAgentsRequest())).agents) == 1
