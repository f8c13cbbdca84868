"""Envoy ext_authz (`envoy.service.auth.v3.Authorization/Check`) over the Verify pipeline.

How a Check request maps to a Verify (route-level `context_extensions`, which the mesh
operator sets, win over request headers, which the calling application sets):

| Verify field  | context_extensions | request header             | fallback          |
|---------------|--------------------|----------------------------|-------------------|
| agent_id      | `agent_id`         | `x-behalf-agent-id` (**)   | the agent key's   |
| action        | `action`           | `x-behalf-action`          | none: deny        |
| resource      | `resource`         | `x-behalf-resource` (*)    | the request host  |
| amount        | -                  | `x-behalf-amount-minor` + `x-behalf-currency` | none |
| approval_id   | -                  | `x-behalf-approval-id`     | none              |
| min_revision  | -                  | `x-behalf-min-revision`    | 0                 |
| request_id    | -                  | -                          | generated         |
| context       | -                  | `x-request-id` as context `x-request-id` | none |

(*) only naming the request's host, which Envoy forwards by.
(**) a claim, unless the request carries the agent's own key (`x-behalf-agent-key`, which a
route requires with `agent_key: required`): then the Check decides as that key, for the agent
it is bound to (see `ext_authz_agent_key`). Without an agent id from any of them: deny.

Every Check gets a request id of its own. Each allowed Check is a request Envoy forwards, so
one the caller names would let a replay of it (the same id, the same content: the original
outcome, and nothing spent again) reach the upstream again for one budget claim or one
approval. The caller's `x-request-id` still follows the decision, as its context, for
correlation.

The API key comes from the Check call's own gRPC metadata (`authorization: Bearer …`, set by
Envoy's `grpc_service.initial_metadata`), never from the proxied request. Anything that cannot
be mapped or verified is denied: 401 for a bad key, 400 for a malformed request, 403 for every
other non-allow, each with a JSON body {"reason_code", "reason", "request_id"}; a
REQUIRE_APPROVAL also names the pending approval (`approval_id` in the body and the
`x-behalf-approval-id` header), which the caller sends back once a human approved it. An allow adds
`x-behalf-request-id`, `x-behalf-risk` and `x-behalf-permission-id` to the upstream request
and removes `x-behalf-agent-key` from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import grpc

# envoy's generated modules ship neither stubs nor py.typed: they are Any here.
from envoy.config.core.v3 import base_pb2  # type: ignore[import-untyped]
from envoy.service.auth.v3 import (  # type: ignore[import-untyped]
    external_auth_pb2,
    external_auth_pb2_grpc,
)
from envoy.type.v3 import http_status_pb2  # type: ignore[import-untyped]
from google.rpc import code_pb2, status_pb2

from behalf.common.auth import bearer_token
from behalf.common.errors import BehalfError, InvalidArgument, ResourceExhausted, Unauthenticated
from behalf.common.ids import new_id
from behalf.common.resource_names import InvalidResourceName, normalize_resource
from behalf.v1 import common_pb2, verifier_pb2
from behalf.verifier.api import Verifier
from behalf.verifier.ext_authz_agent_key import AGENT_KEY_HEADER, agent_bound_to, agent_key_of
from behalf.verifier.validation import INT64_MAX, non_negative_int64

_CALLERS_REQUEST_ID = "x-request-id"
# Read from the request, and named in a REQUIRE_APPROVAL answer for the caller to send back.
APPROVAL_ID_HEADER = "x-behalf-approval-id"


def http_headers(check: external_auth_pb2.CheckRequest) -> Mapping[str, str]:
    """The proxied request's headers by lowercase name."""
    return {k.lower(): v for k, v in check.attributes.request.http.headers.items()}


def verify_request_from_check(
    check: external_auth_pb2.CheckRequest,
    request_id: str,
    headers: Mapping[str, str],
    bound_agent_id: str = "",
) -> verifier_pb2.VerifyRequest:
    """Map a Check to a VerifyRequest with `request_id` (for the agent its key is bound to, if
    no agent is named), or raise InvalidArgument naming what is missing."""
    http = check.attributes.request.http
    extensions = check.attributes.context_extensions

    def pick(extension: str, header: str) -> str:
        return extensions.get(extension) or headers.get(header, "")

    request = verifier_pb2.VerifyRequest(
        agent_id=pick("agent_id", "x-behalf-agent-id") or bound_agent_id,
        action=pick("action", "x-behalf-action"),
        resource=extensions.get("resource") or _requested_host(headers, http.host),
        approval_id=headers.get(APPROVAL_ID_HEADER, ""),
        request_id=request_id,
    )
    if callers_id := headers.get("x-request-id"):
        request.context[_CALLERS_REQUEST_ID] = callers_id
    if not request.agent_id:
        raise InvalidArgument("agent_id", "missing: set context_extensions or x-behalf-agent-id")
    if not request.action:
        raise InvalidArgument("action", "missing: set context_extensions or x-behalf-action")
    amount = _header_int64(headers, "x-behalf-amount-minor")
    currency = headers.get("x-behalf-currency")
    if amount is not None or currency is not None:
        if amount is None:
            raise InvalidArgument("x-behalf-amount-minor", "is required with x-behalf-currency")
        request.amount.amount_minor = amount
        request.amount.currency = currency or ""
    request.min_revision = min_revision_of(headers)
    return request


