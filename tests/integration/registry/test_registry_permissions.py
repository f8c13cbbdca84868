"""RegistryService permissions, passports and scope templates."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.v1 import common_pb2 as common
from behalf.v1 import registry_pb2 as pb
from tests.integration.registry.support import Registry, fails, new_agent

pytestmark = pytest.mark.integration
C = grpc.StatusCode
MISSING_PERMISSION = "prm_" + "0" * 20


def ts(delta: timedelta) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + delta)
    return stamp


def usd(amount: int) -> common.Money:
    return common.Money(amount_minor=amount, currency="USD")


async def test_grant_explicit_permission(registry: Registry) -> None:
    """An explicit grant stores normalized resources, limits and times, and writes its event."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    granted = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id,
            allowed_actions=["purchase", "purchase"],
            blocked_actions=["issue_refund"],
            resources=["https://Shop.Example.COM/", "*.Vendor.io"],
            max_amount=usd(5000),
            budget=usd(20000),
            expires_in=Duration(seconds=3600),
            requires_approval=True,
        )
    )
    p = granted.permission
    assert list(p.allowed_actions) == ["purchase"]
    assert list(p.resources) == ["shop.example.com", "*.vendor.io"]
    assert (p.max_amount.amount_minor, p.budget.amount_minor) == (5000, 20000)
    assert (
        p.requires_approval and not p.revoked and p.category == common.ACTION_CATEGORY_UNSPECIFIED
    )
    assert p.expires_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + timedelta(minutes=59)
    assert ("permission.granted", granted.revision, tenant.tenant_id) in await registry.outbox()
    got = await tenant.audit.GetPermission(pb.GetPermissionRequest(permission_id=p.permission_id))
    assert got.permission == p


async def test_grant_from_template_with_overrides(registry: Registry) -> None:
    """A template fills the permission; explicit fields override it; name and version recorded."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    granted = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id,
            template_name="transactions.purchase",
            template_version=1,
            blocked_actions=["create_invoice"],
            resources=["amazon.com"],
            max_amount=usd(100),
            requires_approval=True,
        )
    )
    p = granted.permission
    assert (p.template_name, p.template_version) == ("transactions.purchase", 1)
    assert p.category == common.ACTION_CATEGORY_TRANSACTIONS
    assert list(p.allowed_actions) == ["purchase"]
    assert list(p.blocked_actions) == ["issue_refund", "create_invoice"]
    assert p.requires_approval and p.HasField("expires_at")
    latest = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id,
            template_name="data_access.read",
            requires_approval=False,
            resources=["*"],
        )
    )
    assert latest.permission.template_version == 2
    assert list(latest.permission.allowed_actions) == ["read_email", "browse_web", "query_crm"]
    assert "export_data" in latest.permission.blocked_actions  # read-only by default


def _grant(**fields: object) -> pb.GrantPermissionRequest:
    fields.setdefault("allowed_actions", ["purchase"])
    fields.setdefault("resources", ["coachella.com"])
    return pb.GrantPermissionRequest(agent_id="AGENT", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_grant(allowed_actions=[]), "allowed_actions"),
        (_grant(allowed_actions=["Purchase"]), "allowed_actions[0]"),
        (_grant(allowed_actions=["buy-now"]), "allowed_actions[0]"),
        (_grant(allowed_actions=[""]), "allowed_actions[0]"),
        (_grant(allowed_actions=["a" * 65]), "allowed_actions[0]"),
        (_grant(blocked_actions=["purchase"]), "blocked_actions"),
        (_grant(resources=["exa mple.com"]), "resources[0]"),
        (_grant(resources=["foo.*.com"]), "resources[0]"),
        (_grant(resources=["*.com"]), "resources[0]"),
        # A path or port would be dropped, widening the grant to the whole host.
        (_grant(resources=["coachella.com", "https://shop.example/cart"]), "resources[1]"),
        (_grant(resources=["https://shop.example:8443"]), "resources[0]"),
        (_grant(max_amount=common.Money(amount_minor=5)), "max_amount.currency"),
        (_grant(max_amount=common.Money(amount_minor=5, currency="usd")), "max_amount.currency"),
        (_grant(max_amount=common.Money(amount_minor=5, currency="ZZZ")), "max_amount.currency"),
        (
            _grant(max_amount=common.Money(amount_minor=-1, currency="USD")),
            "max_amount.amount_minor",
        ),
        (_grant(budget=common.Money(amount_minor=5)), "budget.currency"),
        (
            _grant(max_amount=usd(5), budget=common.Money(amount_minor=9, currency="EUR")),
            "budget.currency",
        ),
        (_grant(expires_at=ts(timedelta(hours=-1))), "expires_at"),
        (_grant(expires_at=ts(timedelta(hours=1)), expires_in=Duration(seconds=60)), "expires_in"),
        (_grant(expires_in=Duration(seconds=-60)), "expires_in"),
        (
            _grant(not_before=ts(timedelta(hours=2)), expires_at=ts(timedelta(hours=1))),
            "expires_at",
        ),
        (_grant(template_name="nope"), "template_name"),
        (_grant(template_name="data_access.read", template_version=99), "template_version"),
        (_grant(template_version=1), "template_version"),
        (_grant(template_name="transactions.purchase", resources=[]), "resources"),
        (
            _grant(template_name="data_access.read", allowed_actions=[], max_amount=usd(5)),
            "max_amount",
        ),
        # A grant narrows its template's actions, never adds to them: a purchase under
        # data_access.read would be scored as a read.
        (_grant(template_name="data_access.read"), "allowed_actions"),
    ],
)
async def test_grant_rejects_each_invalid_field(
    registry: Registry, request_: pb.GrantPermissionRequest, field: str
) -> None:
    """Each invalid or contradictory grant field is INVALID_ARGUMENT naming it."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    request_.agent_id = agent.agent_id
    await fails(tenant.admin.GrantPermission(request_), C.INVALID_ARGUMENT, field)


