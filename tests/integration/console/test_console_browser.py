"""The web console in headless Chromium against real registry, verifier, dispatcher, PG, Kafka."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from behalf.v1 import common_pb2, registry_pb2, verifier_pb2
from tests.harness.stack import bearer
from tests.integration.console.browser_support import Console, shot, sign_in

pytestmark = pytest.mark.integration

XSS_NAME = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
XSS_DESCRIPTION = '"><svg onload="window.__xss = 3"></svg><script>window.__xss = 4</script>'


def current_revision(console: Console) -> int:
    return (
        console.stack.registry_stub()
        .GetTenant(registry_pb2.GetTenantRequest(), metadata=console.tenant.admin, timeout=10)
        .revision
    )


def verify(
    console: Console,
    agent_id: str,
    action: str,
    resource: str,
    amount_minor: int | None = None,
    approval_id: str = "",
) -> common_pb2.Decision:
    request = verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action=action,
        resource=resource,
        approval_id=approval_id,
        min_revision=current_revision(console),
    )
    if amount_minor is not None:
        request.amount.CopyFrom(common_pb2.Money(amount_minor=amount_minor, currency="USD"))
    return (
        console.stack.verifier_stub()
        .Verify(request, metadata=console.tenant.verify, timeout=10)
        .decision
    )


async def create_agent(page, console: Console, name: str, kind: str = "native", **extra) -> str:
    await page.goto(console.url + "/agents")
    await page.fill("#name", name)
    await page.check(f"input[name=kind][value={kind}]")
    if "description" in extra:
        await page.fill("#description", extra["description"])
    await page.click("#create-agent-submit")
    await page.wait_for_url(re.compile(r".*/agents/agt_[0-9a-z]{20}$"))
    return page.url.rsplit("/", 1)[1]


async def grant(page, template: str, resources: str = "", max_amount: str = "", **extra) -> None:
    await page.select_option("#template", template)
    await page.fill("#resources", resources)
    await page.fill("#max_amount", max_amount)
    if extra.get("requires_approval"):
        await page.select_option("#requires_approval", extra["requires_approval"])
    if extra.get("expires_in"):
        await page.fill("#expires_in", extra["expires_in"])
        await page.select_option("#expires_unit", extra.get("expires_unit", "hours"))
    await page.click("#grant-submit")
    await page.wait_for_selector(".flash.ok")


async def test_sign_in_keeps_the_key_server_side(page, console: Console) -> None:
    """A wrong key is refused with a message; an admin key signs in, and the key appears
    neither in the page nor in a cookie nor in the console's log; the cookie is HttpOnly and
    SameSite=Strict."""
    await page.goto(console.url + "/agents")
    await page.wait_for_url("**/sign-in?next=/agents")
    await page.fill("#api_key", "bhk_admin_" + "x" * 43)
    await page.click("#sign-in")
    assert "not accepted" in await page.inner_text("#err-api_key")
    assert await page.input_value("#api_key") == ""
    await shot(page, "01-sign-in-refused")
    await sign_in(page, console)
    assert await page.inner_text("#tenant-name") == "console-tenant"
    assert console.tenant.admin_key not in await page.content()
    cookies = await page.context.cookies()
    assert [c["name"] for c in cookies] == ["behalf_console"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert cookies[0]["secure"] is False  # the console is bound to loopback: plain http works
    assert console.tenant.admin_key not in cookies[0]["value"]
    await shot(page, "02-agents-signed-in")
    await page.click("#sign-out")
    await page.wait_for_url("**/sign-in")
    await page.goto(console.url + "/agents")
    await page.wait_for_url("**/sign-in?next=/agents")
    assert console.tenant.admin_key not in console.log()
    assert page.script_errors == []


async def test_pages_carry_a_strict_content_security_policy(page, console: Console) -> None:
    """Every page is served with a CSP that allows scripts only from the console itself, and
    with the other hardening headers."""
    response = await page.goto(console.url + "/sign-in")
    headers = await response.all_headers()
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    await sign_in(page, console)
    signed_in = await page.goto(console.url + "/decisions")
    assert (await signed_in.all_headers())["content-security-policy"] == csp
    ran = await page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inline = 1";
            document.body.appendChild(script);
            return window.__inline === 1;
        }"""
    )
    assert not ran, "an inline script must be refused by the CSP"


