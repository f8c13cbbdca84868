"""Envoy's Check answers a REQUIRE_APPROVAL as Verify does: with the pending approval's id."""

from __future__ import annotations

import asyncio
import json

from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2

from behalf.v1 import common_pb2
from behalf.verifier.ext_authz import ExtAuthzApi

AGENT = "agt_review00000000000000"


class _Context:
    def invocation_metadata(self):
        return (("authorization", "Bearer bhk_envoy"),)


class _Verifier:
    """Answers every Verify as the real pipeline does for a grant that requires approval."""

    def __init__(self) -> None:
        self.asked = []

    async def verify(self, token, request):
        self.asked.append(request)
        return common_pb2.Decision(
            request_id=request.request_id,
            outcome=common_pb2.OUTCOME_REQUIRE_APPROVAL,
            reason_code=common_pb2.REASON_CODE_APPROVAL_REQUIRED,
            reason="permission prm_x requires a human approval; one is now pending",
            risk=common_pb2.RISK_MEDIUM,
            permission_id="prm_x",
            approval_id="apr_pending0000000000000",
        )


def _check() -> external_auth_pb2.CheckRequest:
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        host="mail.example",
        method="POST",
        path="/send",
        headers={"x-behalf-agent-id": AGENT, "x-behalf-action": "send_email"},
    )
    return external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(http=http)
        )
    )


def test_a_check_that_needs_approval_tells_the_caller_which_approval() -> None:
    """§4 step 8: "else REQUIRE_APPROVAL with a new approval id"; the Check mapping reads it
    back from `x-behalf-approval-id`, so the 403 names it (body and header), or a caller
    behind Envoy could never present the approval a human approves."""
    verifier = _Verifier()
    response = asyncio.run(ExtAuthzApi(verifier).Check(_check(), _Context()))
    assert response.HasField("denied_response")
    body = json.loads(response.denied_response.body)
    headers = {h.header.key: h.header.value for h in response.denied_response.headers}
    carried = body.get("approval_id") or headers.get("x-behalf-approval-id")
    assert carried == "apr_pending0000000000000", (body, headers)