async def test_revoke_permission_and_list_inactive(registry: Registry) -> None:
    """Revoke marks the permission, writes permission.revoked, and hides it from active lists."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    other = await new_agent(tenant, "other")
    keep = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id, allowed_actions=["read_email"], resources=["*"]
        )
    )
    drop = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id, allowed_actions=["send_email"], resources=["*"]
        )
    )
    await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=other.agent_id, allowed_actions=["send_email"], resources=["*"]
        )
    )
    revoked = await tenant.admin.RevokePermission(
        pb.RevokePermissionRequest(
            permission_id=drop.permission.permission_id, wait=pb.PropagationWait(enabled=True)
        )
    )
    assert revoked.permission.revoked and revoked.revision > drop.revision
    assert revoked.propagation.all_acked
    assert registry.watcher.waits == [(revoked.revision, 2.0)]
    again = await tenant.admin.RevokePermission(
        pb.RevokePermissionRequest(permission_id=drop.permission.permission_id)
    )
    assert again.revision == revoked.revision
    active = await tenant.audit.ListPermissions(pb.ListPermissionsRequest(agent_id=agent.agent_id))
    assert [p.permission_id for p in active.permissions] == [keep.permission.permission_id]
    everything = await tenant.audit.ListPermissions(
        pb.ListPermissionsRequest(agent_id=agent.agent_id, include_inactive=True)
    )
    assert len(everything.permissions) == 2
    all_agents = await tenant.audit.ListPermissions(pb.ListPermissionsRequest(page_size=1))
    assert len(all_agents.permissions) == 1 and all_agents.next_page_token


async def test_permission_roles_and_isolation(registry: Registry) -> None:
    """Only admins grant or revoke; another tenant's permission id looks like a missing one."""
    mine, theirs = await registry.tenant("Mine"), await registry.tenant("Theirs")
    agent = await new_agent(theirs)
    their = await theirs.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id, allowed_actions=["read_email"], resources=["*"]
        )
    )
    pid = their.permission.permission_id
    await fails(
        theirs.audit.RevokePermission(pb.RevokePermissionRequest(permission_id=pid)),
        C.PERMISSION_DENIED,
    )
    await fails(
        theirs.verify.GrantPermission(
            pb.GrantPermissionRequest(
                agent_id=agent.agent_id, allowed_actions=["read_email"], resources=["*"]
            )
        ),
        C.PERMISSION_DENIED,
    )
    for permission_id in (pid, MISSING_PERMISSION):
        for call in (
            mine.admin.GetPermission(pb.GetPermissionRequest(permission_id=permission_id)),
            mine.admin.RevokePermission(pb.RevokePermissionRequest(permission_id=permission_id)),
        ):
            assert await fails(call, C.NOT_FOUND) == f"permission {permission_id} not found"
    listed = await mine.admin.ListPermissions(pb.ListPermissionsRequest(agent_id=agent.agent_id))
    assert not listed.permissions
    await fails(
        mine.admin.GetPermission(pb.GetPermissionRequest(permission_id="prm_x")),
        C.INVALID_ARGUMENT,
        "permission_id",
    )


