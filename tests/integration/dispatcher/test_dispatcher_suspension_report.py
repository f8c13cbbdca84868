"""A suspension the registry could not be told of is told again until it is: the dispatcher and
the registry never disagree for good about whether an endpoint is enabled."""

from __future__ import annotations

import grpc
import pytest

from behalf.v1 import common_pb2, internal_pb2
from tests.integration.dispatcher.conftest import (
    FakeRegistry,
    decision_event,
    dispatcher_env,
    publish,
    run_dispatcher,
    serving,
)

pytestmark = pytest.mark.integration


class BrieflyUnavailableRegistry(FakeRegistry):
    """The fake registry, with SuspendWebhookEndpoint: the first call finds it unavailable (a
    restart, a deploy); later ones disable the endpoint as the real one does."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_calls: list[str] = []

    async def SuspendWebhookEndpoint(self, request, context):
        self.suspend_calls.append(request.endpoint_id)
        if len(self.suspend_calls) == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "registry restarting")
        for target in self.targets.get(request.tenant_id, []):
            if target.endpoint.endpoint_id == request.endpoint_id:
                target.endpoint.disabled = True
        return internal_pb2.SuspendWebhookEndpointResponse()

    def disabled(self, endpoint_id: str) -> bool:
        return any(
            t.endpoint.disabled
            for targets in self.targets.values()
            for t in targets
            if t.endpoint.endpoint_id == endpoint_id
        )


@pytest.fixture
async def flaky_registry():
    async with serving(BrieflyUnavailableRegistry()) as fake:
        yield fake


async def test_a_suspension_the_registry_missed_is_reported_again(
    dispatcher_db, kafka_bootstrap, prefix, flaky_registry, receiver, producer
):
    """The endpoint answers 410 once: the dispatcher suspends it and tells the registry, which
    is unavailable for that call. Before, the report was never sent again: the registry listed
    the endpoint enabled while the dispatcher delivered nothing to it, and an admin could not
    lift it (enabling an enabled endpoint changes nothing). Now the reclaim loop reports it
    again, and the registry shows it disabled, where enabling it lifts the suspension."""

    async def gone(_request, _n):
        return 410, {}

    receiver.behaviours["/gone"] = gone
    endpoint_id, _ = flaky_registry.add(receiver.url("/gone"))
    env = dispatcher_env(dispatcher_db, kafka_bootstrap, prefix, flaky_registry.port)
    async with run_dispatcher(env):
        event = decision_event(common_pb2.OUTCOME_DENY)
        await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        await receiver.wait_for(lambda: flaky_registry.disabled(endpoint_id), within=30)
    assert flaky_registry.suspend_calls[:2] == [endpoint_id, endpoint_id]
