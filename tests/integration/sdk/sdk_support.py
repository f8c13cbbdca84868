"""Helpers of the SDK's integration tests: the `behalf` CLI, grants, and the example agent loop."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from behalf import ActionDenied, AsyncBehalf
from tests.harness.processes import OPERATOR_TOKEN
from tests.harness.stack import Stack, Tenant

EXAMPLE = Path(__file__).resolve().parents[3] / "sdk/python/examples/agent_loop.py"

PURCHASE = (
    "--template",
    "transactions.purchase",
    "--vendor",
    "coachella.com",
    "--max-amount",
    "800.00",
    "--currency",
    "USD",
    "--expires-in",
    "2h",
)


def cli_env(stack: Stack, key: str) -> dict[str, str]:
    """The environment that points the CLI (and the example) at the stack."""
    return {
        **os.environ,
        "BEHALF_API_KEY": key,
        "BEHALF_REGISTRY": stack.registry.target,
        "BEHALF_VERIFIER": stack.verifiers[0].target,
        "BEHALF_SERVICE_TOKEN": OPERATOR_TOKEN,  # the CLI's operator credential
    }


def behalf_cli(
    stack: Stack, key: str, *args: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `behalf` entry point (falling back to `python -m`-style import)."""
    exe = shutil.which("behalf", path=str(Path(sys.executable).parent)) or "behalf"
    return subprocess.run(
        [exe, *args],
        env=cli_env(stack, key),
        capture_output=True,
        text=True,
        timeout=60,
        input=input_text,
        check=False,
    )


def cli_json(stack: Stack, key: str, *args: str) -> dict:
    """`behalf --json ...`, which must succeed, as data."""
    result = behalf_cli(stack, key, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def agent_with_grant(stack: Stack, tenant: Tenant, *grant_args: str) -> tuple[str, int]:
    """A new agent with one permission; its id and the grant's revision."""
    agent = cli_json(stack, tenant.admin_key, "agents", "create", "sdk-agent")["agent"]
    granted = cli_json(
        stack, tenant.admin_key, "permissions", "grant", agent["agent_id"], *grant_args
    )
    return agent["agent_id"], int(granted["revision"])


async def demo_file(stack: Stack, tenant: Tenant, folder: Path) -> Path:
    """The example's demo.json: a verify key and an agent whose purchase grant (up to 800.00
    USD on coachella.com) the verifier has applied."""
    agent_id, revision = agent_with_grant(stack, tenant, *PURCHASE)
    async with AsyncBehalf(
        tenant.verify_key,
        target=stack.verifiers[0].target,
        registry_target=stack.registry.target,
        timeout=5,
    ) as client:  # any decision at the grant's revision proves the verifier has applied it
        with pytest.raises(ActionDenied) as applied:
            await client.verify(agent_id, "browse_web", min_revision=revision)
        assert applied.value.reason_code != "STALE_POLICY"
    demo = folder / "demo.json"
    demo.write_text(json.dumps({"verify_key": tenant.verify_key, "agent_id": agent_id}))
    return demo


async def run_example(
    python: str, stack: Stack, demo: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    """sdk/python/examples/agent_loop.py run by `python` against the stack."""
    env = {**cli_env(stack, ""), "BEHALF_DEMO_FILE": str(demo)}
    return await asyncio.to_thread(
        subprocess.run,
        [python, *flags, str(EXAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_example_output(result: subprocess.CompletedProcess[str]) -> None:
    """The loop charged 799.99, refused 800.01 before charging, and charged nothing else."""
    assert result.returncode == 0, result.stderr
    assert "charged 799.99 USD for weekend pass" in result.stdout
    assert "refused before charging: AMOUNT_EXCEEDS_LIMIT" in result.stdout
    assert "charged 800.01" not in result.stdout
    assert "charged 1 of 3 orders" in result.stdout
