"""deploy/local/kafka.sh checks its settings before it touches anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.infra import KAFKA_SCRIPT


def _status(tmp_path: Path, jit: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEHALF_KAFKA_DIR": str(tmp_path / "kafka"), "BEHALF_KAFKA_JIT": jit}
    return subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("jit", ["quick", "full"])
def test_both_jit_modes_are_accepted(tmp_path: Path, jit: str) -> None:
    result = _status(tmp_path, jit)
    assert (result.returncode, result.stdout.strip()) == (3, "stopped")


@pytest.mark.parametrize("jit", ["c2", "FULL", " full"])
def test_an_unknown_jit_mode_is_refused_by_name(tmp_path: Path, jit: str) -> None:
    result = _status(tmp_path, jit)
    assert result.returncode == 1
    assert "BEHALF_KAFKA_JIT must be quick or full" in result.stderr
    assert f"'{jit}'" in result.stderr
