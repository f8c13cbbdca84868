"""One real stack (registry, verifier, PostgreSQL, Kafka) shared by the SDK's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.stack import Stack, Tenant, start_stack, stop_stack


@pytest.fixture(scope="package")
async def stack(
    database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Registry and verifier processes for every test in this folder."""
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("sdk"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="package")
def tenant(stack: Stack) -> Tenant:
    """A tenant with admin and verify keys."""
    return stack.create_tenant("sdk")
