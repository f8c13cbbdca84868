"""The supervisor's metrics directory (behalf.common.metrics_dir): removed on exit, and swept
up by the next supervisor when a SIGKILL kept its owner from removing it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from behalf.common.metrics_dir import (
    LOCK_FILE,
    PREFIX,
    UNLOCKED_GRACE_SECONDS,
    metrics_directory,
    sweep_abandoned,
)

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from behalf.common.metrics_dir import metrics_directory
    with metrics_directory(sys.argv[1]) as path:
        print(path, flush=True)
        time.sleep(120)
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process (a supervisor, as far as the directory knows) holding a directory."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    path = Path(process.stdout.readline().strip())
    try:
        yield process, path
    finally:
        process.kill()
        process.wait()


def test_the_directory_is_locked_while_in_use_and_removed_after(tmp_path: Path) -> None:
    with metrics_directory(str(tmp_path)) as path:
        assert Path(path).parent == tmp_path and Path(path).name.startswith(PREFIX)
        assert (Path(path) / LOCK_FILE).is_file()
        assert sweep_abandoned(str(tmp_path)) == []
        assert Path(path).is_dir()
    assert list(tmp_path.iterdir()) == []


def test_the_directory_is_removed_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), metrics_directory(str(tmp_path)):
        raise RuntimeError("worker failed")
    assert list(tmp_path.iterdir()) == []


def test_a_live_supervisors_directory_survives_and_a_killed_ones_is_swept(
    tmp_path: Path, holder: tuple[subprocess.Popen[str], Path]
) -> None:
    process, path = holder
    (path / "counter_123.db").write_bytes(b"\0" * 4096)
    assert sweep_abandoned(str(tmp_path)) == []
    assert path.is_dir()

    process.send_signal(signal.SIGKILL)
    process.wait()
    assert path.is_dir(), "a SIGKILLed owner cannot clean up; the next supervisor must"
    assert sweep_abandoned(str(tmp_path)) == [str(path)]
    assert not path.exists()


def test_the_next_supervisor_sweeps_before_making_its_own(
    tmp_path: Path, holder: tuple[subprocess.Popen[str], Path]
) -> None:
    process, abandoned = holder
    process.kill()
    process.wait()
    with metrics_directory(str(tmp_path)) as path:
        assert not abandoned.exists()
        assert [p.name for p in tmp_path.iterdir()] == [Path(path).name]


def test_an_unlocked_directory_is_swept_only_once_it_is_old(tmp_path: Path) -> None:
    """One made but not yet locked (or left by a supervisor that died in between)."""
    fresh = tmp_path / f"{PREFIX}fresh"
    old = tmp_path / f"{PREFIX}old"
    fresh.mkdir()
    old.mkdir()
    long_ago = time.time() - UNLOCKED_GRACE_SECONDS - 1
    os.utime(old, (long_ago, long_ago))
    assert sweep_abandoned(str(tmp_path)) == [str(old)]
    assert fresh.is_dir() and not old.exists()


def test_only_this_services_directories_are_touched(tmp_path: Path) -> None:
    long_ago = time.time() - UNLOCKED_GRACE_SECONDS - 1
    other = tmp_path / "prometheus-multiproc"
    other.mkdir()
    a_file = tmp_path / f"{PREFIX}file"
    a_file.write_text("not a directory")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("x")
    link = tmp_path / f"{PREFIX}link"
    link.symlink_to(target, target_is_directory=True)
    for path in (other, a_file, target):
        os.utime(path, (long_ago, long_ago))
    assert sweep_abandoned(str(tmp_path)) == []
    assert other.is_dir() and a_file.is_file() and (target / "keep").is_file()
    assert link.is_symlink()
