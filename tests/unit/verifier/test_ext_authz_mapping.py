"""Envoy Check requests map to Verify requests, and unmappable ones are refused."""

from __future__ import annotations

import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.errors import InvalidArgument, Unauthenticated
from behalf.verifier import ext_authz
from behalf.verifier.ext_authz_agent_key import agent_key_of

REQUEST_ID = "req_minted"


def verify_request_from_check(check: external_auth_pb2.CheckRequest):
    return ext_authz.verify_request_from_check(check, REQUEST_ID, ext_authz.http_headers(check))


def _check(headers: dict[str, str], extensions: dict[str, str] | None = None, host: str = ""):
    http = attribute_context_pb2.AttributeContext.HttpRequest(headers=headers, host=host)
    attributes = attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(http=http),
        context_extensions=extensions or {},
    )
    return external_auth_pb2.CheckRequest(attributes=attributes)


def test_context_extensions_win_over_headers() -> None:
    """Operator-set context_extensions override what the application put in headers."""
    request = verify_request_from_check(
        _check(
            {"x-behalf-agent-id": "agt_fromheader", "x-behalf-action": "read_email"},
            {"agent_id": "agt_fromroute", "action": "purchase"},
            host="shop.example.com:443",
        )
    )
    assert request.agent_id == "agt_fromroute"
    assert request.action == "purchase"
    assert request.resource == "shop.example.com"


def test_amount_and_revision_headers_are_read() -> None:
    """Amount, currency, approval id, min revision and request id come from headers."""
    request = verify_request_from_check(
        _check(
            {
                "x-behalf-agent-id": "agt_a",
                "x-behalf-action": "purchase",
                "x-behalf-amount-minor": "1250",
                "x-behalf-currency": "EUR",
                "x-behalf-min-revision": "17",
                "x-behalf-approval-id": "apr_x",
                "x-request-id": "rid-1",
            },
            host="vendor.example",
        )
    )
    assert (request.amount.amount_minor, request.amount.currency) == (1250, "EUR")
    assert request.min_revision == 17
    assert request.approval_id == "apr_x"
    # The caller's id follows the decision as context; the request id is the Check's own.
    assert request.request_id == REQUEST_ID
    assert dict(request.context) == {"x-request-id": "rid-1"}


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"x-behalf-action": "purchase"}, "agent_id"),
        ({"x-behalf-agent-id": "agt_a"}, "action"),
        (
            {"x-behalf-agent-id": "agt_a", "x-behalf-action": "p", "x-behalf-amount-minor": "1.5"},
            "x-behalf-amount-minor",
        ),
        (
            {"x-behalf-agent-id": "agt_a", "x-behalf-action": "p", "x-behalf-currency": "USD"},
            "x-behalf-amount-minor",
        ),
        (
            {"x-behalf-agent-id": "agt_a", "x-behalf-action": "p", "x-behalf-min-revision": "-3"},
            "x-behalf-min-revision",
        ),
    ],
)
def test_unmappable_checks_are_refused(headers: dict[str, str], field: str) -> None:
    """A Check missing agent or action, or with a malformed number, is refused by field."""
    with pytest.raises(InvalidArgument) as caught:
        verify_request_from_check(_check(headers, host="h.example"))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("host", "resource"),
    [
        ("shop.example.com:443", "shop.example.com"),
        ("shop.example.com", "shop.example.com"),
        ("[2001:db8::1]:8443", "[2001:db8::1]"),
        ("[2001:db8::1]", "[2001:db8::1]"),
    ],
)
def test_the_request_host_without_its_port_is_the_fallback_resource(
    host: str, resource: str
) -> None:
    """With no resource given, the request's host (an IPv6 literal kept whole) is used."""
    headers = {"x-behalf-agent-id": "agt_" + "0" * 20, "x-behalf-action": "browse_web"}
    assert verify_request_from_check(_check(headers, host=host)).resource == resource


@pytest.mark.parametrize(
    "host",
    ["[2001:db8::1]evil.example", "[2001:db8::1]:80:80", "shop.example:\u0663", "a@b.example"],
)
def test_a_host_with_anything_but_a_port_after_it_is_refused(host: str) -> None:
    """No host is cut down to a valid one: the whole authority is parsed, or refused."""
    headers = {"x-behalf-agent-id": "agt_" + "0" * 20, "x-behalf-action": "browse_web"}
    with pytest.raises(InvalidArgument) as caught:
        verify_request_from_check(_check(headers, host=host))
    assert caught.value.field == "host"