async def test_script_injection_in_agent_name_and_description_is_escaped(
    page, console: Console
) -> None:
    """An agent named and described with markup shows that markup as text on the list and
    passport pages, and none of it runs."""
    await sign_in(page, console)
    agent_id = await create_agent(
        page, console, XSS_NAME, kind="external", description=XSS_DESCRIPTION
    )
    assert await page.inner_text("#agent-name") == XSS_NAME
    assert await page.inner_text("#agent-description") == XSS_DESCRIPTION
    await shot(page, "03-xss-passport")
    await page.goto(console.url + "/agents")
    row = page.locator(f"tr[data-agent-id={agent_id}]")
    assert await row.locator(".agent-name").inner_text() == XSS_NAME
    assert await row.locator(".description").inner_text() == XSS_DESCRIPTION
    await shot(page, "04-xss-agents")
    await page.goto(console.url + f"/agents/{agent_id}/confirm?action=disable")
    assert XSS_NAME in await page.inner_text("h1")
    assert await page.evaluate("() => window.__xss") is None
    assert await page.locator("main script, main img, main svg").count() == 0


async def test_create_agent_validates_on_the_server(page, console: Console) -> None:
    """An empty or oversize name is refused with a message next to the field; nothing is
    created."""
    await sign_in(page, console)
    await page.goto(console.url + "/agents")
    # bypass the browser's maxlength to reach the server's check
    await page.evaluate("() => document.getElementById('name').removeAttribute('maxlength')")
    await page.fill("#name", "n" * 201)
    await page.click("#create-agent-submit")
    assert "at most 200" in await page.inner_text("#err-name")
    await page.fill("#name", "   ")
    await page.click("#create-agent-submit")
    assert "required" in await page.inner_text("#err-name")
    await shot(page, "05-create-agent-invalid")


async def test_grant_from_template_shows_constraints_and_countdown_then_revoke(
    page, console: Console
) -> None:
    """A grant from the transactions template shows its actions, resources, limit and a
    ticking expiry countdown; revoking it (after confirming) removes it from the passport."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "ticket buyer")
    # The catalogue beside the form says what each template allows, blocks and defaults to.
    await page.click("#template-catalogue summary")
    read_only = await page.inner_text('#template-catalogue tr[data-template="data_access.read"]')
    assert "data_access.read v2" in read_only and "export_data" in read_only
    sending = await page.inner_text('#template-catalogue tr[data-template="messaging.send"]')
    assert "required" in sending and "not required" not in sending
    purchase = await page.inner_text(
        '#template-catalogue tr[data-template="transactions.purchase"]'
    )
    assert "30 days" in purchase and "issue_refund" in purchase
    await grant(
        page,
        "transactions.purchase",
        resources="coachella.com, *.ticketmaster.com",
        max_amount="800",
        expires_in="2",
        expires_unit="hours",
    )
    row = page.locator("#permissions tbody tr").first
    text = await row.inner_text()
    assert "purchase" in text and "coachella.com" in text and "*.ticketmaster.com" in text
    assert "800.00 USD" in text
    countdown = row.locator("time.countdown")
    first = await countdown.inner_text()
    assert re.match(r"^1h 59m$|^2h 0m$", first), first
    await shot(page, "06-passport-granted")
    decision = verify(console, agent_id, "purchase", "coachella.com", 50000)
    assert decision.outcome == common_pb2.OUTCOME_ALLOW

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await row.locator("button.revoke").click()
    await page.wait_for_selector(".flash.ok >> text=revoked")
    assert "No active permissions" in await page.inner_text("#permissions")
    decision = verify(console, agent_id, "purchase", "coachella.com", 50000)
    assert decision.reason_code == common_pb2.REASON_CODE_NO_PERMISSION


async def test_an_agent_moves_to_test_mode_and_back_to_enforcement(page, console: Console) -> None:
    """The passport's mode control, after a confirmation: in test mode the verifier answers
    test decisions only; moved to enforcement, real ones."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "zapier flow", kind="external")
    await grant(page, "data_access.read", resources="mail.example.com")
    assert "enforced" in await page.inner_text("#agent-mode")
    await page.click("#test-agent")
    await page.wait_for_url("**/confirm?action=test")
    await page.click("#confirm")
    await page.wait_for_url(f"**/agents/{agent_id}")
    assert "TEST" in await page.inner_text("#agent-mode")
    decision = verify(console, agent_id, "read_email", "mail.example.com")
    assert decision.outcome == common_pb2.OUTCOME_ALLOW and decision.test_mode
    await page.click("#enforce-agent")
    await page.wait_for_url("**/confirm?action=enforce")
    await page.click("#confirm")
    await page.wait_for_url(f"**/agents/{agent_id}")
    assert "enforced" in await page.inner_text("#agent-mode")
    decision = verify(console, agent_id, "read_email", "mail.example.com")
    assert decision.outcome == common_pb2.OUTCOME_ALLOW and not decision.test_mode


