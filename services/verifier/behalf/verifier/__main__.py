"""`behalf-verifier`: run the verifier service."""

from __future__ import annotations

from behalf.common.runner import run_service
from behalf.verifier.app import VerifierService
from behalf.verifier.settings import VerifierSettings


def main() -> None:
    run_service(
        "verifier",
        VerifierSettings.from_env,
        VerifierService,
        workers=lambda settings: settings.workers,
    )


if __name__ == "__main__":
    main()
