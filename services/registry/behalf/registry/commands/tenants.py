"""Tenants: created with their first admin key (by the operator's API call or bootstrap)."""

from __future__ import annotations

from behalf.common.callers import Role
from behalf.common.ids import new_id
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.idempotency import NOT_ONCE, Once, create_once
from behalf.registry.commands.keys import insert_key
from behalf.registry.commands.transaction import Db
from behalf.registry.store import tenants
from behalf.registry.store._rows import Connection
from behalf.registry.store.revisions import next_revision
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2

OPERATOR_SCOPE = ""  # the idempotency scope of operator calls (no tenant yet)
FIRST_KEY_NAME = "first admin key"


async def create_tenant(db: Db, name: str, once: Once = NOT_ONCE) -> pb.CreateTenantResponse:
    """A tenant and its first admin key, at a new revision; the key's secret is shown once."""

    async def create(conn: Connection, _revision: int) -> pb.CreateTenantResponse:
        revision = await next_revision(conn)
        tenant = await tenants.insert_tenant(conn, new_id("ten"), name)
        api_key, secret = await insert_key(
            conn,
            tenant_id=tenant.tenant_id,
            name=FIRST_KEY_NAME,
            role=Role.ADMIN,
            revision=revision,
        )
        return pb.CreateTenantResponse(tenant=tenant, admin_key=api_key, admin_key_secret=secret)

    return await create_once(
        db,
        once,
        pb.CreateTenantResponse.FromString,
        create,
        with_revision=False,
        shown_once=("admin_key_secret",),
    )


async def get_tenant(db: Db, tenant_id: str) -> tuple[resources_pb2.Tenant, int]:
    """The tenant and the last policy revision that changed it."""
    tenant = await tenants.get_tenant(db.pool, tenant_id)
    if tenant is None:
        raise not_found("tenant", tenant_id)
    return tenant, await tenants.latest_revision(db.pool, tenant_id)


async def latest_revision(db: Db, tenant_id: str) -> int:
    """The last policy revision that changed the tenant (0 if none did)."""
    return await tenants.latest_revision(db.pool, tenant_id)