async def test_export_passport_is_signed_canonical_json(registry: Registry) -> None:
    """ExportPassport returns canonical JSON of the active permissions, Ed25519-signed."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    active = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id, allowed_actions=["read_email"], resources=["*"]
        )
    )
    gone = await tenant.admin.GrantPermission(
        pb.GrantPermissionRequest(
            agent_id=agent.agent_id, allowed_actions=["send_email"], resources=["*"]
        )
    )
    await tenant.admin.RevokePermission(
        pb.RevokePermissionRequest(permission_id=gone.permission.permission_id)
    )
    exported = await tenant.audit.ExportPassport(pb.ExportPassportRequest(agent_id=agent.agent_id))
    document = json.loads(exported.document)
    assert document["agent"]["agent_id"] == agent.agent_id
    assert [p["permission_id"] for p in document["permissions"]] == [
        active.permission.permission_id
    ]
    assert (
        exported.document
        == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    key = Ed25519PublicKey.from_public_bytes(unb64(exported.public_key))
    key.verify(unb64(exported.signature), exported.document)
    again = await tenant.admin.ExportPassport(pb.ExportPassportRequest(agent_id=agent.agent_id))
    assert (again.key_id, again.public_key) == (exported.key_id, exported.public_key)
    published = await tenant.audit.ListPassportKeys(pb.ListPassportKeysRequest())
    assert [(k.key_id, k.public_key, k.algorithm) for k in published.keys] == [
        (exported.key_id, exported.public_key, "Ed25519")
    ]
    await fails(
        tenant.verify.ExportPassport(pb.ExportPassportRequest(agent_id=agent.agent_id)),
        C.PERMISSION_DENIED,
    )


async def test_scope_templates_cover_six_categories(registry: Registry) -> None:
    """The catalogue lists the latest version per template across all six categories."""
    tenant = await registry.tenant()
    listed = await tenant.audit.ListScopeTemplates(pb.ListScopeTemplatesRequest())
    categories = {t.category for t in listed.templates}
    assert categories == set(range(1, 7))
    purchase = [t for t in listed.templates if t.name == "transactions.purchase"]
    assert [t.version for t in purchase] == [2]
    every = await tenant.audit.ListScopeTemplates(pb.ListScopeTemplatesRequest(all_versions=True))
    # transactions.purchase, data_access.read and messaging.send each have an earlier version.
    assert len(every.templates) == len(listed.templates) + 3
    money = await tenant.audit.ListScopeTemplates(
        pb.ListScopeTemplatesRequest(category=common.ACTION_CATEGORY_TRANSACTIONS)
    )
    assert all(t.amounts_apply for t in money.templates)
    one = await tenant.audit.GetScopeTemplate(
        pb.GetScopeTemplateRequest(name="transactions.purchase", version=1)
    )
    assert list(one.template.allowed_actions) == ["purchase"]
    await fails(
        tenant.audit.GetScopeTemplate(pb.GetScopeTemplateRequest(name="transactions.nope")),
        C.NOT_FOUND,
    )
    # Not a template name at all (a huge one, a NUL, a bidi override): the field is at fault.
    for name in ("", "nope", "x" * 100_000, "data_access.read\x00", "\u202edata_access.read"):
        await fails(
            tenant.audit.GetScopeTemplate(pb.GetScopeTemplateRequest(name=name)),
            C.INVALID_ARGUMENT,
            "name",
        )
    await fails(
        tenant.audit.ListScopeTemplates(pb.ListScopeTemplatesRequest(category=77)),
        C.INVALID_ARGUMENT,
        "category",
    )


async def test_grant_idempotency(registry: Registry) -> None:
    """A repeated grant with one idempotency key grants once; another body is ALREADY_EXISTS."""
    tenant = await registry.tenant()
    agent = await new_agent(tenant)
    request = pb.GrantPermissionRequest(
        agent_id=agent.agent_id,
        allowed_actions=["read_email"],
        idempotency_key="g1",
        resources=["*"],
    )
    first = await tenant.admin.GrantPermission(request)
    assert await tenant.admin.GrantPermission(request) == first
    request.allowed_actions.append("browse_web")
    await fails(tenant.admin.GrantPermission(request), C.ALREADY_EXISTS, "idempotency_key")
    listed = await tenant.admin.ListPermissions(pb.ListPermissionsRequest())
    assert len(listed.permissions) == 1
