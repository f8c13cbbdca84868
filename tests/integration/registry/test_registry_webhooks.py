"""Webhook endpoints: create, get, list, disable, enable, rotate, delete, and signing targets."""

from __future__ import annotations

import asyncio
import base64

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from behalf.registry.commands import webhooks as webhook_commands
from behalf.v1 import internal_pb2 as ipb
from behalf.v1 import registry_pb2 as pb
from tests.integration.registry.support import Registry, fails

pytestmark = pytest.mark.integration
C = grpc.StatusCode
URL = "https://hooks.example.com/behalf"


async def test_webhook_endpoint_lifecycle(registry: Registry) -> None:
    """An endpoint is created with a whsec_ secret shown once, rotated with overlap, deleted."""
    tenant = await registry.tenant()
    created = await tenant.admin.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(url=URL, event_types=["agent.*", "verification.denied"])
    )
    secret = created.signing_secret
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    endpoint = created.endpoint
    stored = await registry.pool.fetchval("SELECT secret_ciphertext FROM webhook_endpoints")
    assert secret.encode() not in bytes(stored) and base64.b64decode(secret[6:]) not in bytes(
        stored
    )
    got = await tenant.audit.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(endpoint_id=endpoint.endpoint_id)
    )
    assert got.endpoint == endpoint and secret not in str(got)

    disabled = await tenant.admin.DisableWebhookEndpoint(
        pb.DisableWebhookEndpointRequest(endpoint_id=endpoint.endpoint_id)
    )
    assert disabled.endpoint.disabled and disabled.revision > created.revision
    enabled = await tenant.admin.EnableWebhookEndpoint(
        pb.EnableWebhookEndpointRequest(endpoint_id=endpoint.endpoint_id)
    )
    assert not enabled.endpoint.disabled

    rotated = await tenant.admin.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(
            endpoint_id=endpoint.endpoint_id, overlap=Duration(seconds=600)
        )
    )
    assert rotated.signing_secret != secret and rotated.endpoint.HasField(
        "previous_secret_expire_time"
    )
    targets = await registry.as_dispatcher().ListWebhookTargets(
        ipb.ListWebhookTargetsRequest(tenant_id=tenant.tenant_id)
    )
    assert list(targets.targets[0].signing_secrets) == [rotated.signing_secret, secret]

    listed = await tenant.audit.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    assert [e.endpoint_id for e in listed.endpoints] == [endpoint.endpoint_id]
    deleted = await tenant.admin.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(endpoint_id=endpoint.endpoint_id)
    )
    assert deleted.revision > rotated.revision
    assert not (await tenant.audit.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())).endpoints
    types = [e for e, _, _ in await registry.outbox() if e.startswith("webhook.")]
    assert types == [
        "webhook.endpoint_created",
        "webhook.endpoint_disabled",
        "webhook.endpoint_enabled",
        "webhook.endpoint_rotated",
        "webhook.endpoint_deleted",
    ]
    payloads = await registry.pool.fetch("SELECT payload FROM outbox")
    for row in payloads:
        assert secret.encode() not in bytes(row["payload"])
        assert rotated.signing_secret.encode() not in bytes(row["payload"])


async def test_rotation_without_overlap_drops_the_old_secret(registry: Registry) -> None:
    """A rotation whose overlap has passed signs with the new secret only."""
    tenant = await registry.tenant()
    created = await tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL))
    rotated = await tenant.admin.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(
            endpoint_id=created.endpoint.endpoint_id, overlap=Duration(nanos=1000)
        )
    )
    await registry.pool.execute("SELECT pg_sleep(0.01)")
    targets = await registry.as_dispatcher().ListWebhookTargets(
        ipb.ListWebhookTargetsRequest(tenant_id=tenant.tenant_id)
    )
    assert list(targets.targets[0].signing_secrets) == [rotated.signing_secret]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "required"),
        ("ftp://hooks.example.com/", "http or https"),
        ("http://hooks.example.com/", "https"),
        ("https://localhost/hook", "localhost"),
        ("https://127.0.0.1/hook", "private"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.1/hook", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://[::1]/hook", "private"),
        ("https://0.0.0.0/hook", "private"),
        ("https://224.0.0.1/hook", "private"),
        ("https://[::ffff:127.0.0.1]/hook", "private"),
        ("https://2130706433/hook", "numeric"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https:///nohost", "host"),
    ],
)
async def test_webhook_urls_are_validated(registry: Registry, url: str, problem: str) -> None:
    """Bad, plain-http and private/loopback/link-local URLs are INVALID_ARGUMENT naming url."""
    tenant = await registry.tenant()
    await fails(
        tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=url)),
        C.INVALID_ARGUMENT,
        "url",
        problem,
    )


async def test_webhook_other_fields_roles_and_isolation(registry: Registry) -> None:
    """Event types and descriptions are validated; roles enforced; other tenants see nothing."""
    tenant = await registry.tenant()
    await fails(
        tenant.admin.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(url=URL, event_types=["Agent Created"])
        ),
        C.INVALID_ARGUMENT,
        "event_types[0]",
    )
    await fails(
        tenant.admin.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(url=URL, description="d" * 2001)
        ),
        C.INVALID_ARGUMENT,
        "description",
    )
    await fails(
        tenant.audit.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL)),
        C.PERMISSION_DENIED,
    )
    created = await tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL))
    endpoint_id = created.endpoint.endpoint_id
    await fails(
        tenant.verify.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(endpoint_id=endpoint_id)),
        C.PERMISSION_DENIED,
    )
    await fails(
        tenant.admin.RotateWebhookSecret(
            pb.RotateWebhookSecretRequest(endpoint_id=endpoint_id, overlap=Duration(seconds=-5))
        ),
        C.INVALID_ARGUMENT,
        "overlap",
    )
    other = await registry.tenant("Other")
    for eid in (endpoint_id, "whe_" + "0" * 20):
        for call in (
            other.admin.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(endpoint_id=eid)),
            other.admin.DisableWebhookEndpoint(pb.DisableWebhookEndpointRequest(endpoint_id=eid)),
            other.admin.EnableWebhookEndpoint(pb.EnableWebhookEndpointRequest(endpoint_id=eid)),
            other.admin.RotateWebhookSecret(pb.RotateWebhookSecretRequest(endpoint_id=eid)),
            other.admin.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(endpoint_id=eid)),
        ):
            assert await fails(call, C.NOT_FOUND) == f"webhook endpoint {eid} not found"
    theirs = await registry.as_dispatcher().ListWebhookTargets(
        ipb.ListWebhookTargetsRequest(tenant_id=other.tenant_id)
    )
    assert not theirs.targets


