"""No API key or webhook secret appears in any log line the registry writes."""

from __future__ import annotations

import logging

import grpc
import pytest
import structlog
from google.protobuf.duration_pb2 import Duration

from behalf.v1 import internal_pb2 as ipb
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2 as res
from tests.integration.registry.support import Registry, fails

pytestmark = pytest.mark.integration


async def test_no_secret_reaches_the_logs(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys and webhook secrets, used and misused across the API, never show up in log events."""
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    with structlog.testing.capture_logs() as events:
        tenant = await registry.tenant()
        secrets += [tenant.admin_secret, tenant.audit_secret, tenant.verify_secret]
        key = await tenant.admin.CreateApiKey(
            pb.CreateApiKeyRequest(name="k", role=res.ROLE_ADMIN, idempotency_key="x")
        )
        secrets.append(key.secret)
        created = await tenant.admin.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(url="https://hooks.example.com/x")
        )
        secrets.append(created.signing_secret)
        rotated = await tenant.admin.RotateWebhookSecret(
            pb.RotateWebhookSecretRequest(
                endpoint_id=created.endpoint.endpoint_id, overlap=Duration(seconds=60)
            )
        )
        secrets.append(rotated.signing_secret)
        await registry.as_dispatcher().ListWebhookTargets(
            ipb.ListWebhookTargetsRequest(tenant_id=tenant.tenant_id)
        )
        await registry.as_dispatcher().AuthenticateApiKey(
            ipb.AuthenticateApiKeyRequest(api_key=tenant.verify_secret)
        )
        # Failures: a revoked key, a key used as the service token, a secret in a bad field.
        await tenant.admin.RevokeApiKey(pb.RevokeApiKeyRequest(key_id=key.api_key.key_id))
        await fails(
            registry.public(key.secret).GetTenant(pb.GetTenantRequest()),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        await fails(
            registry.internal(tenant.admin_secret).ListWebhookTargets(
                ipb.ListWebhookTargetsRequest(tenant_id=tenant.tenant_id)
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        details = await fails(
            tenant.admin.CreateAgent(
                pb.CreateAgentRequest(name="a", kind=res.AGENT_KIND_NATIVE, labels={"k": "v" * 64})
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        for secret in secrets:
            assert secret not in details
    captured = repr(events) + caplog.text
    assert events, "expected the interceptor to log at least the failed RPCs"
    for secret in secrets:
        assert secret not in captured
        assert secret.split("_")[-1] not in captured