async def test_grant_form_refuses_bad_amount_and_resource(page, console: Console) -> None:
    """A fractional-cent amount and a malformed wildcard are refused with field messages."""
    await sign_in(page, console)
    await create_agent(page, console, "careful buyer")
    await page.select_option("#template", "transactions.purchase")
    await page.fill("#resources", "*.*.example.com")
    await page.fill("#max_amount", "1.005")
    await page.click("#grant-submit")
    assert "2 decimals" in await page.inner_text("#err-max_amount")
    assert "wildcard" in (await page.inner_text("#err-resources")).lower() or "*" in (
        await page.inner_text("#err-resources")
    )
    await shot(page, "07-grant-invalid")


async def test_disable_and_enable_need_confirmation(page, console: Console) -> None:
    """Disable goes through a confirmation page, then the verifier denies AGENT_DISABLED;
    enable restores it."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "kill switch target")
    await grant(page, "data_access.read", resources="*")
    await page.click("#disable-agent")
    await page.wait_for_url("**/confirm?action=disable")
    await shot(page, "08-confirm-disable")
    await page.click("#confirm")
    await page.wait_for_url(f"**/agents/{agent_id}")
    assert "disabled" in await page.inner_text("#agent-state")
    assert "verifiers have applied it" in await page.inner_text(".flash.ok")
    decision = verify(console, agent_id, "read_email", "mail.example.com")
    assert decision.reason_code == common_pb2.REASON_CODE_AGENT_DISABLED
    await page.click("#enable-agent")
    await page.click("#confirm")
    await page.wait_for_url(f"**/agents/{agent_id}")
    assert "enabled" in await page.inner_text("#agent-state")
    decision = verify(console, agent_id, "read_email", "mail.example.com")
    assert decision.outcome == common_pb2.OUTCOME_ALLOW


async def test_approve_a_pending_approval_with_a_comment(page, console: Console) -> None:
    """A REQUIRE_APPROVAL decision shows up as pending; approving it with a comment records
    who and why, and the agent's retry with that approval id is allowed."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "needs a human")
    await grant(
        page, "transactions.purchase", resources="shop.example.com", requires_approval="yes"
    )
    asked = verify(console, agent_id, "purchase", "shop.example.com", 1999)
    assert asked.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    await page.goto(console.url + "/approvals")
    row = page.locator(f"tr[data-approval-id={asked.approval_id}]")
    assert "19.99 USD" in await row.inner_text()
    await row.locator("input[name=comment]").fill("within policy, ok")
    await shot(page, "09-approvals-pending")
    await row.locator("button.approve").click()
    await page.wait_for_selector(".flash.ok >> text=approved")
    await page.goto(console.url + "/approvals?state=APPROVED")
    approved = await page.locator(f"tr[data-approval-id={asked.approval_id}]").inner_text()
    assert "ops@example.com: within policy, ok" in approved
    await shot(page, "10-approvals-approved")
    retried = verify(
        console, agent_id, "purchase", "shop.example.com", 1999, approval_id=asked.approval_id
    )
    assert retried.reason_code == common_pb2.REASON_CODE_APPROVAL_CONSUMED


