import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  AuthenticationError,
  Behalf,
  ConfigurationError,
  InvalidRequest,
  VerificationUnavailable,
  formatMajorUnits,
  parseMajorUnits,
} from "../../src/index";
import { buildVerifyRequest } from "../../src/client";
import { decisionFromJson, errorFromHttp, httpVerifyBody, parseBaseUrl } from "../../src/http";

describe("major units", () => {
  const exact: [number | string, string, bigint][] = [
    [799.99, "USD", 79_999n],
    ["799.99", "USD", 79_999n],
    [0.1, "USD", 10n],
    [1500, "JPY", 1_500n],
    ["1.234", "KWD", 1_234n],
    ["0", "EUR", 0n],
    ["92233720368547758.07", "USD", 9_223_372_036_854_775_807n],
  ];
  for (const [input, currency, minor] of exact) {
    it(`${String(input)} ${currency} is ${minor} minor units, and back`, () => {
      assert.equal(parseMajorUnits(input, currency), minor);
      assert.equal(parseMajorUnits(formatMajorUnits(minor, currency), currency), minor);
    });
  }
  const refused: [unknown, string][] = [
    [799.999, "USD"],
    [0.5, "JPY"],
    [-1, "USD"],
    [1e21, "USD"],
    [1e-7, "USD"],
    [Number.NaN, "USD"],
    ["1,00", "USD"],
    ["92233720368547758.08", "USD"],
    [true, "USD"],
    // More digits than a double holds exactly: sent as written, they would be off by a unit.
    [9007199254740993, "JPY"],
    [90071992547409.93, "USD"],
    [12345678901234567, "USD"],
  ];
  for (const [input, currency] of refused) {
    it(`refuses ${String(input)} ${currency}`, () => {
      assert.throws(() => parseMajorUnits(input, currency), InvalidRequest);
    });
  }
});

describe("the brief's parameters", () => {
  it("vendor is resource, a numeric amount is exact minor units", () => {
    const request = buildVerifyRequest(
      { agentId: "agt_1", action: "purchase", vendor: "coachella.com", amount: 799.99, currency: "USD" },
      "req_1",
    );
    assert.equal(request.resource, "coachella.com");
    assert.deepEqual(request.amount, { amountMinor: "79999", currency: "USD" });
    assert.deepEqual(httpVerifyBody(request), {
      agentId: "agt_1",
      action: "purchase",
      requestId: "req_1",
      testMode: false,
      resource: "coachella.com",
      amount: "799.99",
      currency: "USD",
    });
  });
  it("refuses contradictions before sending", () => {
    const base = { agentId: "agt_1", action: "purchase", currency: "USD" };
    assert.throws(
      () => buildVerifyRequest({ ...base, vendor: "a.com", resource: "b.com" }, "r"),
      (error) => error instanceof InvalidRequest && error.field === "vendor",
    );
    assert.throws(
      () => buildVerifyRequest({ ...base, amount: 1, amountMinor: 100 }, "r"),
      (error) => error instanceof InvalidRequest && error.field === "amount",
    );
    assert.throws(
      () => buildVerifyRequest({ agentId: "agt_1", action: "purchase", amount: 1 }, "r"),
      (error) => error instanceof InvalidRequest && error.field === "amount.currency",
    );
  });
});

describe("HTTP answers", () => {
  it("maps a decision, risk in the SDK's spelling", () => {
    const decision = decisionFromJson({
      requestId: "req_1",
      allowed: false,
      outcome: "REQUIRE_APPROVAL",
      reasonCode: "APPROVAL_REQUIRED",
      reason: "a human must approve",
      risk: "high",
      permissionId: "prm_1",
      policyRevision: 42,
      approvalId: "apr_1",
      testMode: false,
    } as Parameters<typeof decisionFromJson>[0]);
    assert.equal(decision.outcome, "REQUIRE_APPROVAL");
    assert.equal(decision.risk, "HIGH");
    assert.equal(decision.policyRevision, 42n);
    assert.equal(decision.approvalId, "apr_1");
  });
  it("a body without a decision is never an allow", () => {
    assert.throws(() => decisionFromJson({ allowed: true } as never), VerificationUnavailable);
  });
  it("an allow without its test flag, or contradicting `allowed`, is no answer", () => {
    const allow = { requestId: "req_1", outcome: "ALLOW", reasonCode: "ALLOWED" };
    for (const body of [
      { ...allow, allowed: true },
      { ...allow, allowed: true, testMode: "false" },
      { ...allow, allowed: false, testMode: false },
      { ...allow, allowed: true, testMode: true },
      { ...allow, testMode: false },
    ]) {
      assert.throws(() => decisionFromJson(body as never), VerificationUnavailable, JSON.stringify(body));
    }
    assert.equal(decisionFromJson({ ...allow, allowed: true, testMode: false } as never).outcome, "ALLOW");
    const test = decisionFromJson({ ...allow, allowed: false, testMode: true } as never);
    assert.equal(test.testMode, true);
  });
  it("maps errors: field, credentials, and everything else unavailable", () => {
    const invalid = errorFromHttp(
      400,
      { error: { code: "invalid_argument", field: "amount", message: "amount: has more than 2 decimals" } },
      "req_1",
    );
    assert.ok(invalid instanceof InvalidRequest);
    assert.equal(invalid.field, "amount");
    assert.equal(invalid.requestId, "req_1");
    assert.ok(errorFromHttp(401, { error: { message: "bad key" } }, "r") instanceof AuthenticationError);
    assert.ok(errorFromHttp(403, null, "r") instanceof AuthenticationError);
    for (const status of [404, 413, 500, 502, 503]) {
      assert.ok(errorFromHttp(status, "<html>", "r") instanceof VerificationUnavailable, String(status));
    }
  });
});

describe("baseUrl", () => {
  it("accepts https anywhere and http on loopback only", () => {
    assert.equal(parseBaseUrl("https://verify.example.com").href, "https://verify.example.com/");
    assert.equal(parseBaseUrl("http://127.0.0.1:8081").href, "http://127.0.0.1:8081/");
    assert.equal(parseBaseUrl("http://localhost:8081/behalf").href, "http://localhost:8081/behalf/");
    assert.throws(() => parseBaseUrl("http://verify.example.com"), ConfigurationError);
    assert.throws(() => parseBaseUrl("ftp://127.0.0.1"), ConfigurationError);
    assert.throws(() => parseBaseUrl("not a url"), ConfigurationError);
  });
  it("a client has exactly one of target and baseUrl", () => {
    assert.throws(() => new Behalf({ apiKey: "k" }), ConfigurationError);
    assert.throws(
      () => new Behalf({ apiKey: "k", target: "127.0.0.1:1", baseUrl: "http://127.0.0.1:2" }),
      ConfigurationError,
    );
  });
  it("an unreachable HTTP verifier is unavailable, never an allow", async () => {
    const behalf = new Behalf({ apiKey: "k", baseUrl: "http://127.0.0.1:9", deadlineMs: 2_000 });
    await assert.rejects(
      behalf.verify({ agentId: "agt_1", action: "purchase", vendor: "coachella.com" }),
      VerificationUnavailable,
    );
  });
});
