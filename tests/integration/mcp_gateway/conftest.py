"""One real stack (registry, verifier, PostgreSQL, Kafka) for the MCP gateway's tests, and an
agent whose passport the gateway checks calls against."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.stack import Stack, Tenant, start_stack, stop_stack
from tests.integration.mcp_gateway.gateway_support import Passport, passport_for


@pytest.fixture(scope="package")
async def stack(
    database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Registry and verifier processes for every test in this folder."""
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("mcp"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="package")
def tenant(stack: Stack) -> Tenant:
    """A tenant with admin and verify keys."""
    return stack.create_tenant("mcp")


@pytest.fixture
def passport(stack: Stack, tenant: Tenant) -> Passport:
    """A fresh agent: purchase on coachella.com up to 800.00 USD; refunds there up to 100.00
    USD and e-mail to example.org, each with a human's approval."""
    return passport_for(stack, tenant)
