"""The workers' prometheus_client multiprocess directory, and sweeping up the ones whose
supervisor died.

prometheus_client wants the directory wiped between runs. A supervisor removes its own when it
exits, but one that is SIGKILLed (the OOM killer, the kubelet after the grace period) cannot.
In a pod, /tmp is an emptyDir with a size limit that outlives the container, so every such
restart would leave another directory of memory-mapped files behind until the kubelet evicts
the pod. So each supervisor holds an flock on a file in its directory for as long as it lives
(the kernel drops it however the process ends), and the next one to start removes every
directory whose lock it can take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import structlog

PREFIX = "behalf-metrics-"
LOCK_FILE = ".supervisor.lock"
# A directory is locked microseconds after it is made; one still without a lock after this
# long was left by a supervisor that died in between (or predates the lock).
UNLOCKED_GRACE_SECONDS = 60.0
_log = structlog.get_logger("metrics_dir")


@contextlib.contextmanager
def metrics_directory(parent: str | None = None) -> Iterator[str]:
    """A fresh directory under `parent` (default: the temp dir), locked while the block runs
    and removed after it; abandoned ones found there are removed first."""
    parent = parent or tempfile.gettempdir()
    sweep_abandoned(parent)
    path = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
    lock_fd = _lock(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock_fd)


def sweep_abandoned(parent: str) -> list[str]:
    """Remove this user's metrics directories under `parent` that no live supervisor holds;
    return their paths."""
    removed = []
    with os.scandir(parent) as entries:
        candidates = [
            entry.path
            for entry in entries
            if entry.name.startswith(PREFIX)
            and entry.is_dir(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_uid == os.geteuid()
        ]
    for path in candidates:
        if _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        _log.info("abandoned_metrics_dirs_removed", count=len(removed), parent=parent)
    return removed


def _lock(path: str) -> int:
    """Lock a file under a temporary name, then rename it into place, so a sweeper never finds
    `LOCK_FILE` before it is locked."""
    pending = os.path.join(path, LOCK_FILE + ".new")
    fd = os.open(pending, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(pending, os.path.join(path, LOCK_FILE))
    return fd


def _abandoned(path: str) -> bool:
    try:
        fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        with contextlib.suppress(FileNotFoundError):
            return time.time() - os.stat(path).st_mtime > UNLOCKED_GRACE_SECONDS
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
