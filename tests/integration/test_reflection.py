"""grpcurl, with no .proto files, describes and calls every service's methods by reflection."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator

import pytest

from tests.harness.processes import tool
from tests.harness.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.integration

# (listener, method, request type, response type): one method on each listener.
METHODS = [
    (
        "registry",
        "behalf.v1.RegistryService.CreateAgent",
        "CreateAgentRequest",
        "CreateAgentResponse",
    ),
    (
        "registry-internal",
        "behalf.v1.RegistryInternalService.ReserveBudget",
        "ReserveBudgetRequest",
        "ReserveBudgetResponse",
    ),
    ("verifier", "behalf.v1.VerifierService.Verify", "VerifyRequest", "VerifyResponse"),
    ("verifier", "envoy.service.auth.v3.Authorization.Check", "CheckRequest", "CheckResponse"),
    (
        "dispatcher",
        "behalf.v1.DispatcherService.ListDeliveries",
        "ListDeliveriesRequest",
        "ListDeliveriesResponse",
    ),
]


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("reflection"), dispatcher=True
    )
    yield stack
    await stop_stack(stack)


def _target(stack: Stack, listener: str) -> str:
    assert stack.dispatcher is not None
    return {
        "registry": stack.registry.target,
        "registry-internal": stack.registry.internal_target,
        "verifier": stack.verifiers[0].target,
        "dispatcher": stack.dispatcher.target,
    }[listener]


def _grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("grpcurl"), "-plaintext", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(("listener", "method", "request_type", "response_type"), METHODS)
def test_describe_method_and_request_type(
    stack: Stack, listener: str, method: str, request_type: str, response_type: str
) -> None:
    """grpcurl describes a method, naming its request and response types, and the request type."""
    target = _target(stack, listener)
    package = method.rsplit(".", 2)[0]

    described = _grpcurl(target, "describe", method)
    assert described.returncode == 0, described.stderr
    assert f"{method} is a method" in described.stdout
    assert f"( .{package}.{request_type} )" in described.stdout
    assert f"( .{package}.{response_type} )" in described.stdout

    message = _grpcurl(target, "describe", f"{package}.{request_type}")
    assert message.returncode == 0, message.stderr
    assert f"{package}.{request_type} is a message" in message.stdout


def test_verify_without_a_key_is_unauthenticated(stack: Stack) -> None:
    """grpcurl calls Verify without --proto, and a call with no API key is UNAUTHENTICATED."""
    result = _grpcurl(
        "-d", '{"agent_id": "agt_x"}', stack.verifiers[0].target, "behalf.v1.VerifierService/Verify"
    )
    assert result.returncode != 0
    assert "Code: Unauthenticated" in result.stdout + result.stderr


def test_verify_with_a_key_returns_a_decision(stack: Stack) -> None:
    """grpcurl calls Verify without --proto and gets the allow decision for a granted purchase."""
    tenant = stack.create_tenant()
    agent_id, grant = stack.agent_with_grant(tenant)
    request = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": {"amount_minor": 10000, "currency": "USD"},
        "min_revision": grant.revision,
    }
    result = _grpcurl(
        "-H",
        f"authorization: Bearer {tenant.verify_key}",
        "-d",
        json.dumps(request),
        stack.verifiers[0].target,
        "behalf.v1.VerifierService/Verify",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["decision"]["outcome"] == "OUTCOME_ALLOW"
