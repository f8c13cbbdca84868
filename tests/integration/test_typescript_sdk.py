"""The TypeScript SDK (`sdk/typescript`, `@behalf/sdk`) against the real verifier and registry.

Starts the real stack, seeds an agent that may purchase on coachella.com up to 80000 minor USD
(and one whose purchases need approval), then builds the SDK and runs its Node integration tests
(`node --test dist/test/integration/`) with the targets, keys and ids in the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import duration_pb2

from behalf.v1 import common_pb2, registry_pb2, resources_pb2
from tests.harness.infra import REPO_ROOT
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

SDK_DIR: Path = REPO_ROOT / "sdk" / "typescript"
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),  # a first `npm ci` downloads the SDK's dependencies
    pytest.mark.skipif(
        NODE is None or NPM is None,
        reason="node and npm are needed to build and test the TypeScript SDK (not on PATH)",
    ),
]


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("ts-sdk"))
    yield stack
    await stop_stack(stack)


def _agent(stack: Stack, tenant: Tenant, name: str) -> str:
    reply = stack.registry_stub().CreateAgent(
        registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    )
    return reply.agent.agent_id


def _grant_purchase(
    stack: Stack, tenant: Tenant, agent_id: str, *, requires_approval: bool = False
) -> int:
    """Purchase on coachella.com up to 800.00 USD for two hours; returns the revision."""
    request = registry_pb2.GrantPermissionRequest(
        agent_id=agent_id,
        allowed_actions=["purchase"],
        resources=["coachella.com"],
        max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
        expires_in=duration_pb2.Duration(seconds=2 * 3600),
    )
    if requires_approval:
        request.requires_approval = True
    reply = stack.registry_stub().GrantPermission(request, metadata=tenant.admin, timeout=10)
    return reply.revision


def _run(
    command: list[str], env: dict[str, str], timeout: float, cwd: Path = SDK_DIR
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _explain(step: str, result: subprocess.CompletedProcess) -> str:
    return (
        f"{step} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


async def _step(
    step: str, command: list[str], env: dict[str, str], limit_s: float, cwd: Path = SDK_DIR
) -> str:
    result = await asyncio.to_thread(_run, command, env, limit_s, cwd)
    assert result.returncode == 0, _explain(step, result)
    return result.stdout


def _check_summary(stdout: str) -> None:
    """The node runner's summary: something passed, nothing failed or skipped."""
    summary = re.findall(r"^# (pass|fail|cancelled) (\d+)$", stdout, re.M)
    counts = {name: int(value) for name, value in summary}
    assert counts.get("fail") == 0 and counts.get("cancelled") == 0, stdout
    assert counts.get("pass", 0) > 0, "no TypeScript test ran:\n" + stdout
    assert "# SKIP" not in stdout, "a TypeScript test was skipped:\n" + stdout


@pytest.fixture(scope="module")
async def built_sdk() -> dict[str, str]:
    """`npm ci` (when node_modules is missing) and `npm run build`, once per module."""
    assert NPM is not None
    env = {**os.environ, "NO_COLOR": "1"}
    if not (SDK_DIR / "node_modules").is_dir():
        await _step("npm ci", [NPM, "ci", "--no-audit", "--no-fund"], env, 600)
    await _step("npm run build", [NPM, "run", "build"], env, 300)
    return env


async def test_typescript_sdk_generated_code_is_fresh(built_sdk: dict[str, str]) -> None:
    """src/gen is what `npm run gen` (buf + ts-proto from npm) makes of protos/ today."""
    assert NPM is not None
    await _step("npm run gen:check", [NPM, "run", "gen:check"], built_sdk, 300)


async def test_typescript_sdk_unit_tests(built_sdk: dict[str, str]) -> None:
    """Amount validation, error mapping, deadlines, approvals, guard and test mode against a
    fake server."""
    assert NODE is not None
    stdout = await _step("node --test", [NODE, "--test", "dist/test/unit/"], built_sdk, 300)
    _check_summary(stdout)


