"""The verifier with its audit publish replaced by nothing: the benchmark's audit-free point.

    python bench/unaudited_verifier.py      (settings from the environment, as behalf-verifier)

Only the benchmark runs this, to separate what the Kafka audit costs Verify from what the RPC
and the decision cost. Production has no setting that turns the audit off: an allow without an
audit record is exactly what the verifier must never give.
"""

from __future__ import annotations

from behalf.common.runner import run_service
from behalf.v1 import events_pb2
from behalf.verifier.app import VerifierService
from behalf.verifier.audit import DecisionPublisher
from behalf.verifier.settings import VerifierSettings


class NoAudit(DecisionPublisher):
    """Accepts every decision at once and sends nothing."""

    def __init__(self) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, event: events_pb2.DecisionEvent) -> None:
        pass


class UnauditedVerifier(VerifierService):
    def audit_trail(self) -> DecisionPublisher:
        return NoAudit()


if __name__ == "__main__":
    run_service("verifier", VerifierSettings.from_env, UnauditedVerifier)
