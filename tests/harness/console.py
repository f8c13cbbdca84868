"""The console in-process, against a test stack's registry and verifier, signed in as a key."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer

from behalf.console.app import create_app
from behalf.console.settings import ConsoleSettings
from tests.harness.stack import Stack


async def console_client(stack: Stack) -> TestClient:
    """A started test client of a console bound to loopback (cookies not Secure)."""
    settings = ConsoleSettings(
        host="127.0.0.1",
        port=0,
        registry_target=stack.registry.target,
        dispatcher_target=stack.registry.target,  # never called by these tests
        verifier_target=stack.verifiers[0].target,
        secret=b"s" * 40,
        log_level="INFO",
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match is not None
    return match[1]


async def signed_in(client: TestClient, key: str) -> str:
    """Sign in with `key`; the approvals page it lands on."""
    page = await (await client.get("/sign-in")).text()
    signed = await client.post(
        "/sign-in", data={"csrf_token": csrf_of(page), "api_key": key, "next": "/approvals"}
    )
    assert signed.status == 200 and signed.url.path == "/approvals", await signed.text()
    return await signed.text()
