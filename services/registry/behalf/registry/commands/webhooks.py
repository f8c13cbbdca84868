"""Webhook endpoints: secrets are made here, shown once, and kept only encrypted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from behalf.common.errors import FailedPrecondition
from behalf.common.ids import new_id
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.idempotency import Once, create_once
from behalf.registry.commands.transaction import Db, Outcome, change, unchanged
from behalf.registry.pages import PageRequest
from behalf.registry.secret_box import SecretBox, new_webhook_secret
from behalf.registry.store import webhook_health, webhooks
from behalf.registry.store._rows import Connection
from behalf.registry.store.outbox import write_event
from behalf.registry.store.webhook_health import HealthReport
from behalf.v1 import internal_pb2, resources_pb2
from behalf.v1 import registry_pb2 as pb

# Endpoints one tenant may have: each event fans out to all of them, and the dispatcher fetches
# them all in one reply.
MAX_ENDPOINTS_PER_TENANT = 50


def secret_aad(endpoint_id: str) -> bytes:
    """Associated data binding a secret's ciphertext to its endpoint."""
    return f"webhook-secret/{endpoint_id}".encode()


@dataclass(frozen=True)
class NewEndpoint:
    """A validated endpoint to create."""

    url: str
    event_types: Sequence[str]
    description: str
    rate_limit_per_second: float = 0.0


@dataclass(frozen=True)
class EndpointState:
    """An endpoint after a disable or enable, and the revision it stands at.

    When nothing changed, `revision` is the one before the revision the attempt took.
    """

    endpoint: resources_pb2.WebhookEndpoint
    revision: int
    changed: bool


async def create_endpoint(
    db: Db, box: SecretBox, once: Once, tenant_id: str, new: NewEndpoint
) -> pb.CreateWebhookEndpointResponse:
    async def create(conn: Connection, revision: int) -> pb.CreateWebhookEndpointResponse:
        # Counted under the revision lock `change` holds, so concurrent creates count in turn.
        if await webhooks.count_live(conn, tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
            raise FailedPrecondition(
                f"the tenant has {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; delete one first"
            )
        endpoint_id = new_id("whe")
        secret = new_webhook_secret()
        endpoint = await webhooks.insert(
            conn,
            endpoint_id=endpoint_id,
            tenant_id=tenant_id,
            url=new.url,
            event_types=new.event_types,
            description=new.description,
            secret_ciphertext=box.encrypt(secret.encode(), secret_aad(endpoint_id)),
            rate_limit_per_second=new.rate_limit_per_second,
        )
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="webhook.endpoint_created",
            revision=revision,
            subject=endpoint,
        )
        return pb.CreateWebhookEndpointResponse(
            endpoint=endpoint, signing_secret=secret, revision=revision
        )

    return await create_once(
        db,
        once,
        pb.CreateWebhookEndpointResponse.FromString,
        create,
        shown_once=("signing_secret",),
    )


