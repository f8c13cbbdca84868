"""API keys: create (the secret shown once), list, revoke; verifiers learn of each change."""

from __future__ import annotations

from behalf.common.callers import UNSCOPED, KeyScope, Role
from behalf.common.ids import new_id
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.idempotency import Once, create_once
from behalf.registry.commands.transaction import Db, Outcome, change, unchanged
from behalf.registry.keys import generate_key
from behalf.registry.pages import PageRequest
from behalf.registry.store import agents, tenants
from behalf.registry.store._rows import Connection
from behalf.registry.store.outbox import write_event
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2


async def insert_key(
    conn: Connection,
    *,
    tenant_id: str,
    name: str,
    role: Role,
    revision: int,
    scope: KeyScope = UNSCOPED,
) -> tuple[resources_pb2.ApiKey, str]:
    """Create a key and its `api_key.created` event (never its secret); returns the key and
    its secret. Runs inside the caller's transaction, at `revision`."""
    new_key = generate_key(role)
    api_key = await tenants.insert_key(
        conn,
        key_id=new_id("key"),
        tenant_id=tenant_id,
        name=name,
        role=role,
        display_prefix=new_key.display_prefix,
        secret_hash=new_key.secret_hash,
        test_mode_only=scope.test_mode_only,
        agent_id=scope.agent_id,
    )
    await write_event(
        conn, tenant_id=tenant_id, event_type="api_key.created", revision=revision, subject=api_key
    )
    return api_key, new_key.secret


async def create_key(
    db: Db, once: Once, tenant_id: str, *, name: str, role: Role, scope: KeyScope
) -> pb.CreateApiKeyResponse:
    """A new key of the tenant's; an agent-bound key needs the agent to exist."""

    async def create(conn: Connection, revision: int) -> pb.CreateApiKeyResponse:
        if scope.agent_id and await agents.get(conn, tenant_id, scope.agent_id) is None:
            raise not_found("agent", scope.agent_id)
        api_key, secret = await insert_key(
            conn, tenant_id=tenant_id, name=name, role=role, revision=revision, scope=scope
        )
        return pb.CreateApiKeyResponse(api_key=api_key, secret=secret, revision=revision)

    return await create_once(
        db, once, pb.CreateApiKeyResponse.FromString, create, shown_once=("secret",)
    )


async def list_keys(
    db: Db, tenant_id: str, page: PageRequest[resources_pb2.ApiKey]
) -> tuple[list[resources_pb2.ApiKey], str]:
    rows = await tenants.list_keys(db.pool, tenant_id, after=page.cursor, limit=page.fetch)
    return page.split(rows)


async def revoke_key(db: Db, tenant_id: str, key_id: str) -> pb.RevokeApiKeyResponse:
    """Revoke a key; revoking a revoked key changes nothing and answers as it stands."""

    async def revoke(conn: Connection, revision: int) -> Outcome[pb.RevokeApiKeyResponse]:
        api_key = await tenants.revoke_key(conn, tenant_id, key_id)
        if api_key is None:
            current = await tenants.get_key(conn, tenant_id, key_id)
            if current is None:
                raise not_found("API key", key_id)
            # Revoked already. This transaction took `revision` and rolls it back; under its
            # lock the latest committed revision is the one before.
            return unchanged(pb.RevokeApiKeyResponse(api_key=current, revision=revision - 1))
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="api_key.revoked",
            revision=revision,
            subject=api_key,
        )
        return Outcome(pb.RevokeApiKeyResponse(api_key=api_key, revision=revision))

    return await change(db, revoke)
