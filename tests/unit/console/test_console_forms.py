"""Console form validation: clear field messages, exact money, normalized resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from behalf.console import forms
from behalf.console.chart import OUTCOMES, bucket_counts, build_chart, counted_buckets
from behalf.v1 import resources_pb2

AGENT = "agt_" + "a" * 20


def test_agent_form_accepts_markup_as_plain_text() -> None:
    """Names may contain markup characters: escaping happens on output, not by refusing."""
    checked = forms.agent_form({"name": "<b>bot</b>", "kind": "external", "labels": "team=ops"})
    assert checked.ok and checked.value is not None
    assert checked.value.name == "<b>bot</b>"
    assert checked.value.kind == resources_pb2.AGENT_KIND_EXTERNAL
    assert dict(checked.value.labels) == {"team": "ops"}


def test_agent_form_names_each_bad_field() -> None:
    """Missing name, unknown kind and malformed labels each get a message."""
    checked = forms.agent_form({"name": " ", "kind": "robot", "labels": "no equals sign"})
    assert set(checked.errors) == {"name", "kind", "labels"}
    assert (
        forms.agent_form({"name": "n" * 201, "kind": "native"})
        .errors["name"]
        .startswith("must be at most")
    )


def test_grant_form_converts_money_exactly_and_normalizes_resources() -> None:
    """'799.99' USD is 79999 minor units; resources are normalized; lifetime in seconds."""
    checked = forms.grant_form(
        AGENT,
        {
            "template": "transactions.purchase",
            "resources": "Coachella.COM, *.Example.com",
            "max_amount": "799.99",
            "currency": "usd",
            "expires_in": "2",
            "expires_unit": "hours",
            "requires_approval": "yes",
        },
    )
    assert checked.ok and checked.value is not None
    request = checked.value
    assert request.max_amount.amount_minor == 79999 and request.max_amount.currency == "USD"
    assert list(request.resources) == ["coachella.com", "*.example.com"]
    assert request.expires_in.seconds == 7200
    assert request.requires_approval is True


def test_grant_form_refuses_bad_values() -> None:
    """Too many decimals, bad currency, bad wildcard and bad lifetime are refused."""
    checked = forms.grant_form(
        AGENT,
        {
            "template": "",
            "resources": "*.*.example.com",
            "max_amount": "1.005",
            "currency": "USD",
            "expires_in": "-1",
            "expires_unit": "days",
        },
    )
    assert set(checked.errors) == {"template", "resources", "max_amount", "expires_in"}
    assert forms.grant_form(AGENT, {"template": "x", "max_amount": "1", "currency": "ZZZ"}).errors
    for lifetime in ("\u00b2", "\u0661", "9" * 5000, "1e3"):  # never a 500
        odd = forms.grant_form(
            AGENT, {"template": "x", "expires_in": lifetime, "expires_unit": "days"}
        )
        assert "expires_in" in odd.errors, lifetime
    assert (
        "number"
        in forms.grant_form(
            AGENT, {"template": "x", "max_amount": "ten", "currency": "USD"}
        ).errors["max_amount"]
    )


def test_probe_form_checks_action_resource_and_amount() -> None:
    """A test-link request needs a lower_snake action; resource and amount are normalized."""
    checked = forms.probe_form(
        {
            "action": "purchase",
            "resource": "HTTPS://Shop.Example.com/x",
            "amount": "5",
            "currency": "USD",
        }
    )
    assert checked.ok and checked.value is not None
    assert checked.value.resource == "shop.example.com"
    assert checked.value.amount is not None and checked.value.amount.amount_minor == 500
    assert "action" in forms.probe_form({"action": "Buy Things"}).errors


def test_webhook_form_requires_http_urls_and_valid_event_types() -> None:
    """Only http(s) URLs with a host, and event types such as agent.* are accepted."""
    ok = forms.webhook_form({"url": "https://h.example.com/x", "event_types": "agent.*, *"})
    assert ok.ok and ok.value is not None and list(ok.value.event_types) == ["agent.*", "*"]
    bad = forms.webhook_form({"url": "javascript:alert(1)", "event_types": "Agent Created"})
    assert set(bad.errors) == {"url", "event_types"}


def test_decision_filters_validate_and_build_the_request() -> None:
    """Filters become ListDecisions fields; nonsense is reported per field."""
    checked = forms.decision_filters(
        {"agent_id": AGENT, "outcome": "DENY", "since": "2025-01-31T10:00"}
    )
    assert checked.ok and checked.value is not None
    request = checked.value.request(10)
    assert request.agent_id == AGENT and request.outcome == 2 and request.page_size == 10
    assert request.start_time.ToDatetime(tzinfo=UTC) == datetime(2025, 1, 31, 10, tzinfo=UTC)
    bad = forms.decision_filters(
        {"agent_id": "x", "outcome": "MAYBE", "reason_code": "NOPE", "since": "soon"}
    )
    assert set(bad.errors) == {"agent_id", "outcome", "reason_code", "since"}
    for since, until in (
        ("0001-01-01T00:00+01:00", ""),  # before year 1 in UTC
        ("", "9999-12-31T23:59-01:00"),  # after year 9999 in UTC
        ("", "0001-01-01T00:30"),  # the chart's hour before it is before year 1
    ):
        odd = forms.decision_filters({"since": since, "until": until})
        assert set(odd.errors) == {"since" if since else "until"}, (since, until)


def test_chart_buckets_points_and_stacks_bars() -> None:
    """Points fall into equal time slices per outcome; bars stack to the busiest bucket."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(minutes=12)
    points = [
        (start + timedelta(seconds=30), "ALLOW"),
        (start + timedelta(seconds=40), "DENY"),
        (start + timedelta(minutes=11), "DENY"),
        (end, "ALLOW"),  # outside [start, end)
    ]
    counts = bucket_counts(points, start, end, 12)
    assert counts[0] == {"ALLOW": 1, "REQUIRE_APPROVAL": 0, "DENY": 1}
    assert counts[11]["DENY"] == 1 and sum(sum(c.values()) for c in counts) == 3
    chart = build_chart(counts, start, end)
    assert chart.max_count == 2 and chart.totals == {"ALLOW": 1, "REQUIRE_APPROVAL": 0, "DENY": 2}
    first = [b for b in chart.bars if b.x == chart.bars[0].x]
    assert [b.outcome for b in first] == [o for o in OUTCOMES if o != "REQUIRE_APPROVAL"]
    assert first[1].y + first[1].height == first[0].y  # deny sits on top of allow
    assert build_chart(bucket_counts([], start, end, 12), start, end).empty


def test_chart_from_the_registrys_counts_matches_the_points() -> None:
    """CountDecisions rows (bucket start, outcome, count) fill the same buckets as counting the
    points would; rows outside the window or of unknown outcomes are left out."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=1)
    rows = [
        (start, "ALLOW", 40),
        (start, "DENY", 2),
        (start + timedelta(minutes=55), "REQUIRE_APPROVAL", 3),
        (start + timedelta(minutes=60), "ALLOW", 9),  # the bucket after the last
        (start + timedelta(minutes=5), "UNRECOGNIZED", 7),
    ]
    counts = counted_buckets(rows, start, end, 12)
    assert counts[0] == {"ALLOW": 40, "REQUIRE_APPROVAL": 0, "DENY": 2}
    assert counts[11] == {"ALLOW": 0, "REQUIRE_APPROVAL": 3, "DENY": 0}
    assert sum(sum(c.values()) for c in counts) == 45
    assert build_chart(counts, start, end).max_count == 42