async def get_endpoint(db: Db, tenant_id: str, endpoint_id: str) -> resources_pb2.WebhookEndpoint:
    endpoint = await webhooks.get(db.pool, tenant_id, endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint", endpoint_id)
    return endpoint


async def list_endpoints(
    db: Db, tenant_id: str, page: PageRequest[resources_pb2.WebhookEndpoint]
) -> tuple[list[resources_pb2.WebhookEndpoint], str]:
    rows = await webhooks.list_page(db.pool, tenant_id, after=page.cursor, limit=page.fetch)
    return page.split(rows)


async def set_endpoint_disabled(
    db: Db, tenant_id: str, endpoint_id: str, *, disabled: bool
) -> EndpointState:
    """Disable or enable an endpoint (by an admin, or the dispatcher when it is gone)."""
    event_type = "webhook.endpoint_disabled" if disabled else "webhook.endpoint_enabled"

    async def flip(conn: Connection, revision: int) -> Outcome[EndpointState]:
        found = await webhooks.set_disabled(conn, tenant_id, endpoint_id, disabled=disabled)
        if found is None:
            raise not_found("webhook endpoint", endpoint_id)
        endpoint, changed = found
        if not changed:
            return unchanged(EndpointState(endpoint, revision - 1, changed=False))
        await write_event(
            conn, tenant_id=tenant_id, event_type=event_type, revision=revision, subject=endpoint
        )
        return Outcome(EndpointState(endpoint, revision, changed=True))

    return await change(db, flip)


async def set_rate_limit(
    db: Db, tenant_id: str, endpoint_id: str, rate_limit_per_second: float
) -> EndpointState:
    """Set an endpoint's delivery rate limit; a `webhook.endpoint_updated` event tells the
    dispatchers (their target caches drop the tenant on every `webhook.*` event)."""

    async def apply(conn: Connection, revision: int) -> Outcome[EndpointState]:
        found = await webhooks.set_rate_limit(
            conn, tenant_id, endpoint_id, rate_limit_per_second=rate_limit_per_second
        )
        if found is None:
            raise not_found("webhook endpoint", endpoint_id)
        endpoint, changed = found
        if not changed:
            return unchanged(EndpointState(endpoint, revision - 1, changed=False))
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="webhook.endpoint_updated",
            revision=revision,
            subject=endpoint,
        )
        return Outcome(EndpointState(endpoint, revision, changed=True))

    return await change(db, apply)


async def rotate_secret(
    db: Db, box: SecretBox, tenant_id: str, endpoint_id: str, overlap: timedelta
) -> pb.RotateWebhookSecretResponse:
    """A new signing secret; the previous one keeps signing for `overlap`."""

    async def rotate(conn: Connection, revision: int) -> Outcome[pb.RotateWebhookSecretResponse]:
        previous = await webhooks.current_ciphertext(conn, tenant_id, endpoint_id)
        if previous is None:
            raise not_found("webhook endpoint", endpoint_id)
        secret = new_webhook_secret()
        endpoint = await webhooks.rotate(
            conn,
            tenant_id,
            endpoint_id,
            secret_ciphertext=box.encrypt(secret.encode(), secret_aad(endpoint_id)),
            previous_ciphertext=previous,
            overlap_seconds=overlap.total_seconds(),
        )
        if endpoint is None:  # the row is locked: it cannot have gone
            raise not_found("webhook endpoint", endpoint_id)
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="webhook.endpoint_rotated",
            revision=revision,
            subject=endpoint,
        )
        return Outcome(
            pb.RotateWebhookSecretResponse(
                endpoint=endpoint, signing_secret=secret, revision=revision
            )
        )

    return await change(db, rotate)


async def delete_endpoint(db: Db, tenant_id: str, endpoint_id: str) -> int:
    """Delete an endpoint; returns the revision."""

    async def delete(conn: Connection, revision: int) -> Outcome[int]:
        endpoint = await webhooks.mark_deleted(conn, tenant_id, endpoint_id)
        if endpoint is None:
            raise not_found("webhook endpoint", endpoint_id)
        await write_event(
            conn,
            tenant_id=tenant_id,
            event_type="webhook.endpoint_deleted",
            revision=revision,
            subject=endpoint,
        )
        return Outcome(revision)

    return await change(db, delete)


async def targets(db: Db, box: SecretBox, tenant_id: str) -> list[internal_pb2.WebhookTarget]:
    """Every live endpoint with the secrets that sign for it now, decrypted (dispatchers only)."""
    return [
        internal_pb2.WebhookTarget(
            endpoint=t.endpoint,
            signing_secrets=[
                box.decrypt(c, secret_aad(t.endpoint.endpoint_id)).decode()
                for c in t.secret_ciphertexts
            ],
        )
        for t in await webhooks.targets(db.pool, tenant_id)
    ]


async def record_health(db: Db, dispatcher_id: str, reports: Sequence[HealthReport]) -> int:
    """Keep one dispatcher's reports on live endpoints; how many were kept."""
    return await webhook_health.record(db.pool, dispatcher_id, reports)