async def test_create_webhook_idempotency_never_shows_the_secret_again(
    registry: Registry,
) -> None:
    """A retried create with one idempotency key returns the first endpoint, without its
    signing secret: a secret is shown once, whoever holds the idempotency key."""
    tenant = await registry.tenant()
    request = pb.CreateWebhookEndpointRequest(url=URL, idempotency_key="w1")
    first = await tenant.admin.CreateWebhookEndpoint(request)
    again = await tenant.admin.CreateWebhookEndpoint(request)
    assert first.signing_secret.startswith("whsec_") and again.signing_secret == ""
    assert again.endpoint == first.endpoint and again.revision == first.revision
    request.url = URL + "/other"
    await fails(tenant.admin.CreateWebhookEndpoint(request), C.ALREADY_EXISTS, "idempotency_key")


async def test_an_endpoint_rate_limit_is_set_bounded_and_reaches_the_dispatcher(
    registry: Registry,
) -> None:
    """Set at creation and changed later (a webhook.endpoint_updated event the dispatchers
    invalidate on), carried in ListWebhookTargets; refused out of range and to non-admins."""
    tenant = await registry.tenant()
    created = await tenant.admin.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(url=URL, rate_limit_per_second=25)
    )
    endpoint_id = created.endpoint.endpoint_id
    assert created.endpoint.rate_limit_per_second == 25

    changed = await tenant.admin.SetWebhookRateLimit(
        pb.SetWebhookRateLimitRequest(endpoint_id=endpoint_id, rate_limit_per_second=2.5)
    )
    assert changed.endpoint.rate_limit_per_second == 2.5 and changed.revision > created.revision
    same = await tenant.admin.SetWebhookRateLimit(
        pb.SetWebhookRateLimitRequest(endpoint_id=endpoint_id, rate_limit_per_second=2.5)
    )
    assert same.revision == changed.revision  # nothing changed, nothing committed
    targets = await registry.as_dispatcher().ListWebhookTargets(
        ipb.ListWebhookTargetsRequest(tenant_id=tenant.tenant_id)
    )
    assert targets.targets[0].endpoint.rate_limit_per_second == 2.5
    types = [e for e, _, _ in await registry.outbox() if e.startswith("webhook.")]
    assert types == ["webhook.endpoint_created", "webhook.endpoint_updated"]

    # Near zero, a lane would hold its deliveries for days: at least one a minute.
    for rate in (-1.0, 1e-9, 0.01, 10_001.0, float("nan"), float("inf")):
        await fails(
            tenant.admin.SetWebhookRateLimit(
                pb.SetWebhookRateLimitRequest(endpoint_id=endpoint_id, rate_limit_per_second=rate)
            ),
            C.INVALID_ARGUMENT,
            "rate_limit_per_second",
        )
    await fails(
        tenant.admin.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(url=URL, rate_limit_per_second=-5)
        ),
        C.INVALID_ARGUMENT,
        "rate_limit_per_second",
    )
    await fails(
        tenant.audit.SetWebhookRateLimit(
            pb.SetWebhookRateLimitRequest(endpoint_id=endpoint_id, rate_limit_per_second=1)
        ),
        C.PERMISSION_DENIED,
    )
    await fails(
        tenant.admin.SetWebhookRateLimit(
            pb.SetWebhookRateLimitRequest(endpoint_id="whe_" + "0" * 20, rate_limit_per_second=1)
        ),
        C.NOT_FOUND,
    )


async def test_a_tenant_has_at_most_the_cap_of_endpoints(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cap at 3, concurrent creates make exactly 3; the next is FAILED_PRECONDITION
    naming the cap, another tenant is not held to this one's count, and a deleted endpoint
    frees its place. (Every event fans out to every endpoint, and the dispatcher fetches them
    all in one reply: an unbounded list once stopped delivery for every tenant.)"""
    monkeypatch.setattr(webhook_commands, "MAX_ENDPOINTS_PER_TENANT", 3)
    tenant, other = await registry.tenant(), await registry.tenant()
    asked = await asyncio.gather(
        *(
            tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=f"{URL}/{i}"))
            for i in range(6)
        ),
        return_exceptions=True,
    )
    made = [a for a in asked if not isinstance(a, BaseException)]
    refused = [a for a in asked if isinstance(a, grpc.aio.AioRpcError)]
    assert (len(made), len(refused)) == (3, 3), asked
    assert all(r.code() == C.FAILED_PRECONDITION for r in refused)
    await fails(
        tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL)),
        C.FAILED_PRECONDITION,
        "3 webhook endpoints",
    )
    await other.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL))
    await tenant.admin.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(endpoint_id=made[0].endpoint.endpoint_id)
    )
    again = await tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL))
    assert again.endpoint.endpoint_id