def min_revision_of(headers: Mapping[str, str]) -> int:
    """`x-behalf-min-revision`, 0 when absent."""
    return _header_int64(headers, "x-behalf-min-revision") or 0


def _header_int64(headers: Mapping[str, str], name: str) -> int | None:
    """The header's non-negative int64, None when absent, InvalidArgument when malformed."""
    raw = headers.get(name)
    if raw is None:
        return None
    # str.isdigit() also takes "²" and other digits int() refuses; 20 digits never fit.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(INT64_MAX))):
        raise InvalidArgument(name, "must be an integer between 0 and 2^63-1")
    return non_negative_int64(int(raw), name)


def _requested_host(headers: Mapping[str, str], authority: str) -> str:
    """The host Envoy routes this request to (`[::1]:8443` -> `[::1]`), which a declared
    `x-behalf-resource` may only repeat: were it another, the agent would be checked against
    one host's grant while the request went to another."""
    host = _host_without_port(authority) if authority else ""
    declared = headers.get("x-behalf-resource", "")
    if not declared:
        return host
    if host and _normalized(declared, "x-behalf-resource") != host:
        raise InvalidArgument("x-behalf-resource", f"must name the request's host, {host}")
    return declared


def _host_without_port(authority: str) -> str:
    """`[::1]:8443` -> `[::1]`, `shop.example:443` -> `shop.example`, normalized; anything else
    after the host is refused, never cut off. (Split here, so a plain host takes the parser's
    fast path: a whole URL costs it ~35 µs.)"""
    if authority.startswith("["):
        host, bracket, rest = authority.partition("]")
        host += bracket
    else:
        host, colon, port = authority.partition(":")
        rest = colon + port
    port = rest[1:]
    if rest and not (rest[0] == ":" and port.isascii() and port.isdigit() and len(port) <= 5):
        raise InvalidArgument("host", "must be a host name and an optional port")
    return _normalized(host, "host")


def _normalized(resource: str, field: str) -> str:
    try:
        return normalize_resource(resource)
    except InvalidResourceName as exc:
        raise InvalidArgument(field, str(exc)) from None


class ExtAuthzApi(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]  # Any base
    """Answers Envoy with allow or deny; never with an error Envoy could treat as allow."""

    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier

    async def Check(
        self,
        request: external_auth_pb2.CheckRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> external_auth_pb2.CheckResponse:
        request_id = new_id("req")
        try:
            token = bearer_token(context.invocation_metadata())
            headers = http_headers(request)
            bound_agent_id = ""
            if (agent_key := agent_key_of(request, headers)) is not None:
                bound_agent_id = await agent_bound_to(
                    self._verifier, token, agent_key, min_revision_of(headers)
                )
                token = agent_key
            verify_request = verify_request_from_check(request, request_id, headers, bound_agent_id)
            decision = await self._verifier.verify(token, verify_request)
        except Unauthenticated as exc:
            return _denied(http_status_pb2.Unauthorized, "UNAUTHENTICATED", str(exc), request_id)
        except InvalidArgument as exc:
            return _denied(http_status_pb2.BadRequest, "INVALID_ARGUMENT", str(exc), request_id)
        except ResourceExhausted as exc:
            return _denied(
                http_status_pb2.TooManyRequests, "RESOURCE_EXHAUSTED", str(exc), request_id
            )
        except BehalfError as exc:
            return _denied(http_status_pb2.Forbidden, exc.code.name, str(exc), request_id)
        if decision.test_mode:  # an agent in manual test mode: its test ALLOW lets nothing through
            return _denied(
                http_status_pb2.Forbidden,
                "TEST_MODE",
                "the agent is in manual test mode: its decisions authorize nothing",
                decision.request_id,
            )
        if decision.outcome != common_pb2.OUTCOME_ALLOW:
            reason_code = common_pb2.ReasonCode.Name(decision.reason_code).removeprefix(
                "REASON_CODE_"
            )
            return _denied(
                http_status_pb2.Forbidden,
                reason_code,
                decision.reason,
                decision.request_id,
                approval_id=decision.approval_id,
            )
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code_pb2.OK),
            ok_response=external_auth_pb2.OkHttpResponse(
                headers=[
                    _header("x-behalf-request-id", decision.request_id),
                    _header("x-behalf-risk", common_pb2.Risk.Name(decision.risk)),
                    _header("x-behalf-permission-id", decision.permission_id),
                ],
                headers_to_remove=[AGENT_KEY_HEADER],
            ),
        )


def _header(key: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=key, value=value))


def _denied(
    status: int, reason_code: str, reason: str, request_id: str, *, approval_id: str = ""
) -> external_auth_pb2.CheckResponse:
    """The caller's 4xx; a REQUIRE_APPROVAL names the pending approval (body `approval_id`,
    header `x-behalf-approval-id`), which the caller sends back once a human approved it."""
    fields = {"reason_code": reason_code, "reason": reason, "request_id": request_id}
    headers = [
        _header("content-type", "application/json"),
        _header("x-behalf-request-id", request_id),
    ]
    if approval_id:
        fields["approval_id"] = approval_id
        headers.append(_header(APPROVAL_ID_HEADER, approval_id))
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=reason_code),
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=status), headers=headers, body=json.dumps(fields)
        ),
    )
