"""`behalf-dispatcher`: run the dispatcher service."""

from __future__ import annotations

from behalf.common.runner import run_service
from behalf.dispatcher.app import DispatcherService
from behalf.dispatcher.settings import DispatcherSettings


def main() -> None:
    run_service("dispatcher", DispatcherSettings.from_env, DispatcherService)


if __name__ == "__main__":
    main()
