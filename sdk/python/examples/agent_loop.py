"""A tiny agent loop against `make run`'s demo: it asks Behalf before every purchase.

    make run
    .venv/bin/python sdk/python/examples/agent_loop.py

The demo agent may buy on coachella.com up to 800.00 USD. The 799.99 ticket is charged; the
800.01 one raises `ActionDenied` before the charge code runs, so nothing is charged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from behalf import ActionDenied, ApprovalRequired, Behalf, VerificationUnavailable

DEMO = Path(
    os.environ.get("BEHALF_DEMO_FILE") or Path(__file__).resolve().parents[3] / ".run" / "demo.json"
)


@dataclass(frozen=True)
class Order:
    """What the agent wants to buy."""

    vendor: str
    item: str
    total: Decimal


def main() -> None:
    demo = json.loads(DEMO.read_text())
    charged: list[Order] = []
    with Behalf(
        api_key=demo["verify_key"],
        target=os.environ.get("BEHALF_VERIFIER", "127.0.0.1:50052"),
        registry_target=os.environ.get("BEHALF_REGISTRY", "127.0.0.1:50051"),
    ) as behalf:

        @behalf.guard(
            agent_id=demo["agent_id"],
            action="purchase",
            resource=lambda order: order.vendor,
            amount=lambda order: order.total,
            currency="USD",
        )
        def charge(order: Order) -> None:
            # The code that acts: it runs only after an explicit ALLOW.
            charged.append(order)
            print(f"  charged {order.total} USD for {order.item} at {order.vendor}")

        orders = [
            Order("coachella.com", "weekend pass", Decimal("799.99")),
            Order("coachella.com", "VIP pass", Decimal("800.01")),
            Order("ticketmaster.com", "weekend pass", Decimal("120.00")),
        ]
        for order in orders:
            print(f"agent wants {order.item} at {order.vendor} for {order.total} USD")
            try:
                charge(order)
            except ActionDenied as denied:
                print(f"  refused before charging: {denied.reason_code} ({denied.reason})")
            except ApprovalRequired as pending:
                print(f"  needs a human: approval {pending.approval_id}")
            except VerificationUnavailable as error:
                print(f"  no answer from Behalf, not charging: {error}")
    print(f"charged {len(charged)} of {len(orders)} orders")


if __name__ == "__main__":
    main()