def test_a_declared_resource_may_only_name_the_request_host() -> None:
    """The agent cannot have its request to one host checked against another host's grant."""
    headers = {
        "x-behalf-agent-id": "agt_" + "0" * 20,
        "x-behalf-action": "purchase",
        "x-behalf-resource": "coachella.com",
    }
    with pytest.raises(InvalidArgument) as caught:
        verify_request_from_check(_check(headers, host="evil.example"))
    assert caught.value.field == "x-behalf-resource"
    same = verify_request_from_check(_check(headers, host="COACHELLA.com:443"))
    assert same.resource == "coachella.com"
    no_host = verify_request_from_check(_check(headers))
    assert no_host.resource == "coachella.com"


_CRAFTED_NUMBERS = ["²", "١٢", "9223372036854775808", "9" * 20, "9" * 5000, "+5", " 5", "0x10", ""]


@pytest.mark.parametrize("header", ["x-behalf-amount-minor", "x-behalf-min-revision"])
@pytest.mark.parametrize("value", _CRAFTED_NUMBERS)
def test_crafted_numbers_are_refused_by_field_never_crash(header: str, value: str) -> None:
    """Unicode digits str.isdigit() takes, int64 overflow, and numbers past Python's digit
    limit: InvalidArgument naming the header (a 400 to Envoy), not an internal error."""
    headers = {"x-behalf-agent-id": "agt_a", "x-behalf-action": "p", header: value}
    if header == "x-behalf-amount-minor":
        headers["x-behalf-currency"] = "USD"
    with pytest.raises(InvalidArgument) as caught:
        verify_request_from_check(_check(headers, host="h.example"))
    assert caught.value.field == header


@given(value=st.text(max_size=30))
def test_any_amount_header_maps_or_is_refused_by_field(value: str) -> None:
    headers = {
        "x-behalf-agent-id": "agt_a",
        "x-behalf-action": "p",
        "x-behalf-amount-minor": value,
        "x-behalf-currency": "USD",
    }
    try:
        request = verify_request_from_check(_check(headers, host="h.example"))
    except InvalidArgument as exc:
        assert exc.field == "x-behalf-amount-minor"
    else:
        assert value.isascii() and request.amount.amount_minor == int(value)


def test_the_largest_int64_is_read() -> None:
    headers = {"x-behalf-agent-id": "agt_a", "x-behalf-action": "p"}
    request = verify_request_from_check(
        _check({**headers, "x-behalf-min-revision": str(2**63 - 1)}, host="h.example")
    )
    assert request.min_revision == 2**63 - 1


def test_a_bound_agent_is_the_agent_when_none_is_named() -> None:
    """The agent a key is bound to fills agent_id; a named one is kept, for the verifier to
    refuse when it is not the key's."""
    unnamed = _check({"x-behalf-action": "p"}, host="h.example")
    bound = ext_authz.verify_request_from_check(
        unnamed, REQUEST_ID, ext_authz.http_headers(unnamed), "agt_bound"
    )
    assert bound.agent_id == "agt_bound"
    named = _check({"x-behalf-agent-id": "agt_other", "x-behalf-action": "p"}, host="h.example")
    claim = ext_authz.verify_request_from_check(
        named, REQUEST_ID, ext_authz.http_headers(named), "agt_bound"
    )
    assert claim.agent_id == "agt_other"


def _agent_key(headers: dict[str, str], extensions: dict[str, str]) -> str | None:
    check = _check(headers, extensions)
    return agent_key_of(check, ext_authz.http_headers(check))


def test_a_route_that_requires_the_agents_key_refuses_a_request_without_it() -> None:
    claim = {"x-behalf-agent-id": "agt_someone_else"}
    assert _agent_key(claim, {}) is None
    assert _agent_key({"X-Behalf-Agent-Key": "bhk_k"}, {"agent_key": "required"}) == "bhk_k"
    with pytest.raises(Unauthenticated, match="x-behalf-agent-key"):
        _agent_key(claim, {"agent_key": "required"})


@pytest.mark.parametrize("requirement", ["yes", "Required", "optional", " required"])
def test_an_unknown_requirement_fails_closed(requirement: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _agent_key({"x-behalf-agent-key": "bhk_k"}, {"agent_key": requirement})
    assert caught.value.field == "context_extensions.agent_key"