async def test_typescript_sdk_against_real_verifier(
    stack: Stack, built_sdk: dict[str, str]
) -> None:
    """Allow under the limit, AMOUNT_EXCEEDS_LIMIT over it, unknown key, guard on deny, check
    in test mode, approval wait, verifier down: all through `@behalf/sdk` against the real
    services."""
    assert NODE is not None
    tenant = stack.create_tenant("ts-sdk")
    agent_id = _agent(stack, tenant, "ts-ticket-buyer")
    approval_agent_id = _agent(stack, tenant, "ts-careful-buyer")
    revision = max(
        _grant_purchase(stack, tenant, agent_id),
        _grant_purchase(stack, tenant, approval_agent_id, requires_approval=True),
    )
    env = {
        **built_sdk,
        "BEHALF_TARGET": stack.verifiers[0].target,
        "BEHALF_HTTP_URL": stack.verifiers[0].http_url,
        "BEHALF_API_KEY": tenant.verify_key,
        "BEHALF_AGENT_ID": agent_id,
        "BEHALF_MIN_REVISION": str(revision),
        "BEHALF_REGISTRY_TARGET": stack.registry.target,
        "BEHALF_ADMIN_KEY": tenant.admin_key,
        "BEHALF_APPROVAL_AGENT_ID": approval_agent_id,
    }
    stdout = await _step("node --test", [NODE, "--test", "dist/test/integration/"], env, 300)
    _check_summary(stdout)


BRIEF_SNIPPET = """
const { Behalf } = require("@behalf/sdk");
const behalf = new Behalf({ apiKey: process.env.BEHALF_API_KEY, baseUrl: process.env.BEHALF_URL });
behalf
  .verify({ agentId: process.env.BEHALF_AGENT_ID, action: "purchase", vendor: "coachella.com",
            amount: 799.99, currency: "USD", minRevision: process.env.BEHALF_MIN_REVISION })
  .then((result) => console.log(JSON.stringify({ allowed: result.outcome === "ALLOW",
                                                 reason: result.reason, risk: result.risk })))
  .catch((error) => { console.error(error); process.exit(1); });
"""


async def test_the_packed_sdk_installs_alone_and_runs_the_brief(
    stack: Stack, built_sdk: dict[str, str], tmp_path: Path
) -> None:
    """`npm pack`, then the tarball installed into an empty project with nothing else: the
    brief's snippet (package and class names changed) verifies over HTTP against the real
    verifier."""
    assert NPM is not None and NODE is not None
    packed = await _step(
        "npm pack", [NPM, "pack", "--json", "--pack-destination", str(tmp_path)], built_sdk, 300
    )
    tarball = tmp_path / json.loads(packed)[0]["filename"]
    project = tmp_path / "agent-app"
    project.mkdir()
    (project / "package.json").write_text('{"name": "agent-app", "private": true}\n')
    (project / "verify.js").write_text(BRIEF_SNIPPET)
    install = [NPM, "install", "--no-audit", "--no-fund", str(tarball)]
    await _step("npm install <tarball>", install, built_sdk, 600, cwd=project)
    assert (project / "node_modules" / "@behalf" / "sdk" / "dist" / "src" / "index.d.ts").exists()
    tenant = stack.create_tenant("ts-packed")
    agent_id = _agent(stack, tenant, "packed-buyer")
    revision = _grant_purchase(stack, tenant, agent_id)
    env = {
        **built_sdk,
        "BEHALF_URL": stack.verifiers[0].http_url,
        "BEHALF_API_KEY": tenant.verify_key,
        "BEHALF_AGENT_ID": agent_id,
        "BEHALF_MIN_REVISION": str(revision),
    }
    stdout = await _step("node verify.js", [NODE, "verify.js"], env, 60, cwd=project)
    result = json.loads(stdout)
    assert result["allowed"] is True and result["risk"] in {"LOW", "MEDIUM", "HIGH"}
