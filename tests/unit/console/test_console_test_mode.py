"""Manual test links only ever ask in test mode: their keys are test-mode-only and bound to the
link's agent, probes go through `Backend.check`, and an answer that is not a test is refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from behalf.console.app import create_app
from behalf.console.backend import Backend, BackendError
from behalf.console.settings import ConsoleSettings
from behalf.console.testlinks import LinkCodec
from behalf.console.testlinks_admin import issue_link
from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2

SECRET = b"k" * 40
AGENT_ID = "agt_" + "a" * 20
LINK_KEY = "bhk_verify_" + "v" * 43


class _Names:
    """Stub stand-in: every attribute is its own name."""

    def __getattr__(self, name: str) -> str:
        return name


class RecordingBackend:
    """Records every call and check; answers CreateApiKey and test-mode Verifies."""

    def __init__(self) -> None:
        self.registry = self.dispatcher = self.verifier = _Names()
        self.calls: list[tuple[str, Any]] = []
        self.checks: list[verifier_pb2.VerifyRequest] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def call(self, method: str, request: Any, api_key: str) -> Any:
        self.calls.append((method, request))
        if method == "CreateApiKey":
            return registry_pb2.CreateApiKeyResponse(
                api_key=resources_pb2.ApiKey(key_id="key_" + "k" * 20), secret=LINK_KEY
            )
        raise BackendError("not found", grpc.StatusCode.NOT_FOUND)

    async def check(self, request: verifier_pb2.VerifyRequest, api_key: str) -> Any:
        self.checks.append(request)
        return common_pb2.Decision(
            request_id=request.request_id,
            outcome=common_pb2.OUTCOME_ALLOW,
            reason_code=common_pb2.REASON_CODE_ALLOWED,
            reason="allowed",
            test_mode=True,
        )


@pytest.fixture
async def console() -> AsyncIterator[tuple[TestClient, RecordingBackend]]:
    backend = RecordingBackend()
    settings = ConsoleSettings(
        host="127.0.0.1",
        port=0,
        registry_target="",
        dispatcher_target="",
        verifier_target="",
        secret=SECRET,
        log_level="INFO",
    )
    test_client = TestClient(TestServer(create_app(settings, backend)))  # type: ignore[arg-type]
    await test_client.start_server()
    yield test_client, backend
    await test_client.close()


def _external_agent() -> resources_pb2.Agent:
    return resources_pb2.Agent(
        agent_id=AGENT_ID,
        tenant_id="ten_" + "t" * 20,
        name="travel assistant",
        kind=resources_pb2.AGENT_KIND_EXTERNAL,
    )


async def test_a_link_key_is_test_mode_only_and_bound_to_its_agent() -> None:
    """The key minted for a link is a verify key with test_mode_only and the link's agent."""
    backend = RecordingBackend()
    await issue_link(backend, LinkCodec(SECRET), "bhk_admin", _external_agent(), 3600)  # type: ignore[arg-type]
    (method, request), *_ = backend.calls
    assert method == "CreateApiKey"
    assert request.role == resources_pb2.ROLE_VERIFY
    assert request.test_mode_only is True
    assert request.agent_id == AGENT_ID


async def test_a_probe_asks_through_the_test_path(console) -> None:
    """A probe through a link is sent by `Backend.check`, never as a plain Verify call."""
    test_client, backend = console
    token = await issue_link(backend, LinkCodec(SECRET), "bhk_admin", _external_agent(), 3600)  # type: ignore[arg-type]
    page = await (await test_client.get(f"/t/{token}")).text()
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert csrf is not None
    response = await test_client.post(
        f"/t/{token}",
        data={"csrf_token": csrf[1], "action": "purchase", "resource": "airline.example"},
    )
    assert response.status == 200, await response.text()
    assert 'id="probe-result"' in await response.text()
    (sent,) = backend.checks
    assert (sent.agent_id, sent.action, sent.resource) == (AGENT_ID, "purchase", "airline.example")
    assert [method for method, _ in backend.calls] == ["CreateApiKey"]


async def test_backend_check_sets_test_mode_and_refuses_a_real_answer() -> None:
    """`Backend.check` sends test_mode (without changing the caller's request) and refuses an
    answer that is not marked as a test."""
    backend = Backend(registry="", dispatcher="", verifier="", timeout_seconds=1)
    backend.verifier = _Names()  # type: ignore[assignment]
    sent: list[verifier_pb2.VerifyRequest] = []
    answers = [
        common_pb2.Decision(outcome=common_pb2.OUTCOME_DENY, test_mode=True),
        common_pb2.Decision(outcome=common_pb2.OUTCOME_ALLOW),
    ]

    async def call(method: str, request: Any, api_key: str) -> Any:
        assert method == "Verify"
        sent.append(request)
        return verifier_pb2.VerifyResponse(decision=answers.pop(0))

    backend.call = call  # type: ignore[method-assign]
    request = verifier_pb2.VerifyRequest(agent_id=AGENT_ID, action="purchase")
    decision = await backend.check(request, LINK_KEY)
    assert decision.outcome == common_pb2.OUTCOME_DENY and decision.test_mode
    assert sent[0].test_mode and not request.test_mode
    with pytest.raises(BackendError) as caught:
        await backend.check(request, LINK_KEY)
    assert caught.value.code is grpc.StatusCode.INTERNAL