async def test_decisions_table_updates_live_and_filters(page, console: Console) -> None:
    """A decision made while the page is open appears without a reload, the chart counts it,
    the outcome filter hides it, and its detail page shows reason and risk."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "watched agent")
    await page.goto(console.url + "/decisions")
    decision = verify(console, agent_id, "purchase", "nowhere.example.com", 100)
    assert decision.reason_code == common_pb2.REASON_CODE_NO_PERMISSION
    row = page.locator(f"tr[data-request-id='{decision.request_id}']")
    await row.wait_for(timeout=30_000)
    assert "DENY" in await row.inner_text() and "NO_PERMISSION" in await row.inner_text()
    assert int(await page.inner_text("#total-deny")) >= 1
    assert await page.locator("#chart-svg rect[data-outcome=DENY]").count() >= 1
    await shot(page, "11-decisions-live")
    await page.goto(console.url + f"/decisions?agent_id={agent_id}&outcome=ALLOW")
    assert await page.locator(f"tr[data-request-id='{decision.request_id}']").count() == 0
    await page.goto(console.url + f"/decisions?agent_id={agent_id}&reason_code=NO_PERMISSION")
    await row.locator("a").first.click()
    await page.wait_for_url("**/decisions/event/evt_*")
    assert await page.inner_text("#reason-code") == "NO_PERMISSION"
    assert decision.reason in await page.inner_text("#reason")
    await shot(page, "12-decision-detail")
    await page.goto(console.url + "/decisions?since=yesterday")
    assert "date and time" in await page.inner_text("#err-since")


async def test_webhook_add_rotate_disable_enable_and_deliveries(page, console: Console) -> None:
    """Adding an endpoint shows its secret once; rotating shows a different one once; disable
    and enable flip its state; its deliveries list attempts; a dead delivery can be
    redriven."""
    await sign_in(page, console)
    await page.goto(console.url + "/webhooks")
    await page.fill("#url", console.receiver.url("/hooks"))
    await page.fill("#event_types", "agent.*")
    await page.fill("#description", "ops receiver")
    await page.click("#add-endpoint-submit")
    await page.wait_for_url(re.compile(r".*/webhooks/whe_[0-9a-z]{20}$"))
    endpoint_url = page.url
    first = await page.input_value("#signing-secret")
    assert first.startswith("whsec_")
    await shot(page, "13-webhook-added")
    await page.reload()
    assert await page.locator("#signing-secret").count() == 0
    assert first not in await page.content()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.click("#rotate")
    await page.wait_for_selector("#signing-secret")
    second = await page.input_value("#signing-secret")
    assert second.startswith("whsec_") and second != first
    await shot(page, "14-webhook-rotated")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.click("#disable-endpoint")
    await page.wait_for_selector("#enable-endpoint")
    assert "disabled" in await page.inner_text("#endpoint-state")
    await page.click("#enable-endpoint")
    await page.wait_for_selector("#disable-endpoint")

    await create_agent(page, console, "webhook trigger")
    deadline = time.monotonic() + 45
    while True:
        await page.goto(endpoint_url)
        rows = page.locator("#deliveries tbody tr[data-delivery-id]")
        if await rows.count() and "SUCCEEDED" in await rows.first.inner_text():
            break
        assert time.monotonic() < deadline, "no succeeded delivery listed"
        await asyncio.sleep(0.5)
    await shot(page, "15-webhook-deliveries")
    await rows.first.locator("a").click()
    await page.wait_for_selector("#attempts tbody tr")
    assert "200" in await page.inner_text("#attempts")
    assert await page.inner_text("#delivery-state") == "SUCCEEDED"
    await shot(page, "16-delivery-attempts")


async def test_manual_test_link_flow(page, browser, console: Console) -> None:
    """An admin makes a test link for an external agent; a person without a key opens it,
    asks about an action and sees the decision, reason and risk marked TEST; the audit table
    marks it TEST too; a tampered link is refused; after revocation the link stops working."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "Travel assistant <b>x</b>", kind="external")
    await grant(page, "transactions.purchase", resources="airline.example", max_amount="500")
    await page.select_option("#lifetime", "1h")
    await page.click("#create-link-submit")
    link = await page.input_value("#new-link-url")
    assert link.startswith(console.url + "/t/v1.")
    await shot(page, "17-test-link-created")
    await page.reload()
    assert await page.locator("#new-link-url").count() == 0
    assert await page.locator("#links tbody tr[data-link-id]").count() == 1

    visitor_context = await browser.new_context()
    visitor = await visitor_context.new_page()
    await visitor.goto(link)
    assert "TEST MODE" in await visitor.inner_text("#test-banner")
    assert "Travel assistant <b>x</b>" in await visitor.inner_text("h1")
    await visitor.fill("#action", "purchase")
    await visitor.fill("#resource", "airline.example")
    await visitor.fill("#amount", "650")
    await visitor.click("#probe-submit")
    result = visitor.locator("#probe-result")
    await result.wait_for()
    assert "TEST" in await result.inner_text()
    assert "DENY" in await result.inner_text()
    assert await visitor.inner_text("#probe-reason-code") == "AMOUNT_EXCEEDS_LIMIT"
    assert await visitor.inner_text("#probe-risk") in {"LOW", "MEDIUM", "HIGH"}
    assert await visitor.inner_text("#probe-reason")
    await shot(visitor, "18-test-link-deny")
    await visitor.fill("#amount", "120")
    await visitor.click("#probe-submit")
    await visitor.wait_for_selector("#probe-result .badge.outcome-allow")
    await shot(visitor, "19-test-link-allow")
    await visitor.fill("#action", "Not An Action")
    await visitor.click("#probe-submit")
    assert "lower_snake" in await visitor.inner_text("#err-action")

    await page.goto(console.url + f"/decisions?agent_id={agent_id}")
    rows = page.locator("#decision-rows tr[data-request-id]")
    await rows.first.wait_for()
    assert await rows.count() == 2
    for index in range(2):
        assert "TEST" in await rows.nth(index).inner_text()
    audited = (
        console.stack.registry_stub()
        .ListDecisions(
            registry_pb2.ListDecisionsRequest(agent_id=agent_id), metadata=console.tenant.admin
        )
        .decisions
    )
    assert len(audited) == 2 and all(d.decision.test_mode for d in audited)
    await rows.first.locator("a").first.click()
    assert "manual test link" in await page.inner_text(".flash.test")
    await shot(page, "20-test-decision-detail")

    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    refused = await visitor.goto(tampered)
    assert refused.status == 410
    assert "not valid" in await visitor.inner_text("#error-message")

    await page.goto(console.url + f"/agents/{agent_id}")
    await page.click("#links button.revoke-link")
    await page.wait_for_selector(".flash.ok >> text=revoked")
    assert "revoked" in await page.inner_text("#links")
    deadline = time.monotonic() + 10
    while True:
        await visitor.goto(link)
        await visitor.fill("#action", "purchase")
        await visitor.fill("#resource", "airline.example")
        await visitor.click("#probe-submit")
        if await visitor.locator("#error-message").count():
            assert "revoked" in await visitor.inner_text("#error-message")
            break
        assert time.monotonic() < deadline, "revoked link still answers"
        await asyncio.sleep(0.3)
    await shot(visitor, "21-test-link-revoked")
    await visitor_context.close()


