"""What one delivery attempt did: the HTTP client reports it, the store records it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AttemptOutcome:
    """What one POST did; `status_code` is 0 when nothing answered."""

    started_at: datetime
    status_code: int
    latency_seconds: float
    error: str
    response_body: str
    retry_after: float | None = None
    permanent: bool = False  # retrying cannot help (refused target address)

    @property
    def succeeded(self) -> bool:
        """The endpoint took the delivery: it answered 2xx."""
        return 200 <= self.status_code < 300
