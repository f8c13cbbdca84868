"""The verifier's HTTP/JSON surface (`POST /v1/verify`) against an agent that writes the JSON.

The agent holds a verify key and crafts the JSON itself. gRPC carries an amount only as integer
minor units, so it has one reading; every test here asks whether HTTP's extra spellings let the
same intent be read differently (by the verifier and by the tool that acts on it), or crash the
handler instead of naming the field. Each test asserts the SAFE behaviour against the real
registry, verifier, PostgreSQL and Kafka.
"""

from __future__ import annotations

import gzip
import http.client
import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest

from behalf.v1 import common_pb2
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("http-spellings")
    )
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("http-spellings")


@pytest.fixture(scope="module")
def usd_buyer(stack: Stack, tenant: Tenant) -> dict[str, Any]:
    """Purchase on coachella.com up to 800.00 USD."""
    agent_id, grant = stack.agent_with_grant(tenant, "usd-buyer")
    return {
        "agentId": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "currency": "USD",
        "minRevision": grant.revision,
    }


@pytest.fixture(scope="module")
def jpy_buyer(stack: Stack, tenant: Tenant) -> dict[str, Any]:
    """Purchase on coachella.com up to 500 JPY (JPY has no minor unit)."""
    agent_id, grant = stack.agent_with_grant(
        tenant, "jpy-buyer", max_amount=common_pb2.Money(amount_minor=500, currency="JPY")
    )
    return {
        "agentId": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "currency": "JPY",
        "minRevision": grant.revision,
    }


def raw_post(
    stack: Stack,
    body: bytes,
    headers: list[tuple[str, str]],
    path: str = "/v1/verify",
    method: str = "POST",
) -> tuple[int, dict[str, Any], str]:
    """Send exactly these bytes and headers (repeated headers included)."""
    url = urllib.parse.urlsplit(stack.verifiers[0].http_url)
    assert url.hostname is not None and url.port is not None
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        return response.status, parsed, response.getheader("Content-Type") or ""
    finally:
        connection.close()


def post(stack: Stack, key: str, body: bytes | dict[str, Any]) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {key}")]
    status, parsed, _ = raw_post(stack, data, headers)
    return status, parsed


def with_raw_amount(ask: dict[str, Any], literal: str) -> bytes:
    """The ask as JSON with `"amount": <literal>` spliced in verbatim (a JSON number that
    json.dumps could not write, such as 1e1000000000000000000)."""
    text = json.dumps(ask)
    return (text[:-1] + f', "amount": {literal}}}').encode()


# --- findings (fail now) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    ["1e1000000000000000000", "1e-10000000000000000000", "0.5E+9999999999999999999"],
)
def test_a_json_number_beyond_decimal_range_is_a_400_naming_amount(
    stack: Stack, tenant: Tenant, usd_buyer: dict[str, Any], literal: str
) -> None:
    """Attack: the body is read with `parse_float=Decimal`, and Decimal raises
    `decimal.InvalidOperation` (an ArithmeticError, not a ValueError) for an exponent past its
    range. The parser only catches ValueError, so `{"amount": 1e1000000000000000000}` escapes as
    an unhandled exception: a 500 `internal` plus a stack trace per request, where gRPC cannot
    even express the value. Safe: 400 naming `amount`."""
    status, body = post(stack, tenant.verify_key, with_raw_amount(usd_buyer, literal))
    assert status == 400, (status, body)
    assert body["error"]["field"] == "amount", body


def test_a_float_anywhere_in_the_body_cannot_crash_the_handler(
    stack: Stack, tenant: Tenant, usd_buyer: dict[str, Any]
) -> None:
    """Attack: same Decimal overflow, placed in a field that is not even an amount (here
    `minRevision`, and an unknown field). The float hook runs before any field is checked, so
    any field crashes the request. Safe: a 400, never a 500."""
    without = {k: v for k, v in usd_buyer.items() if k != "minRevision"}
    for spliced in ('"minRevision": 1e1000000000000000000', '"zzz": 1e1000000000000000000'):
        body = (json.dumps({**without, "amountMinor": 100})[:-1] + ", " + spliced + "}").encode()
        status, parsed = post(stack, tenant.verify_key, body)
        assert status == 400, (spliced, status, parsed)


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1_000", "Python's Decimal takes digit-group underscores; JS Number('1_000') is NaN"),
        ("\u0661\u0660\u0660", "Arabic-Indic digits: Decimal reads 100, most tools refuse"),
        ("\uff15", "a full-width 5"),
        (" 5 ", "padding"),
        ("+5", "a leading plus"),
        (".5", "no integer part"),
        ("5.", "no fraction digits"),
        ("1e2", "an exponent: parseInt('1e2') is 1, Decimal is 100"),
        ("1.500", "3 decimals for USD: a de-DE tool reads 1500, the verifier 1.50"),
    ],
)
def test_amount_strings_other_parsers_read_differently_are_refused(
    stack: Stack, tenant: Tenant, usd_buyer: dict[str, Any], amount: str, why: str
) -> None:
    """Attack: the SDK's `tool_decimal` (and the TypeScript parseMajorUnits) accept only a
    plain decimal, ASCII digits and one point, because "1e3", "1_000", Arabic-Indic digits,
    padding or a third decimal are read otherwise elsewhere. The HTTP API hands the string to
    `Decimal()`, which accepts all of them, so the verifier authorizes one number while the
    tool that receives the same string may act on another. Safe: 400 naming `amount`."""
    status, body = post(stack, tenant.verify_key, {**usd_buyer, "amount": amount})
    assert status == 400, (why, status, body)
    assert body["error"]["field"] == "amount", (why, body)


