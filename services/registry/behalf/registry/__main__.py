"""`behalf-registry`: run the registry service."""

from __future__ import annotations

from behalf.common.runner import run_service
from behalf.registry.app import RegistryService
from behalf.registry.settings import RegistrySettings


def main() -> None:
    run_service("registry", RegistrySettings.from_env, RegistryService)


if __name__ == "__main__":
    main()
