"""The SDK's wheel alone: built, installed into a fresh virtual environment with only its
declared dependencies, free of the server side, and running the example against the stack."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.stack import Stack, Tenant
from tests.integration.sdk.sdk_support import check_example_output, demo_file, run_example

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SERVER_SIDE = ("asyncpg", "aiokafka", "aiohttp", "jinja2", "httpx", "typer", "rich")


def _run(*command: str | Path, cwd: Path) -> str:
    """Run a build step; its output, or a failure that shows it."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _install_wheel_alone(folder: Path) -> Path:
    """Build the SDK's wheel from a clean copy of sdk/python and install it, with its declared
    dependencies pinned by constraints.txt, into a new venv; that venv's python."""
    source = folder / "sdk"
    shutil.copytree(
        REPO / "sdk/python",
        source,
        ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"),
    )
    dist = folder / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, source, cwd=folder)  # fmt: skip
    (wheel,) = dist.glob("behalf-*.whl")
    venv = folder / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=folder)
    python = venv / "bin/python"
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", REPO / "constraints.txt", wheel, cwd=folder)  # fmt: skip
    return python


async def test_sdk_wheel_installs_alone_and_runs_the_example(
    stack: Stack, tenant: Tenant, tmp_path: Path
) -> None:
    """The wheel brings no server library and no service, and the example agent loop run by the
    fresh venv's python charges the allowed order and refuses the one over the limit."""
    python = await asyncio.to_thread(_install_wheel_alone, tmp_path)

    listed = _run(python, "-m", "pip", "list", "--format=freeze", cwd=tmp_path)
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "behalf" in installed and "grpcio" in installed
    assert installed.isdisjoint(SERVER_SIDE), installed & set(SERVER_SIDE)
    probe = (
        "import importlib.util, behalf; "
        "print(behalf.__file__); "
        "print(importlib.util.find_spec('behalf.registry') is None)"
    )
    where, no_registry = _run(python, "-I", "-c", probe, cwd=tmp_path).split()
    assert Path(where).is_relative_to(tmp_path / "venv"), where
    assert no_registry == "True"

    demo = await demo_file(stack, tenant, tmp_path)
    result = await run_example(str(python), stack, demo, "-I")  # -I: nothing of the checkout
    check_example_output(result)
