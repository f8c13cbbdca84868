"""Console browser-test fixtures: a real stack plus the console process, and headless Chromium.

Chromium comes from Debian (`apt-get install chromium`, tried once here when running as root);
Playwright's Python package drives it through `executable_path`, so nothing is downloaded.
Screenshots go to test-artifacts/console/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from behalf.v1 import registry_pb2, resources_pb2
from tests.harness.infra import free_port
from tests.harness.receiver import Receiver
from tests.harness.stack import bearer, start_stack, stop_stack
from tests.integration.console.browser_support import (
    CHROMIUM_ARGS,
    Console,
    chromium_path,
    read_log,
    start_console,
)

CONSOLE_SECRET = "console-test-secret-0123456789abcdefghij"


async def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"console exited {process.returncode}:\n{read_log(log)}")
            try:
                if (await client.get(url + "/sign-in")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"console not answering:\n{read_log(log)}")


@pytest.fixture(scope="module")
async def console(
    database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    """Registry, verifier, dispatcher, a tenant with an audit-read key, a webhook receiver and
    the console, all real processes."""
    log_dir = tmp_path_factory.mktemp("console-stack")
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    stack = await start_stack(
        database_url,
        kafka_bootstrap,
        log_dir,
        dispatcher=True,
        overrides=[
            ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("BEHALF_WEBHOOK_RETRY_TIERS", "1s"),
        ],
    )
    process = None
    try:
        tenant = stack.create_tenant("console-tenant")
        audit = stack.registry_stub().CreateApiKey(
            registry_pb2.CreateApiKeyRequest(name="audit", role=resources_pb2.ROLE_AUDIT_READ),
            metadata=bearer(tenant.admin_key),
            timeout=10,
        )
        port = free_port()
        env = {
            **stack.env,
            "BEHALF_CONSOLE_PORT": str(port),
            "BEHALF_REGISTRY_TARGET": stack.registry.target,
            "BEHALF_DISPATCHER_TARGET": stack.dispatcher.target if stack.dispatcher else "",
            "BEHALF_VERIFIER_TARGET": stack.verifiers[0].target,
            "BEHALF_CONSOLE_SECRET": CONSOLE_SECRET,
            # Sessions in the stack's database (schema `console`), as in production.
            "BEHALF_CONSOLE_DATABASE_URL": stack.env["BEHALF_DATABASE_URL"],
        }
        log_path = log_dir / "console.log"
        process = start_console(env, log_path)
        url = f"http://127.0.0.1:{port}"
        await _wait_http(url, process, log_path)
        yield Console(url, stack, tenant, audit.secret, log_path, receiver)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        await stop_stack(stack)
        server.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    """One headless Chromium for the module."""
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed and could not be installed (apt-get needs root)")
    async_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    async with async_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser, request: pytest.FixtureRequest) -> AsyncIterator[object]:
    """A fresh browser context (own cookies) and page; script errors fail the test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    new_page = await context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    new_page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" and "CSP" in msg.text else None,
    )
    new_page.script_errors = errors
    yield new_page
    await context.close()
