"""How the CLI shows the audit trail: a test decision is marked as one, and `follow` prints
every decision however many arrive between two polls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from behalf.cli import app
from behalf.cli._context import Settings, as_dict
from behalf.cli._decisions import _DECISION_COLUMNS
from behalf.v1 import common_pb2, events_pb2, registry_pb2


def _test_allow() -> events_pb2.DecisionEvent:
    event = events_pb2.DecisionEvent(
        event_id="evt_" + "a" * 20,
        tenant_id="ten_" + "b" * 20,
        agent_id="agt_" + "c" * 20,
        action="purchase",
        resource="coachella.com",
        amount=common_pb2.Money(amount_minor=79999, currency="USD"),
        test_mode=True,
        decision=common_pb2.Decision(
            request_id="req-1",
            outcome=common_pb2.OUTCOME_ALLOW,
            reason_code=common_pb2.REASON_CODE_ALLOWED,
            test_mode=True,
        ),
    )
    event.decision.decide_time.FromSeconds(1_760_000_000)
    return event


def test_a_test_decision_reads_as_one_in_the_table() -> None:
    """`decisions list` and `follow` mark a test decision, which authorized nothing, as `TEST
    ALLOW` (before, a plain ALLOW an operator would take for a real purchase)."""
    cells = {name: get(as_dict(_test_allow())) for name, get in _DECISION_COLUMNS}
    assert cells["outcome"] == "TEST ALLOW"
    real = _test_allow()
    real.test_mode = real.decision.test_mode = False
    assert dict((name, get(as_dict(real))) for name, get in _DECISION_COLUMNS)["outcome"] == "ALLOW"


class _FakeRegistry:
    """ListDecisions as the registry answers it: the tenant's decisions at or after start_time,
    newest first, `page_size` at a time, with a next_page_token while more remain."""

    def __init__(self, events: list[events_pb2.DecisionEvent]) -> None:
        self.events = events
        self.calls = 0

    def ListDecisions(self, request, metadata=None, timeout=None):
        self.calls += 1
        if self.calls > 3:
            raise KeyboardInterrupt  # the operator stops following
        start = request.start_time.ToDatetime() if request.HasField("start_time") else None
        rows = [
            e for e in self.events if start is None or e.decision.decide_time.ToDatetime() >= start
        ]
        rows.sort(key=lambda e: (e.decision.decide_time.ToNanoseconds(), e.event_id), reverse=True)
        offset = int(request.page_token or 0)
        size = request.page_size or 50
        page = rows[offset : offset + size]
        reply = registry_pb2.ListDecisionsResponse(decisions=page)
        if offset + size < len(rows):
            reply.next_page_token = str(offset + size)
        return reply


def test_follow_prints_every_decision_of_a_burst_past_one_page(monkeypatch) -> None:
    """600 decisions audited within one poll (an agent floods 599 right after the purchase it
    wants to hide): `decisions follow` pages through them all (before, it read the newest 500
    and never printed the first 100)."""
    base = datetime.now(UTC) + timedelta(seconds=5)  # decided after `follow` started
    events = []
    for n in range(600):
        event = _test_allow()
        event.test_mode = event.decision.test_mode = False
        event.event_id = f"evt_{n:020d}"
        event.decision.request_id = f"req-{n}"
        event.decision.decide_time.FromDatetime(base + timedelta(microseconds=n * 1000))
        events.append(event)
    fake = _FakeRegistry(events)
    monkeypatch.setattr(Settings, "registry_stub", lambda self: fake)
    result = CliRunner().invoke(
        app, ["--json", "--api-key", "bhk_x", "decisions", "follow", "--interval", "0"]
    )
    shown = {json.loads(line)["event_id"] for line in result.stdout.splitlines() if line.strip()}
    missing = sorted({e.event_id for e in events} - shown)
    assert not missing, f"{len(missing)} audited decisions never shown, e.g. {missing[:3]}"
