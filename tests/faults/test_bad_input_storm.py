"""A fuzzed storm of malformed Verify and registry requests: well-formed answers, no allow."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behalf.v1 import (
    common_pb2,
    registry_pb2,
    registry_pb2_grpc,
    resources_pb2,
    verifier_pb2,
    verifier_pb2_grpc,
)
from tests.harness.infra import KafkaServer, PostgresServer
from tests.harness.stack import Stack, Tenant, bearer, start_stack, stop_stack

EXAMPLES = 400
WELL_FORMED_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    # A message over the service's receive limit is refused before it is decoded.
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
HUGE = 200_000
STORM = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Storm:
    """The stack under the storm, two tenants, and what it answered."""

    stack: Stack
    tenant: Tenant
    other: Tenant
    agent_id: str
    other_agent_id: str
    victim_id: str
    revision: int
    verifier: verifier_pb2_grpc.VerifierServiceStub
    registry: registry_pb2_grpc.RegistryServiceStub
    answers: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module")
async def storm(
    shared_postgres: PostgresServer, shared_kafka: KafkaServer, tmp_path_factory
) -> AsyncIterator[Storm]:
    stack = await start_stack(
        shared_postgres.url,
        shared_kafka.bootstrap,
        tmp_path_factory.mktemp("storm"),
        overrides=[("BEHALF_MIN_REVISION_WAIT_SECONDS", "0.05")],
    )
    tenant, other = stack.create_tenant("storm"), stack.create_tenant("bystander")
    registry = stack.registry_stub()

    def agent(owner: Tenant, name: str) -> str:
        return registry.CreateAgent(
            registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
            metadata=owner.admin,
            timeout=10,
        ).agent.agent_id

    agent_id, other_agent_id, victim_id = agent(tenant, "a"), agent(other, "b"), agent(tenant, "v")
    revision = 0
    for owner, who in ((tenant, agent_id), (other, other_agent_id)):
        revision = registry.GrantPermission(
            registry_pb2.GrantPermissionRequest(
                agent_id=who,
                allowed_actions=["purchase"],
                resources=["coachella.com"],
                max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
                expires_in=duration_pb2.Duration(seconds=3600),
            ),
            metadata=owner.admin,
            timeout=10,
        ).revision
    yield Storm(
        stack,
        tenant,
        other,
        agent_id,
        other_agent_id,
        victim_id,
        revision,
        stack.verifier_stub(),
        registry,
    )
    try:
        for process in [stack.registry, *stack.verifiers]:
            assert process.process.poll() is None, f"{process.name} died:\n{process.log()}"
            assert process.health_status() == health_pb2.HealthCheckResponse.SERVING
        assert "rpc_crashed" not in stack.registry.log_path.read_text()
        assert "rpc_crashed" not in stack.verifiers[0].log_path.read_text()
        print(
            f"\nbad-input-storm: answers {dict(sorted(storm_answers(stack).items()))} in"
            f" {time.monotonic() - _STARTED[0]:.1f}s; registry and verifier SERVING after"
        )
    finally:
        await stop_stack(stack)


_ANSWERS: Counter[str] = Counter()
_STARTED = [time.monotonic()]


def storm_answers(_stack: Stack) -> Counter[str]:
    return _ANSWERS


# A field value, and whether it makes the request malformed (or otherwise not allowable).
Choice = tuple[Any, bool]


def _ok(value: Any) -> st.SearchStrategy[Choice]:
    return st.just((value, False))


def _bad(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Choice]:
    return strategy.map(lambda value: (value, True))


def _mostly_valid(
    valid: st.SearchStrategy[Choice], *bad: st.SearchStrategy[Choice]
) -> st.SearchStrategy[Choice]:
    """Valid three times in four, so most requests carry one or two bad fields, not nine."""
    corrupt = st.one_of(*bad)
    return st.sampled_from([1, 2, 3, 0]).flatmap(lambda i: corrupt if i == 0 else valid)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Choice]:
    """A value with no oracle on the outcome: only a well-formed answer is required."""
    return strategy.map(lambda value: (value, None))


def _huge(prefix: str = "") -> st.SearchStrategy[str]:
    return st.integers(300, HUGE).map(lambda n: prefix + "x" * n)


TEXT = st.text(max_size=80)


def _agent_ids(storm_agent: Callable[[], str]) -> st.SearchStrategy[Choice]:
    return _mostly_valid(
        st.just("valid").map(lambda _: (storm_agent(), False)),
        _bad(st.sampled_from(["", "agt_", "agt_!!", "AGT_x", "agent-1", "agt_" + "z" * 300])),
        _bad(TEXT),
        _bad(_huge("agt_")),
        _bad(st.just(f"agt_{uuid.uuid4().hex[:20]}")),
    )


ACTIONS = _mostly_valid(
    _ok("purchase"),
    _bad(st.sampled_from(["", "Purchase", "purchase ", " purchase", "1x", "a" * 65, "pur-chase"])),
    _bad(st.sampled_from(["issue_refund", "purchase_x", "purchasE", "purchase\x00"])),
    _bad(TEXT),
    _bad(_huge()),
)
RESOURCES = _mostly_valid(
    _ok("coachella.com"),
    _bad(st.sampled_from(["coachella.com.evil.com", "evil-coachella.com", "xcoachella.com"])),
    _bad(
        st.sampled_from(["", "*", "*.com", "co*chella.com", "coachella.com\x00", "..", "a" * 600])
    ),
    _bad(st.sampled_from(["coachella .com", "[::1]", "ticketmaster.com", "coachella.co"])),
    # Spellings of the same host (scheme, port, path and case are dropped by design; the port's
    # range is not checked): allowed or refused, either answer is acceptable.
    _maybe(
        st.sampled_from(
            ["COACHELLA.COM", "https://coachella.com/x?y", "coachella.com:99999", "coachella.com."]
        )
    ),
    _bad(TEXT),
    _bad(_huge()),
)
CURRENCIES = st.sampled_from(["", "usd", "US", "USDX", "X1Z", "EUR", "\x00\x00\x00", "€€€"])
AMOUNTS = _mostly_valid(
    _ok((100, "USD")),
    _ok((79999, "USD")),
    _bad(st.just(None)),
    _bad(st.integers(-(2**63), -1).map(lambda a: (a, "USD"))),
    _bad(st.integers(80001, 2**63 - 1).map(lambda a: (a, "USD"))),
    _bad(st.tuples(st.integers(0, 100), CURRENCIES)),
)
CONTEXTS = _mostly_valid(
    _ok({}),
    _ok({"ticket": "T-1", "user": "u@example.com"}),
    _bad(st.integers(33, 400).map(lambda n: {f"k{i}": "v" for i in range(n)})),
    _bad(st.sampled_from([{"": "v"}, {"k" * 65: "v"}, {"k": "v" * 257}])),
    _bad(_huge().map(lambda v: {"k": v})),
)
REVISIONS = _mostly_valid(
    st.just("valid").map(lambda _: (-1, False)),  # -1 means: the grant's revision
    _bad(st.integers(-(2**63), -2)),
    _bad(st.integers(2**40, 2**63 - 1)),
)
APPROVALS = _mostly_valid(
    _ok(""), _bad(st.sampled_from(["apr_", "apr_!!", "x" * 200, "approval"])), _bad(_huge("apr_"))
)
REQUEST_IDS = _mostly_valid(
    _ok(""),
    _ok("client-req:1.a_b"),
    _bad(st.sampled_from(["has space", "ünïcode", "x" * 129, "a/b", "\x00"])),
    _bad(_huge()),
)
AUTHS = st.sampled_from([1, 2, 3, 0]).flatmap(
    lambda i: (
        st.sampled_from(["none", "garbage", "other", "basic", "empty"])
        if i == 0
        else st.sampled_from(["verify", "admin"])
    )
)


def _metadata(storm: Storm, auth: str) -> tuple[tuple[str, str], ...]:
    return {
        "verify": storm.tenant.verify,
        "admin": storm.tenant.admin,
        "none": (),
        "garbage": bearer("bhk_" + "0" * 40),
        "other": storm.other.verify,
        "basic": (("authorization", f"Basic {storm.tenant.verify_key}"),),
        "empty": (("authorization", "Bearer "),),
    }[auth]


def _record(outcome: str) -> None:
    _ANSWERS[outcome] += 1


def test_malformed_verify_is_never_allowed(storm: Storm) -> None:
    """Every reply is a decision or a well-formed client error; nothing malformed is allowed,
    and a request with every field valid is allowed."""
    _STARTED[0] = min(_STARTED[0], time.monotonic())

    @STORM
    @given(
        agent=_agent_ids(lambda: storm.agent_id) | st.just((storm.other_agent_id, True)),
        action=ACTIONS,
        resource=RESOURCES,
        amount=AMOUNTS,
        context=CONTEXTS,
        min_revision=REVISIONS,
        approval=APPROVALS,
        request_id=REQUEST_IDS,
        auth=AUTHS,
    )
    def fuzz(**fields: Any) -> None:
        auth = fields.pop("auth")
        request = verifier_pb2.VerifyRequest(
            agent_id=fields["agent"][0],
            action=fields["action"][0],
            resource=fields["resource"][0],
            context=fields["context"][0],
            approval_id=fields["approval"][0],
            request_id=fields["request_id"][0],
        )
        revision = fields["min_revision"][0]
        request.min_revision = storm.revision if revision == -1 else revision
        if fields["amount"][0] is not None:
            minor, currency = fields["amount"][0]
            request.amount.CopyFrom(common_pb2.Money(amount_minor=minor, currency=currency))
        # The other tenant's key may use only its own agent; every other key only ours.
        agent_ok = (
            request.agent_id == storm.other_agent_id if auth == "other" else not fields["agent"][1]
        )
        flags = [bad for name, (_, bad) in fields.items() if name != "agent"]
        others_ok = not any(flags)
        malformed = not (agent_ok and others_ok and auth in ("verify", "admin", "other"))
        exact = not malformed and None not in flags
        try:
            reply = storm.verifier.Verify(request, metadata=_metadata(storm, auth), timeout=20)
        except grpc.RpcError as exc:
            code = exc.code()
            _record(f"verify:{code.name}")
            assert code in WELL_FORMED_ERRORS, (code, exc.details(), request)
            assert not exact, (code, exc.details(), "a valid request was refused")
            return
        decision = reply.decision
        _record(f"verify:{common_pb2.Outcome.Name(decision.outcome)}")
        assert decision.outcome in (
            common_pb2.OUTCOME_ALLOW,
            common_pb2.OUTCOME_DENY,
            common_pb2.OUTCOME_REQUIRE_APPROVAL,
        )
        assert decision.reason_code != common_pb2.REASON_CODE_UNSPECIFIED
        if malformed:
            assert decision.outcome != common_pb2.OUTCOME_ALLOW, (request, auth, decision)
        elif exact:
            assert decision.outcome == common_pb2.OUTCOME_ALLOW, (request, decision)

    fuzz()


def _money(choice: Any) -> common_pb2.Money | None:
    if choice is None:
        return None
    minor, currency = choice
    return common_pb2.Money(amount_minor=minor, currency=currency)


def _timestamp(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


def _registry_calls(storm: Storm) -> st.SearchStrategy[tuple[str, Any, bool]]:
    """(rpc name, request, must be refused) for many registry RPCs with fuzzed fields."""
    agent = _agent_ids(lambda: storm.victim_id)
    names = st.one_of(
        _ok("n"),
        _bad(st.just("")),
        _bad(_huge()),
        st.text(min_size=1, max_size=50).map(lambda s: (s, False)),
    )
    enums = st.one_of(_ok(1), _bad(st.sampled_from([0, 3, 99, -1, 2**31 - 1])))  # AgentKind
    roles = st.one_of(_ok(1), _ok(3), _bad(st.sampled_from([0, 4, 99, -1, 2**31 - 1])))
    labels = st.one_of(
        _ok({"team": "x"}),
        _bad(st.integers(33, 200).map(lambda n: {f"l{i}": "v" for i in range(n)})),
        _bad(_huge().map(lambda v: {"k": v})),
    )
    word_lists = st.lists(st.one_of(TEXT, _huge(), st.just("purchase")), max_size=40)
    amounts = st.one_of(
        _ok(None),
        _ok((100, "USD")),
        _bad(st.integers(-(2**63), -1).map(lambda a: (a, "USD"))),
        _bad(st.tuples(st.integers(0, 10), CURRENCIES.filter(lambda c: c != "EUR"))),
    )
    durations = st.integers(-(10**10), 10**12)
    page_sizes = st.integers(-(2**31), 2**31 - 1)
    tokens = st.one_of(st.just(""), TEXT, _huge())

    def create_agent(n, k, d, lab) -> tuple[str, Any, bool]:
        request = registry_pb2.CreateAgentRequest(
            name=n[0], kind=k[0], description=d, labels=lab[0]
        )
        return "CreateAgent", request, n[1] or k[1] or lab[1] or len(d) > 2000

    def grant(
        a, actions, blocked, resources, m, b, expires, template, version
    ) -> tuple[str, Any, bool]:
        request = registry_pb2.GrantPermissionRequest(
            agent_id=a[0],
            allowed_actions=actions,
            blocked_actions=blocked,
            resources=resources,
            template_name=template,
            template_version=version,
        )
        if _money(m[0]) is not None:
            request.max_amount.CopyFrom(_money(m[0]))
        if _money(b[0]) is not None:
            request.budget.CopyFrom(_money(b[0]))
        if expires is not None:
            request.expires_in.CopyFrom(duration_pb2.Duration(seconds=expires))
        return "GrantPermission", request, a[1] or m[1] or b[1] or (expires or 1) <= 0

    by_id = st.sampled_from(
        ["GetAgent", "DisableAgent", "EnableAgent", "ExportPassport", "DeleteAgent"]
    )
    return st.one_of(
        st.builds(create_agent, names, enums, st.one_of(TEXT, _huge()), labels),
        st.builds(
            grant,
            agent,
            word_lists,
            word_lists,
            word_lists,
            amounts,
            amounts,
            st.one_of(st.none(), durations),
            st.one_of(st.just(""), TEXT),
            st.integers(-(2**31), 2**31 - 1),
        ),
        st.builds(
            lambda rpc, a: (rpc, getattr(registry_pb2, f"{rpc}Request")(agent_id=a[0]), a[1]),
            by_id,
            agent,
        ),
        st.builds(
            lambda pid: (
                "RevokePermission",
                registry_pb2.RevokePermissionRequest(permission_id=pid),
                True,
            ),
            st.one_of(TEXT, _huge("prm_"), st.just(f"prm_{uuid.uuid4().hex[:20]}")),
        ),
        st.builds(
            lambda k, size, token, lab: (
                "ListAgents",
                registry_pb2.ListAgentsRequest(
                    kind=k[0], page_size=size, page_token=token, labels=lab[0]
                ),
                False,
            ),
            enums,
            page_sizes,
            tokens,
            labels,
        ),
        st.builds(
            lambda url, types: (
                "CreateWebhookEndpoint",
                registry_pb2.CreateWebhookEndpointRequest(url=url[0], event_types=types),
                url[1],
            ),
            st.one_of(
                _bad(
                    st.sampled_from(["", "ftp://x", "http://", "https://a b.com", "javascript:1"])
                ),
                _bad(TEXT.filter(lambda t: not t.lower().startswith(("http://", "https://")))),
                _bad(st.integers(2100, HUGE).map(lambda n: "https://" + "x" * n)),
                # Host names are not checked for DNS syntax (a 300-character label passes):
                # refused or accepted, either is well-formed.
                _ok("https://" + "x" * 300 + ".example.com/hook"),
            ),
            word_lists,
        ),
        st.builds(
            lambda aid, approve, by: (
                "ResolveApproval",
                registry_pb2.ResolveApprovalRequest(
                    approval_id=aid, approve=approve, resolved_by=by
                ),
                True,
            ),
            st.one_of(TEXT, _huge("apr_"), st.just(f"apr_{uuid.uuid4().hex[:20]}")),
            st.booleans(),
            st.one_of(TEXT, _huge()),
        ),
        st.builds(
            lambda outcome, reason, rid, size, token, start: (
                "ListDecisions",
                registry_pb2.ListDecisionsRequest(
                    outcome=outcome,
                    reason_code=reason,
                    request_id=rid,
                    page_size=size,
                    page_token=token,
                    start_time=_timestamp(start),
                ),
                False,
            ),
            st.integers(-5, 200),
            st.integers(-5, 200),
            st.one_of(TEXT, _huge()),
            page_sizes,
            tokens,
            st.integers(-62135596800, 253402300799),
        ),
        st.builds(
            lambda n, role: (
                "CreateApiKey",
                registry_pb2.CreateApiKeyRequest(name=n[0], role=role[0]),
                n[1] or role[1],
            ),
            names,
            roles,
        ),
        st.builds(
            lambda n, v: (
                "GetScopeTemplate",
                registry_pb2.GetScopeTemplateRequest(name=n, version=v),
                False,
            ),
            st.one_of(TEXT, _huge(), st.just("purchases")),
            st.integers(-(2**31), 2**31 - 1),
        ),
    )


def test_malformed_registry_requests_get_client_errors(storm: Storm) -> None:
    """Every registry reply is a success or a well-formed client error, never INTERNAL or
    UNKNOWN; requests with a malformed field never succeed."""

    @STORM
    @given(
        call=_registry_calls(storm),
        auth=st.sampled_from(["admin", "admin", "admin", "verify", "other", "none", "garbage"]),
    )
    def fuzz(call: tuple[str, Any, bool], auth: str) -> None:
        rpc, request, must_fail = call
        # The victim agent is ours: the other tenant's admin must not reach it.
        if auth == "other" and getattr(request, "agent_id", None) == storm.victim_id:
            must_fail = True
        metadata = _metadata(storm, auth) if auth != "other" else storm.other.admin
        if auth == "admin":
            metadata = storm.tenant.admin
        try:
            getattr(storm.registry, rpc)(request, metadata=metadata, timeout=20)
        except grpc.RpcError as exc:
            code = exc.code()
            _record(f"registry:{code.name}")
            assert code in WELL_FORMED_ERRORS, (rpc, code, exc.details())
            return
        _record("registry:OK")
        assert not must_fail, (rpc, auth, "accepted a malformed request")
        assert auth in ("admin", "other", "verify"), (rpc, auth, "accepted a bad credential")

    fuzz()
