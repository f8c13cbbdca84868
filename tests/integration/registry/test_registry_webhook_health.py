"""Endpoint health: dispatchers report it over the internal API, ListWebhookEndpoints and
GetWebhookEndpoint show the sum of the fresh reports, and nobody else can write it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from behalf.registry.identities import Identity
from behalf.v1 import internal_pb2 as ipb
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2 as rpb
from tests.integration.registry.support import Registry, Tenant, fails

pytestmark = pytest.mark.integration
C = grpc.StatusCode
URL = "https://hooks.example.com/behalf"
T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def health(
    attempts: int,
    successes: int,
    *,
    breaker: int = rpb.BREAKER_STATE_CLOSED,
    error: str = "",
    status: int = 0,
    error_at: datetime | None = None,
    success_at: datetime | None = None,
) -> rpb.WebhookEndpointHealth:
    h = rpb.WebhookEndpointHealth(
        attempts=attempts,
        successes=successes,
        last_error=error,
        last_error_status_code=status,
        breaker_state=breaker,  # type: ignore[arg-type]
        window_seconds=3600,
    )
    if error_at:
        h.last_error_time.FromDatetime(error_at)
    if success_at:
        h.last_success_time.FromDatetime(success_at)
    return h


def report(
    dispatcher_id: str, *items: tuple[str, str, rpb.WebhookEndpointHealth]
) -> ipb.ReportWebhookHealthRequest:
    return ipb.ReportWebhookHealthRequest(
        dispatcher_id=dispatcher_id,
        endpoints=[
            ipb.EndpointHealthReport(tenant_id=t, endpoint_id=e, health=h) for t, e, h in items
        ],
    )


async def endpoint(tenant: Tenant) -> str:
    created = await tenant.admin.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url=URL))
    return str(created.endpoint.endpoint_id)


async def test_reports_from_two_dispatchers_are_summed_and_shown(registry: Registry) -> None:
    """Counts add up over dispatchers, the latest error wins, the most restrictive breaker
    wins; a second report from a dispatcher replaces its first; an endpoint nobody reported on
    has no health."""
    tenant = await registry.tenant()
    busy, quiet = await endpoint(tenant), await endpoint(tenant)
    dispatcher = registry.as_dispatcher()
    first = await dispatcher.ReportWebhookHealth(
        report("dispatcher-a", (tenant.tenant_id, busy, health(10, 10, success_at=T0)))
    )
    assert first.accepted == 1
    await dispatcher.ReportWebhookHealth(
        report(
            "dispatcher-a",
            (tenant.tenant_id, busy, health(40, 30, error="HTTP 500", status=500, error_at=T0)),
        )
    )
    await dispatcher.ReportWebhookHealth(
        report(
            "dispatcher-b",
            (
                tenant.tenant_id,
                busy,
                health(
                    60,
                    10,
                    breaker=rpb.BREAKER_STATE_OPEN,
                    error="ReadTimeout",
                    error_at=T0 + timedelta(seconds=5),
                    success_at=T0 + timedelta(seconds=1),
                ),
            ),
        )
    )
    listed = await tenant.audit.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    by_id = {e.endpoint_id: e for e in listed.endpoints}
    shown = by_id[busy].health
    assert (shown.attempts, shown.successes) == (100, 40)
    assert shown.success_rate == pytest.approx(0.4)
    assert (shown.last_error, shown.last_error_status_code) == ("ReadTimeout", 0)
    assert shown.last_error_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=5)
    assert shown.last_success_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=1)
    assert shown.breaker_state == rpb.BREAKER_STATE_OPEN
    assert shown.window_seconds == 3600 and shown.HasField("report_time")
    assert not by_id[quiet].HasField("health")
    got = await tenant.admin.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(endpoint_id=busy))
    assert got.endpoint.health == shown


async def test_a_stopped_dispatchers_report_drops_out_after_a_minute(registry: Registry) -> None:
    tenant = await registry.tenant()
    endpoint_id = await endpoint(tenant)
    dispatcher = registry.as_dispatcher()
    for name, counts in (
        ("gone", health(5, 0, breaker=rpb.BREAKER_STATE_OPEN)),
        ("live", health(3, 3)),
    ):
        await dispatcher.ReportWebhookHealth(report(name, (tenant.tenant_id, endpoint_id, counts)))
    await registry.pool.execute(
        "UPDATE webhook_endpoint_health SET reported_at = now() - interval '61 seconds'"
        " WHERE dispatcher_id = 'gone'"
    )
    got = await tenant.admin.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(endpoint_id=endpoint_id)
    )
    assert (got.endpoint.health.attempts, got.endpoint.health.successes) == (3, 3)
    assert got.endpoint.health.breaker_state == rpb.BREAKER_STATE_CLOSED
    await registry.pool.execute(
        "UPDATE webhook_endpoint_health SET reported_at = now() - interval '61 seconds'"
    )
    got = await tenant.admin.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(endpoint_id=endpoint_id)
    )
    assert not got.endpoint.HasField("health")


async def test_reports_on_another_tenants_or_a_deleted_endpoint_are_dropped(
    registry: Registry,
) -> None:
    """A report names the endpoint's own tenant or it is not kept: health cannot be attached
    across tenants, nor to a deleted endpoint."""
    tenant, other = await registry.tenant(), await registry.tenant("Other")
    mine, deleted = await endpoint(tenant), await endpoint(tenant)
    await tenant.admin.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(endpoint_id=deleted))
    response = await registry.as_dispatcher().ReportWebhookHealth(
        report(
            "dispatcher-a",
            (other.tenant_id, mine, health(9, 0)),
            (tenant.tenant_id, deleted, health(9, 0)),
        )
    )
    assert response.accepted == 0
    got = await tenant.admin.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(endpoint_id=mine))
    assert not got.endpoint.HasField("health")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (health(3, 4), "endpoints[0].health.successes"),
        (health(-1, 0), "endpoints[0].health.attempts"),
        (health(1, 1, breaker=rpb.BREAKER_STATE_UNSPECIFIED), "endpoints[0].health.breaker_state"),
        (health(1, 0, error="x" * 501), "endpoints[0].health.last_error"),
        (health(1, 0, status=1000), "endpoints[0].health.last_error_status_code"),
        (
            rpb.WebhookEndpointHealth(attempts=1, breaker_state=rpb.BREAKER_STATE_CLOSED),
            "endpoints[0].health.window_seconds",
        ),
    ],
)
async def test_a_bad_report_is_refused_with_its_field(
    registry: Registry, bad: rpb.WebhookEndpointHealth, field: str
) -> None:
    tenant = await registry.tenant()
    endpoint_id = await endpoint(tenant)
    details = await fails(
        registry.as_dispatcher().ReportWebhookHealth(
            report("dispatcher-a", (tenant.tenant_id, endpoint_id, bad))
        ),
        C.INVALID_ARGUMENT,
        field,
    )
    assert details
    assert await registry.pool.fetchval("SELECT count(*) FROM webhook_endpoint_health") == 0


async def test_a_report_naming_an_endpoint_twice_or_without_ids_is_refused(
    registry: Registry,
) -> None:
    tenant = await registry.tenant()
    endpoint_id = await endpoint(tenant)
    dispatcher = registry.as_dispatcher()
    twice = report(
        "dispatcher-a",
        (tenant.tenant_id, endpoint_id, health(1, 1)),
        (tenant.tenant_id, endpoint_id, health(2, 2)),
    )
    await fails(
        dispatcher.ReportWebhookHealth(twice), C.INVALID_ARGUMENT, "endpoints[1].endpoint_id"
    )
    await fails(
        dispatcher.ReportWebhookHealth(report("", (tenant.tenant_id, endpoint_id, health(1, 1)))),
        C.INVALID_ARGUMENT,
        "dispatcher_id",
    )
    await fails(
        dispatcher.ReportWebhookHealth(report("d", ("ten_x", endpoint_id, health(1, 1)))),
        C.INVALID_ARGUMENT,
        "endpoints[0].tenant_id",
    )


async def test_only_the_dispatcher_may_report_health(registry: Registry) -> None:
    """The verifier's credential, a tenant's admin key and no credential are all refused."""
    tenant = await registry.tenant()
    endpoint_id = await endpoint(tenant)
    request = report("dispatcher-a", (tenant.tenant_id, endpoint_id, health(1, 0)))
    await fails(registry.as_verifier().ReportWebhookHealth(request), C.PERMISSION_DENIED)
    await fails(
        registry.internal(registry.tokens[Identity.OPERATOR]).ReportWebhookHealth(request),
        C.PERMISSION_DENIED,
    )
    await fails(
        registry.internal(tenant.admin_secret).ReportWebhookHealth(request), C.UNAUTHENTICATED
    )
    await fails(registry.internal(None).ReportWebhookHealth(request), C.UNAUTHENTICATED)
    assert await registry.pool.fetchval("SELECT count(*) FROM webhook_endpoint_health") == 0