def test_a_thousands_separator_cannot_slip_a_jpy_purchase_past_its_limit(
    stack: Stack, tenant: Tenant, jpy_buyer: dict[str, Any]
) -> None:
    """Attack: the passport allows at most 500 JPY. The agent asks for `"amount": "1.000"`
    JPY: where "." groups thousands (de-DE, and the tool the agent is about to call) that is
    1,000 yen; the verifier strips the trailing zeros and reads 1 yen, ALLOWs, and the agent
    pays twice its limit. JPY has no decimals, so the string is ambiguous by construction.
    Safe: 400 naming `amount` (as the SDK's tool_decimal does), never an allow."""
    status, body = post(stack, tenant.verify_key, {**jpy_buyer, "amount": "1.000"})
    assert body.get("allowed") is not True, body
    assert (status, body.get("error", {}).get("field")) == (400, "amount"), body


@pytest.mark.parametrize(("literal", "currency"), [("799.990", "USD"), ("1.000", "JPY")])
def test_more_decimals_than_the_currency_has_is_an_error_as_documented(
    stack: Stack,
    tenant: Tenant,
    usd_buyer: dict[str, Any],
    jpy_buyer: dict[str, Any],
    literal: str,
    currency: str,
) -> None:
    """Attack/contract: the served OpenAPI says of `amount` "more decimals than the currency
    has is an error", yet a JSON number with trailing zeros past the currency's exponent
    (799.990 USD, 1.000 JPY) is silently accepted and rounded to 79999 / 1. A client that
    validates against the document and the server disagree on what is a valid request.
    Safe: 400 naming `amount`, as documented."""
    ask = usd_buyer if currency == "USD" else jpy_buyer
    status, body = post(stack, tenant.verify_key, with_raw_amount(ask, literal))
    assert (status, body.get("error", {}).get("field")) == (400, "amount"), body


def test_a_huge_integer_is_refused_naming_its_field(
    stack: Stack, tenant: Tenant, usd_buyer: dict[str, Any]
) -> None:
    """Attack: an integer of 5,000 digits in `amountMinor`. Python's int() refuses more than
    4,300 digits with a ValueError that the parser reports as `body: is not valid JSON`, which
    is false (the JSON is valid) and names no field; 2^63 is correctly reported as
    `amountMinor`. Safe: 400 naming `amountMinor` (the brief: a clear 4xx naming the field)."""
    text = json.dumps(usd_buyer)[:-1] + ', "amountMinor": 1' + "0" * 5000 + "}"
    status, body = post(stack, tenant.verify_key, text.encode())
    assert (status, body["error"]["field"]) == (400, "amountMinor"), body


def test_two_authorization_headers_are_refused(
    stack: Stack, tenant: Tenant, usd_buyer: dict[str, Any]
) -> None:
    """Attack: two `Authorization` headers, one of this tenant's verify key and one of another
    tenant's. Authorization is not a list header (RFC 9110); proxies, gateways and rate
    limiters in front disagree on which one counts (first, last, or comma-joined), and the
    verifier silently uses the first, so what a gateway accounted or checked is not what was
    decided. Safe: refuse the ambiguous request (400 or 401), as duplicate JSON names are."""
    other = stack.create_tenant("http-spellings-other")
    body = json.dumps({**usd_buyer, "amountMinor": 100}).encode()
    for first, second in (
        (tenant.verify_key, other.verify_key),
        (other.verify_key, tenant.verify_key),
    ):
        status, parsed, _ = raw_post(
            stack,
            body,
            [
                ("Content-Type", "application/json"),
                ("Authorization", f"Bearer {first}"),
                ("Authorization", f"Bearer {second}"),
            ],
        )
        assert status in (400, 401), (status, parsed)


# --- pinned: safe already ------------------------------------------------------------------


def test_key_placement_method_override_and_compressed_bodies(
    stack: Stack, tenant: Tenant, usd_buyer: dict[str, Any]
) -> None:
    """FOUND SAFE (passes now). A key in the query string is ignored (401); an
    `X-HTTP-Method-Override` header cannot turn a GET into Verify (405); a 50 MB body
    gzip-compressed to 50 KB is refused at 64 KiB after decompression (413); snake_case proto
    names (`amount_minor`) and `null` values are 400s naming the field; a duplicate JSON name
    is a 400."""
    body = json.dumps({**usd_buyer, "amountMinor": 100}).encode()
    status, parsed, _ = raw_post(
        stack,
        body,
        [("Content-Type", "application/json")],
        path=f"/v1/verify?access_token={tenant.verify_key}&key={tenant.verify_key}",
    )
    assert status == 401, parsed
    status, _, _ = raw_post(
        stack,
        b"",
        [("X-HTTP-Method-Override", "POST"), ("Authorization", f"Bearer {tenant.verify_key}")],
        method="GET",
    )
    assert status == 405
    bomb = gzip.compress(b'{"context": {"k": "' + b"a" * (50 * 1024 * 1024) + b'"}}')
    status, parsed, _ = raw_post(
        stack,
        bomb,
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("Authorization", f"Bearer {tenant.verify_key}"),
        ],
    )
    assert status == 413, parsed
    for extra, field in (
        ({"amount_minor": 100}, "amount_minor"),
        ({"amountMinor": None}, "amountMinor"),
        ({"amountMinor": 100, "testMode": None}, "testMode"),
        ({"amountMinor": 100, "approvalId": None}, "approvalId"),
    ):
        status, parsed = post(stack, tenant.verify_key, {**usd_buyer, **extra})
        assert (status, parsed["error"]["field"]) == (400, field), (extra, parsed)
    dup = body[:-1] + b', "amountMinor": 1}'
    status, parsed = post(stack, tenant.verify_key, dup)
    assert (status, parsed["error"]["field"]) == (400, "amountMinor"), parsed
