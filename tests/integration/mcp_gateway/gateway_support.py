"""Helpers of the gateway's integration tests: the agent's grants, the gateway's config, the
recording upstream, and an MCP client session to a `behalf-mcp` child over stdio or HTTP."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml
from mcp import ClientSession, StdioServerParameters, stdio_client, types
from mcp.client.streamable_http import streamable_http_client

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.stack import Stack, Tenant, coachella_grant

UPSTREAM = Path(__file__).with_name("upstream_server.py")
GATEWAY = Path(sys.executable).with_name("behalf-mcp")
KEY_VARIABLE = "MCP_TEST_VERIFY_KEY"
APPROVAL_ID = re.compile(r"approval_id: (apr_\w+)")


@dataclass(frozen=True)
class Passport:
    """An agent and the revision at which its grants are known to the verifier."""

    agent_id: str
    revision: int


def passport_for(stack: Stack, tenant: Tenant) -> Passport:
    """A new agent with the three grants the tests use, applied by the verifier."""
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(name="mcp-agent", kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    grants = [
        coachella_grant(agent.agent_id),
        coachella_grant(
            agent.agent_id,
            allowed_actions=["issue_refund"],
            max_amount=common_pb2.Money(amount_minor=10000, currency="USD"),
            requires_approval=True,
        ),
        coachella_grant(
            agent.agent_id,
            allowed_actions=["send_email"],
            resources=["example.org"],
            max_amount=None,
            requires_approval=True,
        ),
    ]
    revision = 0
    for grant in grants:
        revision = registry.GrantPermission(grant, metadata=tenant.admin, timeout=10).revision
    # Wait until the verifier has applied the grants (a test-mode question authorizes nothing).
    stack.verifier_stub().Verify(
        verifier_pb2.VerifyRequest(
            agent_id=agent.agent_id, action="purchase", test_mode=True, min_revision=revision
        ),
        metadata=tenant.verify,
        timeout=10,
    )
    return Passport(agent.agent_id, revision)


def approve(stack: Stack, tenant: Tenant, approval_id: str) -> None:
    """A human approves the pending approval."""
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=approval_id, approve=True, resolved_by="ana@tenant.example"
        ),
        metadata=tenant.admin,
        timeout=10,
    )


def write_config(
    folder: Path,
    stack: Stack,
    agent_id: str,
    *,
    verifier_target: str | None = None,
    upstream_url: str | None = None,
    more_tools: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """The gateway's YAML for the brief's scenario, fronting the recording upstream."""
    upstream: dict[str, Any]
    if upstream_url:
        upstream = {"name": "shop", "transport": "http", "url": upstream_url}
    else:
        upstream = {
            "name": "shop",
            "command": sys.executable,
            "args": [str(UPSTREAM)],
            "env": {"RECORD_FILE": str(folder / "calls.jsonl")},
        }
    config = {
        "agent_id": agent_id,
        "verifier": {
            "target": verifier_target or stack.verifiers[0].target,
            "registry_target": stack.registry.target,
            "api_key_env": KEY_VARIABLE,
            "timeout_seconds": 5,
        },
        "upstreams": [upstream],
        "tools": {
            "buy_ticket": {
                "action": "purchase",
                "resource": {"argument": "url", "extract": "url_host"},
                "amount": {"argument": "price", "times": "quantity"},
                "currency": {"constant": "USD"},
            },
            "refund": {
                "action": "issue_refund",
                "resource": {"argument": "url", "extract": "url_host"},
                "amount": {"argument": "amount"},
                "currency": {"constant": "USD"},
            },
            "send_email": {
                "action": "send_email",
                "resource": {"argument": "to", "extract": "email_domain"},
                "unchecked_arguments": ["subject", "body"],
            },
            **(more_tools or {}),
        },
        "unrestricted_tools": ["search_events"],
        **extra,
    }
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def recorded(folder: Path) -> list[dict[str, Any]]:
    """The calls the upstream received, in order."""
    path = folder / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def text(result: types.CallToolResult) -> str:
    """The result's text content."""
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def gateway_env(tenant: Tenant) -> dict[str, str]:
    return {KEY_VARIABLE: tenant.verify_key}


@asynccontextmanager
async def stdio_gateway(config: Path, tenant: Tenant) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session to `behalf-mcp --config config` run over stdio."""
    params = StdioServerParameters(
        command=str(GATEWAY), args=["--config", str(config)], env=gateway_env(tenant)
    )
    with (config.parent / "gateway.log").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def child(args: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    """A child process, once it accepts connections on `port`; stopped afterwards."""
    with log.open("w") as output:
        process = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{args[0]} exited:\n{log.read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session over streamable HTTP."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
