"""Who the agent behind an Envoy Check is: the agent's own key, not a name it claims.

The proxied request comes from the agent, so `x-behalf-agent-id` is whatever the agent says,
and an agent that names another agent of its tenant would be checked against that agent's
passport. The agent proves who it is with a verify key bound to it (`x-behalf-agent-key`):
the Check then decides as that key, for the one agent it is bound to, and only if Envoy's own
key (the Check call's metadata) is of the same tenant, so another tenant's agent cannot be let
through to this application by its own passport. A route that sets `agent_key: required` in
its context_extensions refuses a request without one. The header never reaches the upstream:
an allow tells Envoy to remove it.
"""

from __future__ import annotations

from collections.abc import Mapping

from envoy.service.auth.v3 import external_auth_pb2  # type: ignore[import-untyped]

from behalf.common.callers import Caller
from behalf.common.errors import InvalidArgument, Unauthenticated
from behalf.verifier.api import Verifier
from behalf.verifier.credentials import require_key_scope, require_verify_role

AGENT_KEY_HEADER = "x-behalf-agent-key"
_REQUIREMENT = "agent_key"
_REQUIRED = "required"


def agent_key_of(check: external_auth_pb2.CheckRequest, headers: Mapping[str, str]) -> str | None:
    """The agent's key from the proxied request; None where the route lets the agent go
    without one, Unauthenticated where it requires one."""
    requirement = check.attributes.context_extensions.get(_REQUIREMENT, "")
    if requirement not in ("", _REQUIRED):
        raise InvalidArgument(f"context_extensions.{_REQUIREMENT}", f"must be {_REQUIRED!r}")
    key = headers.get(AGENT_KEY_HEADER)
    if key is None and requirement == _REQUIRED:
        raise Unauthenticated(f"{AGENT_KEY_HEADER}: missing: this route takes the agent's own key")
    return key


async def agent_bound_to(
    verifier: Verifier, proxy_token: str, agent_key: str, min_revision: int
) -> str:
    """The agent `agent_key` is bound to, once both keys check out; else Unauthenticated."""
    proxy = await verifier.known_caller_at(proxy_token, min_revision)
    require_verify_role(proxy)
    agent = await _agent_caller(verifier, agent_key, min_revision)
    if agent.tenant_id != proxy.tenant_id or agent.scope.agent_id is None:
        raise Unauthenticated(
            f"{AGENT_KEY_HEADER}: must be a verify key bound to one of this tenant's agents"
        )
    # The agent's key narrows what Envoy's may ask, never widens it (Checks are never tests).
    require_key_scope(proxy, agent_id=agent.scope.agent_id, test_mode=False)
    return agent.scope.agent_id


async def _agent_caller(verifier: Verifier, agent_key: str, min_revision: int) -> Caller:
    try:
        return await verifier.known_caller_at(agent_key, min_revision)
    except Unauthenticated as exc:
        raise Unauthenticated(f"{AGENT_KEY_HEADER}: {exc}") from None
