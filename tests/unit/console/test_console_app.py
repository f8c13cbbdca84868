"""The console's HTTP layer over a fake backend: headers, CSRF, escaping, sign-in, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from behalf.console.app import create_app
from behalf.console.backend import BackendError
from behalf.console.settings import ConsoleSettings
from behalf.v1 import common_pb2, dispatcher_pb2, events_pb2, registry_pb2, resources_pb2
from tests.harness.console import csrf_of

ADMIN_KEY = "bhk_admin_" + "A" * 43
AGENT_ID = "agt_" + "a" * 20
XSS = '<script>alert("x")</script>'


FAILING = resources_pb2.WebhookEndpoint(
    endpoint_id="whe_" + "f" * 20,
    url="https://hooks.example.com/failing",
    health=resources_pb2.WebhookEndpointHealth(
        attempts=200,
        successes=199,
        success_rate=0.995,
        last_error=XSS,
        last_error_status_code=503,
        breaker_state=resources_pb2.BREAKER_STATE_OPEN,
        window_seconds=3600,
    ),
)
QUIET = resources_pb2.WebhookEndpoint(
    endpoint_id="whe_" + "q" * 20, url="https://hooks.example.com/quiet"
)


class _Names:
    """Stub stand-in: every attribute is its own name, which FakeBackend.call dispatches on."""

    def __getattr__(self, name: str) -> str:
        return name


SPOOFED_TEST = events_pb2.DecisionEvent(
    event_id="evt_" + "e" * 20,
    agent_id=AGENT_ID,
    action="purchase",
    resource="shop.example.com",
    context={"behalf.test_mode": "true"},
    decision=common_pb2.Decision(
        request_id="test:real-purchase-1",
        outcome=common_pb2.OUTCOME_ALLOW,
        reason_code=common_pb2.REASON_CODE_ALLOWED,
    ),
)
SPOOFED_APPROVAL = resources_pb2.Approval(
    approval_id="apr_" + "a" * 20,
    agent_id=AGENT_ID,
    action="purchase",
    resource="shop.example.com",
    amount=common_pb2.Money(amount_minor=249900, currency="USD"),
    state=resources_pb2.APPROVAL_STATE_PENDING,
    request_id="test:buy-laptop-42",
)


class FakeBackend:
    """Answers the few RPCs these tests need; records mutations."""

    def __init__(self) -> None:
        self.registry = self.dispatcher = self.verifier = _Names()
        self.created: list[registry_pb2.CreateAgentRequest] = []
        self.approval_queries: list[registry_pb2.ListApprovalsRequest] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def call(self, method: str, request: Any, api_key: str) -> Any:
        if api_key != ADMIN_KEY:
            raise BackendError("The API key was not accepted.", grpc.StatusCode.UNAUTHENTICATED)
        agent = resources_pb2.Agent(
            agent_id=AGENT_ID, name=XSS, description=XSS, kind=resources_pb2.AGENT_KIND_NATIVE
        )
        if method == "GetTenant":
            return registry_pb2.GetTenantResponse(
                tenant=resources_pb2.Tenant(tenant_id="ten_" + "t" * 20, name="acme")
            )
        if method == "ListApiKeys":
            return registry_pb2.ListApiKeysResponse()
        if method == "ListAgents":
            return registry_pb2.ListAgentsResponse(agents=[agent])
        if method == "CreateAgent":
            self.created.append(request)
            return registry_pb2.CreateAgentResponse(agent=agent)
        if method == "ListWebhookEndpoints":
            return registry_pb2.ListWebhookEndpointsResponse(endpoints=[FAILING, QUIET])
        if method == "GetWebhookEndpoint":
            return registry_pb2.GetWebhookEndpointResponse(endpoint=FAILING)
        if method == "ListDeliveries":
            return dispatcher_pb2.ListDeliveriesResponse()
        if method == "GetDecision":  # a real allow whose agent chose a test link's markers
            return registry_pb2.GetDecisionResponse(decision=SPOOFED_TEST)
        if method == "ListApprovals":
            self.approval_queries.append(request)
            more = "" if request.page_token else "page-2"
            return registry_pb2.ListApprovalsResponse(
                approvals=[SPOOFED_APPROVAL], next_page_token=more
            )
        raise BackendError("not found", grpc.StatusCode.NOT_FOUND)


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient, FakeBackend]]:
    backend = FakeBackend()
    settings = ConsoleSettings(
        host="127.0.0.1",
        port=0,
        registry_target="",
        dispatcher_target="",
        verifier_target="",
        secret=b"k" * 40,
        log_level="INFO",
    )
    test_client = TestClient(TestServer(create_app(settings, backend)))  # type: ignore[arg-type]
    await test_client.start_server()
    yield test_client, backend
    await test_client.close()


async def signed_in(test_client: TestClient) -> str:
    page = await (await test_client.get("/sign-in")).text()
    response = await test_client.post(
        "/sign-in", data={"csrf_token": csrf_of(page), "api_key": ADMIN_KEY, "next": "/agents"}
    )
    assert response.status == 200 and response.url.path == "/agents"
    return await response.text()


async def test_every_answer_carries_the_security_headers(client) -> None:
    """Pages, redirects and 404s all carry the CSP (scripts from self only) and no-store."""
    test_client, _ = client
    for path in ("/sign-in", "/nope", "/agents"):
        response = await test_client.get(path, allow_redirects=False)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"


async def test_session_cookie_is_opaque_httponly_and_strict(client) -> None:
    """The cookie is an opaque id with HttpOnly and SameSite=Strict; the key is not in it."""
    test_client, _ = client
    response = await test_client.get("/sign-in")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    html = await signed_in(test_client)
    assert ADMIN_KEY not in html
    assert all(ADMIN_KEY not in c.value for c in test_client.session.cookie_jar)


async def test_post_without_csrf_token_is_refused(client) -> None:
    """A POST without the session's CSRF token, or from another origin, changes nothing."""
    test_client, backend = client
    html = await signed_in(test_client)
    refused = await test_client.post("/agents", data={"name": "x", "kind": "native"})
    assert refused.status == 403 and "CSRF" in await refused.text()
    cross = await test_client.post(
        "/agents",
        data={"csrf_token": csrf_of(html), "name": "x", "kind": "native"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status == 403
    accepted = await test_client.post(
        "/agents",
        data={"csrf_token": csrf_of(html), "name": "x", "kind": "native"},
        allow_redirects=False,
    )
    assert accepted.status == 303 and [a.name for a in backend.created] == ["x"]


async def test_agent_names_are_escaped(client) -> None:
    """Markup in an agent's name and description is rendered as text."""
    test_client, _ = client
    html = await signed_in(test_client)
    assert XSS not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


async def test_a_refused_key_is_not_echoed(client) -> None:
    """A wrong key gets a message, and the page does not repeat the key."""
    test_client, _ = client
    page = await (await test_client.get("/sign-in")).text()
    wrong = "bhk_admin_" + "B" * 43
    response = await test_client.post(
        "/sign-in", data={"csrf_token": csrf_of(page), "api_key": wrong}
    )
    text = await response.text()
    assert response.status == 401 and "not accepted" in text and wrong not in text


async def test_sign_in_redirect_stays_on_the_console(client) -> None:
    """`next` may only name a path on the console, never another site."""
    test_client, _ = client
    page = await (await test_client.get("/sign-in")).text()
    response = await test_client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(page), "api_key": ADMIN_KEY, "next": "//evil.example/x"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/agents"


async def test_sign_in_redirect_refuses_what_a_url_library_would_make_absolute(client) -> None:
    """A tab or line break after the slash is dropped by the URL library, which would turn
    "/<tab>/evil.example" into the protocol-relative "//evil.example"."""
    test_client, _ = client
    for next_path in ("/\t/evil.example/phish", "/\n/evil.example", "/\\evil.example", "/\x7f"):
        page = await (await test_client.get("/sign-in")).text()
        response = await test_client.post(
            "/sign-in",
            data={"csrf_token": csrf_of(page), "api_key": ADMIN_KEY, "next": next_path},
            allow_redirects=False,
        )
        assert response.status == 303 and response.headers["Location"] == "/agents", next_path


async def test_an_agent_cannot_make_a_real_decision_or_approval_look_like_a_test(client) -> None:
    """Only the verifier's test flag makes a decision a test; a request id or context that an
    agent chose to look like a test link's never does."""
    test_client, _ = client
    await signed_in(test_client)
    decision = await (await test_client.get("/decisions/test:real-purchase-1")).text()
    assert "shop.example.com" in decision
    assert "TEST</span>" not in decision and "It is a test" not in decision
    approvals = await (await test_client.get("/approvals")).text()
    assert "test:buy-laptop-42" in approvals and "TEST</span>" not in approvals


async def test_test_link_with_bad_token_is_gone(client) -> None:
    """An invalid test-link token answers 410 with a plain message."""
    test_client, _ = client
    response = await test_client.get("/t/v1.abc.def")
    assert response.status == 410 and "not valid" in await response.text()


async def test_webhook_endpoints_show_their_health(client) -> None:
    """The list and the endpoint page show the success rate, the breaker and the last error
    (escaped); an endpoint nobody has reported on says so."""
    test_client, _ = client
    await signed_in(test_client)
    listed = await (await test_client.get("/webhooks")).text()
    page = await (await test_client.get("/webhooks/" + FAILING.endpoint_id)).text()
    for html in (listed, page):
        assert "99.5% of 200" in html and "breaker open" in html
        assert XSS not in html and "&lt;script&gt;" in html
    assert "no attempts in the last hour" in listed


async def test_every_approval_is_reachable_past_the_first_page(client) -> None:
    """Agents can file hundreds of approvals (up to a cap each): the page offers the next one,
    keeping its filters, and an agent filter shows one agent's requests whatever the others
    filed."""
    test_client, backend = client
    await signed_in(test_client)
    first = await (await test_client.get("/approvals")).text()
    assert 'href="/approvals?page_token=page-2&amp;state=PENDING&amp;agent_id="' in first
    later = await test_client.get(f"/approvals?page_token=page-2&state=all&agent_id={AGENT_ID}")
    assert later.status == 200 and 'id="next-page"' not in await later.text()
    query = backend.approval_queries[-1]
    assert (query.page_token, query.agent_id, query.state) == ("page-2", AGENT_ID, 0)
    await test_client.get("/approvals?agent_id=agt_<script>")
    assert backend.approval_queries[-1].agent_id == ""  # not an agent id: no filter
