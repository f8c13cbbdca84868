"""Bounded input before authentication: message size and concurrency caps on every service."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

from behalf.common.host import ServiceHost
from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
HOLD_SERVICE = "behalf.test.Hold"


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("limits"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("limits")


@pytest.fixture(scope="module")
def agent(stack: Stack, tenant: Tenant) -> tuple[str, int]:
    """An agent allowed to buy on coachella.com, and the grant's revision."""
    agent_id, grant = stack.agent_with_grant(tenant)
    return agent_id, grant.revision


def _verify_request(agent_id: str, revision: int, **fields) -> verifier_pb2.VerifyRequest:
    return verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=common_pb2.Money(amount_minor=100, currency="USD"),
        min_revision=revision,
        **fields,
    )


def _status(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def _assert_still_allows(stack: Stack, tenant: Tenant, agent: tuple[str, int]) -> None:
    reply = stack.verifier_stub().Verify(
        _verify_request(*agent), metadata=tenant.verify, timeout=10
    )
    assert reply.decision.outcome == common_pb2.OUTCOME_ALLOW, reply.decision
    assert stack.verifiers[0].process.poll() is None


@pytest.mark.parametrize("authorized", [True, False], ids=["verify-key", "no-key"])
def test_verify_over_the_limit_is_refused(
    stack: Stack, tenant: Tenant, agent: tuple[str, int], authorized: bool
) -> None:
    """A 2 MiB Verify is RESOURCE_EXHAUSTED with or without a key, and the verifier then allows."""
    request = _verify_request(*agent, context={"note": "x" * (2 * MIB)})
    metadata = tenant.verify if authorized else ()
    stub = stack.verifier_stub()
    assert _status(lambda: stub.Verify(request, metadata=metadata, timeout=10)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    _assert_still_allows(stack, tenant, agent)


def test_verify_under_the_limit_reaches_validation(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """A 512 KiB Verify is under the 1 MiB limit, so validation names the oversize field."""
    request = _verify_request(*agent, context={"note": "x" * (512 * 1024)})
    stub = stack.verifier_stub()
    assert _status(lambda: stub.Verify(request, metadata=tenant.verify, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_ext_authz_check_over_the_limit_is_refused(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """An Envoy Check carrying 2 MiB of headers is RESOURCE_EXHAUSTED, not a decision."""
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        host="coachella.com", headers={"x-padding": "x" * (2 * MIB)}
    )
    request = external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http),
            context_extensions={"agent_id": agent[0], "action": "purchase"},
        )
    )
    stub = external_auth_pb2_grpc.AuthorizationStub(
        grpc.insecure_channel(stack.verifiers[0].target)
    )
    assert _status(lambda: stub.Check(request, metadata=tenant.verify, timeout=10)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    _assert_still_allows(stack, tenant, agent)


def test_registry_rpc_over_the_limit_is_refused(stack: Stack, tenant: Tenant) -> None:
    """A 5 MiB CreateAgent is RESOURCE_EXHAUSTED, and the registry then creates agents as usual."""
    registry = stack.registry_stub()
    huge = registry_pb2.CreateAgentRequest(
        name="huge", kind=resources_pb2.AGENT_KIND_NATIVE, description="x" * (5 * MIB)
    )
    assert _status(lambda: registry.CreateAgent(huge, metadata=tenant.admin, timeout=10)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    normal = registry_pb2.CreateAgentRequest(name="normal", kind=resources_pb2.AGENT_KIND_NATIVE)
    created = registry.CreateAgent(normal, metadata=tenant.admin, timeout=10)
    assert created.agent.agent_id
    assert stack.registry.process.poll() is None


def test_receive_limit_is_configurable(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """A verifier started with BEHALF_MAX_RECEIVE_BYTES=65536 refuses a 100 KiB Verify."""
    verifier = stack.start_verifier(BEHALF_MAX_RECEIVE_BYTES="65536")
    try:
        stub = stack.verifier_stub(len(stack.verifiers) - 1)
        request = _verify_request(*agent, context={"note": "x" * (100 * 1024)})
        assert _status(lambda: stub.Verify(request, metadata=tenant.verify, timeout=10)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
    finally:
        verifier.kill()
        stack.verifiers.remove(verifier)


async def test_concurrency_cap_refuses_calls_beyond_it() -> None:
    """With a cap of 2, a third call while two are held open is RESOURCE_EXHAUSTED; then one
    finishes and the next call is served."""
    release = asyncio.Event()
    entered = asyncio.Semaphore(0)

    async def hold(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        entered.release()
        await release.wait()
        return request

    handler = grpc.method_handlers_generic_handler(
        HOLD_SERVICE, {"Hold": grpc.unary_unary_rpc_method_handler(hold)}
    )
    host = ServiceHost(
        "limits-test",
        host="127.0.0.1",
        port=0,
        metrics_port=None,
        grace_seconds=0.1,
        max_concurrent_rpcs=2,
    )
    host.add_service(
        lambda _s, server: server.add_generic_rpc_handlers((handler,)), None, HOLD_SERVICE
    )
    await host.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.bound_port}")
    hold_call = channel.unary_unary(f"/{HOLD_SERVICE}/Hold")
    try:
        held = [asyncio.ensure_future(hold_call(b"held", timeout=10)) for _ in range(2)]
        for _ in held:
            await asyncio.wait_for(entered.acquire(), 5)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await hold_call(b"third", timeout=5)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        release.set()
        assert await asyncio.gather(*held) == [b"held", b"held"]
        assert await hold_call(b"after", timeout=5) == b"after"
    finally:
        release.set()
        await channel.close()
        await host.drain()


AHEAD = 10**12  # a min_revision no verifier reaches: a call carrying it waits out the wait


def _held_verifies(stub, request, metadata, count: int) -> list[grpc.Future]:
    """`count` Verify calls in flight at once (each waits for a revision that never comes)."""
    return [stub.Verify.future(request, metadata=metadata, timeout=30) for _ in range(count)]


def test_one_tenant_flooding_cannot_take_another_tenants_slots(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """A tenant may hold 3 calls in flight on a verifier set to 3 (here, budgeted purchases
    held while the registry does not answer): its fourth is RESOURCE_EXHAUSTED (over gRPC, HTTP
    and ext_authz alike) while another tenant is answered, and once its calls end the tenant is
    served again."""
    other = stack.create_tenant("limits-other")
    other_agent = stack.agent_with_grant(other)
    budgeted, grant = stack.agent_with_grant(
        tenant, "budgeted", budget=common_pb2.Money(amount_minor=10**9, currency="USD")
    )
    verifier = stack.start_verifier(BEHALF_VERIFIER_TENANT_IN_FLIGHT="3")
    try:
        stub = stack.verifier_stub(len(stack.verifiers) - 1)
        held_request = _verify_request(budgeted, grant.revision)
        first = stub.Verify(held_request, metadata=tenant.verify, timeout=10)
        assert first.decision.outcome == common_pb2.OUTCOME_ALLOW, first.decision
        registry = stack.registry.process
        registry.send_signal(signal.SIGSTOP)  # each budgeted call now waits on ReserveBudget
        try:
            held = _held_verifies(stub, held_request, tenant.verify, count=3)
            time.sleep(0.3)  # all three are in the verifier, waiting for the registry
            assert not any(call.done() for call in held)
            assert (
                _status(
                    lambda: stub.Verify(_verify_request(*agent), metadata=tenant.verify, timeout=10)
                )
                == grpc.StatusCode.RESOURCE_EXHAUSTED
            )
            # Nor in test mode, nor under a request id it used before: the slots are the tenant's.
            for fields in (
                {"test_mode": True},
                {"request_id": "flood-1"},
                {"request_id": "flood-1"},
            ):
                request = _verify_request(*agent, **fields)
                assert (
                    _status(
                        lambda request=request: stub.Verify(
                            request, metadata=tenant.verify, timeout=10
                        )
                    )
                    == grpc.StatusCode.RESOURCE_EXHAUSTED
                )
            status, body = _http_verify(verifier.http_url, tenant.verify_key, agent)
            assert (status, body["allowed"], body["error"]["code"]) == (
                429,
                False,
                "resource_exhausted",
            )
            check = _check(verifier.target, tenant.verify, agent[0])
            assert check.denied_response.status.code == 429, check
            reply = stub.Verify(
                _verify_request(other_agent[0], other_agent[1].revision),
                metadata=other.verify,
                timeout=10,
            )
            assert reply.decision.outcome == common_pb2.OUTCOME_ALLOW, reply.decision
            assert not any(call.done() for call in held)
        finally:
            registry.send_signal(signal.SIGCONT)
        for call in held:  # decided once the registry answers, or denied when it did not in time
            assert call.result().decision.outcome in (
                common_pb2.OUTCOME_ALLOW,
                common_pb2.OUTCOME_DENY,
            )
        reply = stub.Verify(_verify_request(*agent), metadata=tenant.verify, timeout=10)
        assert reply.decision.outcome == common_pb2.OUTCOME_ALLOW, reply.decision
    finally:
        verifier.kill()
        stack.verifiers.remove(verifier)


def test_waiting_for_a_revision_takes_no_decision_slot(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """The agent sends a min_revision no verifier reaches (2^63-1 costs it nothing), so each call
    waits out the wait. Waits have slots of their own, as many as the tenant's calls (3 here):
    the fourth wait is RESOURCE_EXHAUSTED, while the tenant's ordinary calls are decided
    meanwhile, over gRPC, HTTP and ext_authz; each wait ends as a stale-policy deny."""
    verifier = stack.start_verifier(
        BEHALF_VERIFIER_TENANT_IN_FLIGHT="3", BEHALF_MIN_REVISION_WAIT_SECONDS="4"
    )
    try:
        stub = stack.verifier_stub(len(stack.verifiers) - 1)
        ahead = _verify_request(agent[0], 2**63 - 1)
        held = _held_verifies(stub, ahead, tenant.verify, count=3)
        time.sleep(0.5)  # all three are waiting in the verifier
        assert not any(call.done() for call in held)
        assert (
            _status(lambda: stub.Verify(ahead, metadata=tenant.verify, timeout=10))
            == grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        for _ in range(4):  # more calls than the tenant's 3 slots, one after another
            reply = stub.Verify(_verify_request(*agent), metadata=tenant.verify, timeout=10)
            assert reply.decision.outcome == common_pb2.OUTCOME_ALLOW, reply.decision
        status, body = _http_verify(verifier.http_url, tenant.verify_key, agent)
        assert (status, body["allowed"]) == (200, True), body
        check = _check(verifier.target, tenant.verify, agent[0])  # decided: it names no amount
        assert check.denied_response.status.code == 403, check
        assert "AMOUNT_REQUIRED" in check.denied_response.body, check
        assert not any(call.done() for call in held)
        for call in held:
            decision = call.result().decision
            assert decision.reason_code == common_pb2.REASON_CODE_STALE_POLICY, decision
    finally:
        verifier.kill()
        stack.verifiers.remove(verifier)


def test_unknown_keys_waiting_for_a_revision_are_few(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """Anyone can send a key the verifier does not know with a min_revision ahead of it. Only
    32 such calls wait at once; the rest are RESOURCE_EXHAUSTED at once, and a known key is
    answered meanwhile."""
    verifier = stack.start_verifier(BEHALF_MIN_REVISION_WAIT_SECONDS="4")
    try:
        stub = stack.verifier_stub(len(stack.verifiers) - 1)
        unknown = (("authorization", "Bearer bh_live_" + "x" * 40),)
        held = _held_verifies(stub, _verify_request(agent[0], AHEAD), unknown, count=32)
        time.sleep(0.5)
        assert not any(call.done() for call in held)
        started = time.monotonic()
        assert (
            _status(
                lambda: stub.Verify(_verify_request(agent[0], AHEAD), metadata=unknown, timeout=10)
            )
            == grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        reply = stub.Verify(_verify_request(*agent), metadata=tenant.verify, timeout=10)
        assert reply.decision.outcome == common_pb2.OUTCOME_ALLOW, reply.decision
        assert time.monotonic() - started < 2  # neither waited for the held calls
        for call in held:  # each waited, then got a stale-policy deny, never an allow
            decision = call.result().decision
            assert decision.outcome == common_pb2.OUTCOME_DENY, decision
            assert decision.reason_code == common_pb2.REASON_CODE_STALE_POLICY, decision
        assert (
            _status(lambda: stub.Verify(_verify_request(agent[0], 0), metadata=unknown, timeout=10))
            == grpc.StatusCode.UNAUTHENTICATED
        )
    finally:
        verifier.kill()
        stack.verifiers.remove(verifier)


def _http_verify(base_url: str, key: str, agent: tuple[str, int]) -> tuple[int, dict]:
    body = {
        "agentId": agent[0],
        "action": "purchase",
        "vendor": "coachella.com",
        "amount": "1.00",
        "currency": "USD",
    }
    request = urllib.request.Request(
        f"{base_url}/v1/verify",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _check(target: str, metadata, agent_id: str) -> external_auth_pb2.CheckResponse:
    http = attribute_context_pb2.AttributeContext.HttpRequest(host="coachella.com")
    request = external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http),
            context_extensions={"agent_id": agent_id, "action": "purchase"},
        )
    )
    stub = external_auth_pb2_grpc.AuthorizationStub(grpc.insecure_channel(target))
    return stub.Check(request, metadata=metadata, timeout=10)


async def _hold_health_watches(target: str, count: int) -> tuple[list, list]:
    """`count` Health.Watch streams to `target` from a client with no key, over 20 channels."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channels = [grpc.aio.insecure_channel(target) for _ in range(20)]
    calls = [
        health_pb2_grpc.HealthStub(channels[n % 20]).Watch(
            health_pb2.HealthCheckRequest(), timeout=120
        )
        for n in range(count)
    ]
    for call in calls:
        try:  # each stream's first message says it is open on the server
            await asyncio.wait_for(call.read(), 20)
        except (grpc.aio.AioRpcError, TimeoutError):
            pass
    return channels, calls


async def test_health_watch_streams_from_a_client_with_no_key_starve_no_tenant(
    stack: Stack, tenant: Tenant, agent: tuple[str, int]
) -> None:
    """Health Watch is served to anyone, and an open stream holds one of the server's 1,000
    concurrent calls. With 1,000 of them held by a client with no key, a tenant's Verify and
    its admin's DisableAgent still go through (before, both were RESOURCE_EXHAUSTED for as long
    as the streams stayed open: a misbehaving agent could not be stopped)."""
    registry = stack.registry_stub()
    rogue = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(name="rogue", kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    held = [
        await _hold_health_watches(target, 1000)
        for target in (stack.verifiers[0].target, stack.registry.target)
    ]
    try:
        await asyncio.to_thread(_assert_still_allows, stack, tenant, agent)
        await asyncio.to_thread(
            registry.DisableAgent,
            registry_pb2.DisableAgentRequest(agent_id=rogue.agent_id),
            metadata=tenant.admin,
            timeout=10,
        )
    finally:
        for channels, calls in held:
            for call in calls:
                call.cancel()
            for channel in channels:
                await channel.close()
