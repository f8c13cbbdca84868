"""Helpers of the console browser tests: Chromium discovery, the Console handle, sign-in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness.infra import REPO_ROOT
from tests.harness.receiver import Receiver
from tests.harness.stack import Stack, Tenant

ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's Chromium, installed with apt-get if missing and we are root; else None."""
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.path.exists(candidate):
            return candidate
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            subprocess.run(command, env=env, check=False, capture_output=True, timeout=900)
    return shutil.which("chromium")


@dataclass
class Console:
    """The console process in front of one stack and one tenant."""

    url: str
    stack: Stack
    tenant: Tenant
    audit_key: str
    log_path: Path
    receiver: Receiver

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def shot(page, name: str) -> None:
    """Save a full-page screenshot as test-artifacts/console/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def sign_in(page, console: Console, key: str | None = None) -> None:
    await page.goto(console.url + "/sign-in")
    await page.fill("#api_key", key or console.tenant.admin_key)
    await page.fill("#actor", "ops@example.com")
    await page.click("#sign-in")
    await page.wait_for_url("**/agents")


def start_console(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m behalf.console` with its output in `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "behalf.console"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )


def read_log(path: Path) -> str:
    return path.read_text(errors="replace")
