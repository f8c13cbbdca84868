import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { INT64_MAX, InvalidRequest, parseMinorUnits } from "../../src/index";
import { buildVerifyRequest } from "../../src/client";

const base = { agentId: "agt_1", action: "purchase", resource: "coachella.com" };

describe("parseMinorUnits", () => {
  const accepted: [string, bigint | number | string, bigint][] = [
    ["zero", 0, 0n],
    ["safe integer", 79_999, 79_999n],
    ["bigint", 79_999n, 79_999n],
    ["digit string", "79999", 79_999n],
    ["MAX_SAFE_INTEGER", Number.MAX_SAFE_INTEGER, 9_007_199_254_740_991n],
    ["beyond 2^53 as bigint", 9_007_199_254_740_993n, 9_007_199_254_740_993n],
    ["int64 max as string", INT64_MAX.toString(), INT64_MAX],
  ];
  for (const [name, input, want] of accepted) {
    it(`accepts ${name}`, () => assert.equal(parseMinorUnits(input), want));
  }

  const rejected: [string, unknown][] = [
    ["a float", 799.99],
    ["a small fraction", 0.1],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["a negative number", -1],
    ["a negative bigint", -1n],
    ["an unsafe integer (precision may be lost)", 2 ** 53],
    ["a decimal string", "799.99"],
    ["an exponent string", "1e5"],
    ["a padded string", " 1"],
    ["an empty string", ""],
    ["a negative string", "-5"],
    ["a leading zero", "01"],
    ["beyond int64", INT64_MAX + 1n],
    ["beyond int64 as string", (INT64_MAX + 1n).toString()],
    ["null", null],
    ["an object", { amount: 1 }],
  ];
  for (const [name, input] of rejected) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parseMinorUnits(input as never),
        (error: unknown) => error instanceof InvalidRequest && error.field === "amount.amount_minor",
      );
    });
  }
});

describe("buildVerifyRequest", () => {
  it("encodes the amount as an exact int64 decimal string", () => {
    const request = buildVerifyRequest(
      { ...base, amountMinor: 9_007_199_254_740_993n, currency: "USD", minRevision: 7 },
      "req-1",
    );
    assert.deepEqual(request.amount, { amountMinor: "9007199254740993", currency: "USD" });
    assert.equal(request.minRevision, "7");
    assert.equal(request.requestId, "req-1");
  });

  it("requires a currency with an amount", () => {
    assert.throws(
      () => buildVerifyRequest({ ...base, amountMinor: 100 }, "r"),
      (error: unknown) => error instanceof InvalidRequest && error.field === "amount.currency",
    );
  });

  it("requires an amount with a currency", () => {
    assert.throws(
      () => buildVerifyRequest({ ...base, currency: "USD" }, "r"),
      (error: unknown) => error instanceof InvalidRequest && error.field === "amount.amount_minor",
    );
  });

  it("rejects a lower-case currency", () => {
    assert.throws(
      () => buildVerifyRequest({ ...base, amountMinor: 1, currency: "usd" }, "r"),
      (error: unknown) => error instanceof InvalidRequest && error.field === "amount.currency",
    );
  });

  it("rejects a fractional amount before anything is sent", () => {
    assert.throws(
      () => buildVerifyRequest({ ...base, amountMinor: 799.99, currency: "USD" }, "r"),
      InvalidRequest,
    );
  });

  it("rejects an empty agent id and action", () => {
    assert.throws(() => buildVerifyRequest({ ...base, agentId: "" }, "r"), /agent_id/);
    assert.throws(() => buildVerifyRequest({ ...base, action: "" }, "r"), /action/);
  });

  it("rejects non-string context values", () => {
    assert.throws(
      () => buildVerifyRequest({ ...base, context: { n: 1 as unknown as string } }, "r"),
      (error: unknown) => error instanceof InvalidRequest && error.field === "context[n]",
    );
  });
});