async def test_native_agents_have_no_test_links(page, console: Console) -> None:
    """Test links are offered for external agents only, and the server refuses the rest."""
    await sign_in(page, console)
    agent_id = await create_agent(page, console, "native only")
    assert await page.locator("#test-links").count() == 0
    csrf = await page.input_value("#grant-form input[name=csrf_token]")
    response = await page.request.post(
        console.url + f"/agents/{agent_id}/test-links",
        form={"csrf_token": csrf, "lifetime": "1h"},
    )
    assert response.status == 400


async def test_forms_without_a_valid_csrf_token_are_refused(page, console: Console) -> None:
    """A state-changing form submitted without its CSRF token, or from another origin, is
    refused with a clear message and changes nothing."""
    await sign_in(page, console)
    await page.goto(console.url + "/agents")
    await page.fill("#name", "csrf victim")
    await page.evaluate(
        "() => document.querySelector('#create-agent input[name=csrf_token]').value = 'forged'"
    )
    await page.click("#create-agent-submit")
    assert "CSRF" in await page.inner_text("#error-message")
    await shot(page, "22-csrf-refused")
    csrf = await (await page.goto(console.url + "/agents")).text()
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', csrf)[1]
    cross = await page.request.post(
        console.url + "/agents",
        form={"csrf_token": token, "name": "cross site", "kind": "native"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status == 403
    listed = (
        console.stack.registry_stub()
        .ListAgents(registry_pb2.ListAgentsRequest(page_size=500), metadata=console.tenant.admin)
        .agents
    )
    assert not {"csrf victim", "cross site"} & {a.name for a in listed}


async def test_audit_read_key_sees_but_cannot_change(page, console: Console) -> None:
    """An audit-read key signs in, sees agents and decisions, gets no forms, and a forged
    mutation is refused by the console."""
    await sign_in(page, console, console.audit_key)
    assert "audit-read" in await page.inner_text(".badge.role")
    assert await page.locator("#create-agent").count() == 0
    await page.goto(console.url + "/decisions")
    html = await (await page.goto(console.url + "/agents")).text()
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)[1]
    refused = await page.request.post(
        console.url + "/agents", form={"csrf_token": token, "name": "nope", "kind": "native"}
    )
    assert refused.status == 403
    await shot(page, "23-audit-read")


async def test_a_verify_key_cannot_sign_in(page, console: Console) -> None:
    """Verify keys are for agents, not people: sign-in explains which roles work."""
    await page.goto(console.url + "/sign-in")
    await page.fill("#api_key", console.tenant.verify_key)
    await page.click("#sign-in")
    assert "admin or audit-read" in await page.inner_text("#err-api_key")
    assert bearer(console.tenant.verify_key)[0][1] not in await page.content()
