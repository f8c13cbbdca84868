import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import * as grpc from "@grpc/grpc-js";

import {
  ActionDenied,
  ApprovalRejected,
  ApprovalRequired,
  ArgumentRejected,
  AuthenticationError,
  Behalf,
  BehalfError,
  ConfigurationError,
  InvalidRequest,
  TestModeDecision,
  VerificationUnavailable,
  guard,
  guarded,
  isLoopbackTarget,
  type VerifyParams,
} from "../../src/index";
import { buildVerifyRequest } from "../../src/client";
import { Outcome, ReasonCode, Risk } from "../../src/gen/behalf/v1/common";
import { VerifyRequest } from "../../src/gen/behalf/v1/verifier";
import { httpVerifyBody } from "../../src/http";
import { ApprovalState } from "../../src/gen/behalf/v1/resources";
import {
  approval,
  closedPort,
  decide,
  startFake,
  type Fake,
  type Handlers,
} from "../support/fake";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const purchase: VerifyParams = {
  agentId: "agt_1",
  action: "purchase",
  resource: "coachella.com",
  amountMinor: 79_999n,
  currency: "USD",
};

/** Runs `body` against a fake server with these handlers, and a client pointed at it. */
async function withFake(
  handlers: Handlers,
  body: (behalf: Behalf, fake: Fake) => Promise<void>,
  options: { deadlineMs?: number; registry?: boolean } = {},
): Promise<void> {
  const fake = await startFake(handlers);
  const behalf = new Behalf({
    apiKey: "test-key",
    target: fake.target,
    ...(options.registry ? { registryTarget: fake.target } : {}),
    deadlineMs: options.deadlineMs ?? 2_000,
  });
  try {
    await body(behalf, fake);
  } finally {
    behalf.close();
    await fake.close();
  }
}

describe("verify request", () => {
  it("carries every context entry, a key named __proto__ included", () => {
    // What JSON.parse makes of a model's tool arguments: an own property named "__proto__".
    // Written into a plain object it would hit Object.prototype's setter and vanish, unaudited.
    const context = JSON.parse('{"__proto__": "audit-me", "order": "o-1"}') as Record<
      string,
      string
    >;
    const request = buildVerifyRequest({ ...purchase, context }, "req-1");
    assert.deepEqual(Object.keys(request.context).sort(), ["__proto__", "order"]);
    const wire = Buffer.from(VerifyRequest.encode(request).finish()).toString("latin1");
    assert.ok(wire.includes("__proto__") && wire.includes("audit-me"));
    const json = JSON.stringify(httpVerifyBody(request));
    assert.deepEqual(Object.keys(JSON.parse(json).context).sort(), ["__proto__", "order"]);
  });
});

describe("verify", () => {
  it("resolves with the decision on ALLOW and sends the key, request id and amount", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      const decision = await behalf.verify({ ...purchase, amountMinor: 9_007_199_254_740_993n });
      assert.equal(decision.outcome, "ALLOW");
      assert.equal(decision.reasonCode, "ALLOWED");
      assert.equal(decision.risk, "LOW");
      assert.equal(decision.policyRevision, 42n);
      assert.match(decision.requestId, UUID);
      const seen = fake.verifies[0];
      assert.ok(seen);
      assert.deepEqual(seen.metadata.get("authorization"), ["Bearer test-key"]);
      assert.equal(seen.request.requestId, decision.requestId);
      assert.deepEqual(seen.request.amount, { amountMinor: "9007199254740993", currency: "USD" });
    });
  });

  it("uses the caller's request id", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      const decision = await behalf.verify({ ...purchase, requestId: "mine-1" });
      assert.equal(decision.requestId, "mine-1");
      assert.equal(fake.verifies[0]?.request.requestId, "mine-1");
    });
  });

  it("throws ActionDenied with the decision on DENY", async () => {
    const deny = decide({
      outcome: Outcome.OUTCOME_DENY,
      reasonCode: ReasonCode.REASON_CODE_AMOUNT_EXCEEDS_LIMIT,
      reason: "80001 USD exceeds the limit of 80000 USD",
      risk: Risk.RISK_HIGH,
    });
    await withFake({ verify: deny }, async (behalf) => {
      await assert.rejects(behalf.verify({ ...purchase, requestId: "r-deny" }), (error) => {
        assert.ok(error instanceof ActionDenied);
        assert.ok(error instanceof BehalfError);
        assert.equal(error.reasonCode, "AMOUNT_EXCEEDS_LIMIT");
        assert.equal(error.reason, "80001 USD exceeds the limit of 80000 USD");
        assert.equal(error.risk, "HIGH");
        assert.equal(error.requestId, "r-deny");
        assert.equal(error.decision.outcome, "DENY");
        return true;
      });
    });
  });

  for (const [name, outcome] of [
    ["UNSPECIFIED", Outcome.OUTCOME_UNSPECIFIED],
    ["an unknown outcome", 99 as Outcome],
  ] as const) {
    it(`treats ${name} as a deny (fail closed)`, async () => {
      await withFake({ verify: decide({ outcome }) }, async (behalf) => {
        await assert.rejects(behalf.verify(purchase), ActionDenied);
      });
    });
  }

  it("refuses an allow that answers another request, or none", async () => {
    for (const requestId of ["req_someone_else", ""]) {
      await withFake({ verify: decide({ requestId }) }, async (behalf) => {
        await assert.rejects(behalf.verify({ ...purchase, requestId: "mine" }), VerificationUnavailable);
        await assert.rejects(
          behalf.check({ ...purchase, requestId: "mine" }),
          VerificationUnavailable,
        );
      });
    }
  });

  it("throws VerificationUnavailable on a reply without a decision", async () => {
    await withFake({ verify: () => ({ response: {} }) }, async (behalf) => {
      await assert.rejects(behalf.verify(purchase), VerificationUnavailable);
    });
  });

  const statuses: [grpc.status, string, (error: unknown) => boolean][] = [
    [grpc.status.UNAUTHENTICATED, "unknown api key", (e) => e instanceof AuthenticationError],
    [grpc.status.PERMISSION_DENIED, "role audit-read", (e) => e instanceof AuthenticationError],
    [
      grpc.status.INVALID_ARGUMENT,
      "amount.currency: must be an ISO-4217 code",
      (e) =>
        e instanceof InvalidRequest &&
        e.field === "amount.currency" &&
        e.message === "amount.currency: must be an ISO-4217 code",
    ],
    [grpc.status.UNAVAILABLE, "draining", (e) => e instanceof VerificationUnavailable],
    [grpc.status.INTERNAL, "internal error", (e) => e instanceof VerificationUnavailable],
    [grpc.status.RESOURCE_EXHAUSTED, "slow down", (e) => e instanceof VerificationUnavailable],
  ];
  for (const [status, details, check] of statuses) {
    it(`maps ${grpc.status[status]} to a typed error`, async () => {
      await withFake({ verify: () => ({ status, details }) }, async (behalf) => {
        await assert.rejects(behalf.verify({ ...purchase, requestId: "r-s" }), (error) => {
          assert.ok(check(error), String(error));
          assert.ok(error instanceof BehalfError);
          assert.equal(error.grpcCode, grpc.status[status]);
          assert.equal(error.requestId, "r-s");
          return true;
        });
      });
    });
  }

  it("throws VerificationUnavailable when the deadline passes", async () => {
    await withFake(
      { verify: () => "hang" },
      async (behalf) => {
        const started = Date.now();
        await assert.rejects(behalf.verify(purchase), (error) => {
          assert.ok(error instanceof VerificationUnavailable);
          assert.equal(error.grpcCode, "DEADLINE_EXCEEDED");
          return true;
        });
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 3_000, `took ${elapsed} ms`);
      },
      { deadlineMs: 300 },
    );
  });

  it("throws VerificationUnavailable quickly when nothing listens", async () => {
    const behalf = new Behalf({ apiKey: "k", target: await closedPort(), deadlineMs: 3_000 });
    try {
      const started = Date.now();
      await assert.rejects(behalf.verify(purchase), (error) => {
        assert.ok(error instanceof VerificationUnavailable);
        assert.equal(error.grpcCode, "UNAVAILABLE");
        return true;
      });
      assert.ok(Date.now() - started < 3_000);
    } finally {
      behalf.close();
    }
  });

  it("throws VerificationUnavailable when aborted", async () => {
    await withFake({ verify: () => "hang" }, async (behalf) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(behalf.verify(purchase, { signal: controller.signal }), (error) => {
        assert.ok(error instanceof VerificationUnavailable);
        assert.equal(error.grpcCode, "CANCELLED");
        return true;
      });
    });
  });

  it("throws VerificationUnavailable after close", async () => {
    await withFake({ verify: decide() }, async (behalf) => {
      await behalf.verify(purchase);
      behalf.close();
      await assert.rejects(behalf.verify(purchase), VerificationUnavailable);
    });
  });

  it("rejects an invalid amount without calling the verifier", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      await assert.rejects(behalf.verify({ ...purchase, amountMinor: 799.99 }), InvalidRequest);
      assert.equal(fake.verifies.length, 0);
    });
  });

  it("reuses one channel for many calls", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      await Promise.all(Array.from({ length: 20 }, () => behalf.verify(purchase)));
      assert.equal(fake.verifies.length, 20);
    });
  });
});

describe("approvals", () => {
  const needsApproval = decide({
    outcome: Outcome.OUTCOME_REQUIRE_APPROVAL,
    reasonCode: ReasonCode.REASON_CODE_APPROVAL_REQUIRED,
    reason: "a human must approve purchases over 500.00 USD",
    approvalId: "apr_1",
    risk: Risk.RISK_MEDIUM,
  });

  it("throws ApprovalRequired with the approval id", async () => {
    await withFake({ verify: needsApproval }, async (behalf) => {
      await assert.rejects(behalf.verify(purchase), (error) => {
        assert.ok(error instanceof ApprovalRequired);
        assert.equal(error.approvalId, "apr_1");
        assert.equal(error.reasonCode, "APPROVAL_REQUIRED");
        return true;
      });
    });
  });

  it("cannot wait without a registry target", async () => {
    await withFake({ verify: needsApproval }, async (behalf) => {
      const error = await behalf.verify(purchase).catch((e: unknown) => e);
      assert.ok(error instanceof ApprovalRequired);
      await assert.rejects(error.waitForApproval({ deadlineMs: 100 }), ConfigurationError);
    });
  });

  it("waits until the approval is approved", async () => {
    const handlers: Handlers = {
      verify: needsApproval,
      getApproval: (_request, attempt) => {
        if (attempt === 2) {
          return { status: grpc.status.UNAVAILABLE, details: "blip" }; // polled through
        }
        const state = attempt < 4 ? ApprovalState.APPROVAL_STATE_PENDING : ApprovalState.APPROVAL_STATE_APPROVED;
        return { response: { approval: approval(state) } };
      },
    };
    await withFake(
      handlers,
      async (behalf, fake) => {
        const error = await behalf.verify(purchase).catch((e: unknown) => e);
        assert.ok(error instanceof ApprovalRequired);
        const approved = await error.waitForApproval({ deadlineMs: 5_000, pollIntervalMs: 20 });
        assert.equal(approved.state, "APPROVED");
        assert.equal(approved.amountMinor, 90_000n);
        assert.equal(fake.approvals.length, 4);
        assert.equal(fake.approvals[0]?.request.approvalId, "apr_1");
        assert.deepEqual(fake.approvals[0]?.metadata.get("authorization"), ["Bearer test-key"]);
      },
      { registry: true },
    );
  });

  it("throws ApprovalRejected when a human denies", async () => {
    const handlers: Handlers = {
      getApproval: () => ({ response: { approval: approval(ApprovalState.APPROVAL_STATE_DENIED) } }),
    };
    await withFake(
      handlers,
      async (behalf) => {
        await assert.rejects(behalf.waitForApproval("apr_1", { pollIntervalMs: 20 }), (error) => {
          assert.ok(error instanceof ApprovalRejected);
          assert.equal(error.approval.state, "DENIED");
          return true;
        });
      },
      { registry: true },
    );
  });

  it("gives up at the deadline while still pending", async () => {
    const handlers: Handlers = {
      getApproval: () => ({ response: { approval: approval(ApprovalState.APPROVAL_STATE_PENDING) } }),
    };
    await withFake(
      handlers,
      async (behalf) => {
        const started = Date.now();
        await assert.rejects(
          behalf.waitForApproval("apr_1", { deadlineMs: 300, pollIntervalMs: 50 }),
          VerificationUnavailable,
        );
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 3_000, `took ${elapsed} ms`);
      },
      { registry: true },
    );
  });

  it("stops at once on an error that polling cannot fix", async () => {
    const handlers: Handlers = {
      getApproval: () => ({ status: grpc.status.NOT_FOUND, details: "no such approval" }),
    };
    await withFake(
      handlers,
      async (behalf, fake) => {
        await assert.rejects(
          behalf.waitForApproval("apr_x", { deadlineMs: 5_000, pollIntervalMs: 20 }),
          (error) => error instanceof VerificationUnavailable && error.grpcCode === "NOT_FOUND",
        );
        assert.equal(fake.approvals.length, 1);
      },
      { registry: true },
    );
  });
});

describe("guard", () => {
  const deny = decide({
    outcome: Outcome.OUTCOME_DENY,
    reasonCode: ReasonCode.REASON_CODE_AMOUNT_EXCEEDS_LIMIT,
  });

  it("runs fn on ALLOW and returns its result", async () => {
    await withFake({ verify: decide() }, async (behalf) => {
      const result = await guard(behalf, purchase, (decision) => `charged ${decision.permissionId}`);
      assert.equal(result, "charged perm_1");
      assert.equal(await behalf.guard(purchase, async () => 7), 7);
    });
  });

  const refusals: [string, Handlers["verify"]][] = [
    ["a deny", deny],
    ["a required approval", decide({ outcome: Outcome.OUTCOME_REQUIRE_APPROVAL, approvalId: "apr_1" })],
    ["an unavailable verifier", () => ({ status: grpc.status.UNAVAILABLE, details: "down" })],
    ["a bad key", () => ({ status: grpc.status.UNAUTHENTICATED, details: "bad key" })],
    ["a test-mode ALLOW", decide({ testMode: true })],
  ];
  for (const [name, verify] of refusals) {
    it(`never runs fn on ${name}`, async () => {
      await withFake({ ...(verify ? { verify } : {}) }, async (behalf) => {
        let ran = false;
        await assert.rejects(
          guard(behalf, purchase, () => {
            ran = true;
          }),
          BehalfError,
        );
        assert.equal(ran, false);
      });
    });
  }

  it("never runs fn on an invalid amount", async () => {
    await withFake({ verify: decide() }, async (behalf) => {
      let ran = false;
      await assert.rejects(
        guard(behalf, { ...purchase, amountMinor: 0.5 }, () => {
          ran = true;
        }),
        InvalidRequest,
      );
      assert.equal(ran, false);
    });
  });

  it("refuses a lax verifier that resolves without ALLOW", async () => {
    let ran = false;
    const lax = { verify: async () => ({ outcome: "DENY" }) as never };
    await assert.rejects(
      guard(lax, purchase, () => {
        ran = true;
      }),
      VerificationUnavailable,
    );
    assert.equal(ran, false);
  });

  it("refuses a lax verifier that resolves with a test-mode ALLOW", async () => {
    let ran = false;
    const lax = { verify: async () => ({ outcome: "ALLOW", testMode: true }) as never };
    await assert.rejects(
      guard(lax, purchase, () => {
        ran = true;
      }),
      TestModeDecision,
    );
    assert.equal(ran, false);
  });

  it("guarded() verifies the parameters derived from each call's arguments", async () => {
    const verify: Handlers["verify"] = (request) =>
      Number(request.amount?.amountMinor) <= 80_000 ? decide()(request) : deny(request);
    await withFake({ verify }, async (behalf) => {
      const charged: number[] = [];
      const buy = guarded(
        behalf,
        (args: { total: number }) => ({ ...purchase, amountMinor: args.total }),
        async (args: { total: number }) => {
          charged.push(args.total);
          return args.total;
        },
        { checkedArguments: ["total"] },
      );
      assert.equal(await buy({ total: 79_999 }), 79_999);
      await assert.rejects(buy({ total: 80_001 }), ActionDenied);
      assert.deepEqual(charged, [79_999]);
    });
  });

  type Buy = { vendor: string; amount: string; quantity?: number; currency?: string; note?: string };
  const buyParams = (args: Buy): VerifyParams => ({
    agentId: "agt_1",
    action: "purchase",
    resource: args.vendor,
    amount: args.amount,
    currency: "USD",
  });

  it("guarded() refuses an argument params does not check, before any Verify", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      const ran: Buy[] = [];
      const buy = guarded(behalf, buyParams, async (args: Buy) => ran.push(args), {
        checkedArguments: ["vendor", "amount"],
      });
      for (const [extra, value] of [["quantity", 100], ["currency", "KWD"]] as const) {
        await assert.rejects(buy({ vendor: "coachella.com", amount: "10.00", [extra]: value }), (error) => {
          assert.ok(error instanceof ArgumentRejected && error instanceof InvalidRequest);
          assert.equal(error.argument, extra);
          assert.equal(error.field, extra);
          return true;
        });
      }
      assert.deepEqual(ran, []);
      assert.equal(fake.verifies.length, 0);
    });
  });

  it("guarded() lets through the arguments listed as unchecked, and no others", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      const ran: Buy[] = [];
      const buy = guarded(behalf, buyParams, async (args: Buy) => ran.push(args), {
        checkedArguments: ["vendor", "amount"],
        uncheckedArguments: ["note"],
      });
      await buy({ vendor: "coachella.com", amount: "10.00", note: "for Ana" });
      await assert.rejects(
        buy({ vendor: "coachella.com", amount: "10.00", note: "x", quantity: 100 }),
        ArgumentRejected,
      );
      assert.equal(ran.length, 1);
      assert.equal(fake.verifies.length, 1);
    });
  });

  it("guarded() multiplies the amount by the count named in times", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      const buy = guarded(behalf, buyParams, async () => "bought", {
        checkedArguments: ["vendor", "amount"],
        times: "quantity",
      });
      assert.equal(await buy({ vendor: "coachella.com", amount: "10.00", quantity: 3 }), "bought");
      assert.deepEqual(fake.verifies[0]?.request.amount, { amountMinor: "3000", currency: "USD" });
      for (const quantity of [-1, 2.5, "3", true, undefined]) {
        const args = { vendor: "coachella.com", amount: "10.00", quantity } as unknown as Buy;
        await assert.rejects(buy(args), ArgumentRejected);
      }
      assert.equal(fake.verifies.length, 1);
    });
  });

  it("guarded() needs to be told which arguments params checks", () => {
    const wrap = guarded as unknown as (...args: unknown[]) => unknown;
    assert.throws(() => wrap({}, buyParams, () => 1), ConfigurationError);
    assert.throws(() => wrap({}, buyParams, () => 1, { checkedArguments: "vendor" }), ConfigurationError);
  });

  it("guard and guarded refuse a request id and send a fresh one with every call", async () => {
    await withFake({ verify: decide() }, async (behalf, fake) => {
      let ran = 0;
      await assert.rejects(
        guard(behalf, { ...purchase, requestId: "req_fixed" }, () => ran++),
        (error) => error instanceof InvalidRequest && error.field === "request_id",
      );
      const buy = guarded(
        behalf,
        (args: Buy & { orderRef: string }) => ({ ...buyParams(args), requestId: args.orderRef }),
        () => ran++,
        { checkedArguments: ["vendor", "amount"], uncheckedArguments: ["orderRef"] },
      );
      await assert.rejects(
        buy({ vendor: "coachella.com", amount: "10.00", orderRef: "o1" }),
        (error) => error instanceof InvalidRequest && error.field === "request_id",
      );
      assert.equal(ran, 0);
      assert.equal(fake.verifies.length, 0);
      await guard(behalf, purchase, () => ran++);
      await guard(behalf, purchase, () => ran++);
      const [first, second] = fake.verifies.map((seen) => seen.request.requestId);
      assert.match(first ?? "", UUID);
      assert.match(second ?? "", UUID);
      assert.notEqual(first, second);
      assert.equal(ran, 2);
    });
  });

  it("refuses a lax verifier whose ALLOW answers another request", async () => {
    let ran = false;
    const lax = {
      verify: async () => ({ outcome: "ALLOW", testMode: false, requestId: "req_someone_else" }) as never,
    };
    await assert.rejects(
      guard(lax, purchase, () => {
        ran = true;
      }),
      VerificationUnavailable,
    );
    assert.equal(ran, false);
  });
});

describe("test mode", () => {
  const outcomes: [string, Partial<Parameters<typeof decide>[0]>][] = [
    ["ALLOW", {}],
    ["DENY", { outcome: Outcome.OUTCOME_DENY, reasonCode: ReasonCode.REASON_CODE_BUDGET_EXHAUSTED }],
    ["REQUIRE_APPROVAL", { outcome: Outcome.OUTCOME_REQUIRE_APPROVAL, reasonCode: ReasonCode.REASON_CODE_APPROVAL_REQUIRED }],
  ];

  for (const [name, overrides] of outcomes) {
    it(`verify rejects a test-mode ${name} with TestModeDecision, an ActionDenied`, async () => {
      await withFake({ verify: decide({ ...overrides, testMode: true }) }, async (behalf, fake) => {
        await assert.rejects(behalf.verify({ ...purchase, requestId: "r-test" }), (error) => {
          assert.ok(error instanceof TestModeDecision);
          assert.ok(error instanceof ActionDenied);
          assert.equal(error.decision.outcome, name);
          assert.equal(error.decision.testMode, true);
          assert.equal(error.requestId, "r-test");
          assert.match(error.message, /check\(\)/);
          return true;
        });
        assert.equal(fake.verifies[0]?.request.testMode, false);
      });
    });
  }

  it("verify refuses to ask in test mode, before anything is sent", async () => {
    await withFake({ verify: decide({ testMode: true }) }, async (behalf, fake) => {
      const asking = { ...purchase, testMode: true } as VerifyParams;
      await assert.rejects(behalf.verify(asking), (error) => {
        assert.ok(error instanceof InvalidRequest);
        assert.equal(error.field, "test_mode");
        return true;
      });
      assert.equal(fake.verifies.length, 0);
    });
  });

  it("guard never runs fn when the caller asks for test mode", async () => {
    await withFake({ verify: decide({ testMode: true }) }, async (behalf, fake) => {
      let ran = false;
      await assert.rejects(
        guard(behalf, { ...purchase, testMode: true } as VerifyParams, () => {
          ran = true;
        }),
        InvalidRequest,
      );
      assert.equal(ran, false);
      assert.equal(fake.verifies.length, 0);
    });
  });

  for (const [name, overrides] of outcomes) {
    it(`check sends test_mode and resolves with a test-mode ${name}`, async () => {
      await withFake({ verify: decide({ ...overrides, testMode: true }) }, async (behalf, fake) => {
        const decision = await behalf.check({ ...purchase, requestId: "r-check" });
        assert.equal(decision.outcome, name);
        assert.equal(decision.testMode, true);
        assert.equal(decision.requestId, "r-check");
        const seen = fake.verifies[0]?.request;
        assert.equal(seen?.testMode, true);
        assert.deepEqual(seen?.amount, { amountMinor: "79999", currency: "USD" });
      });
    });
  }

  it("check never sends an approval id (a test consumes none)", async () => {
    await withFake({ verify: decide({ testMode: true }) }, async (behalf, fake) => {
      await behalf.check({ ...purchase, approvalId: "apr_1" } as VerifyParams);
      assert.equal(fake.verifies[0]?.request.approvalId, "");
    });
  });

  it("check rejects an answer not marked as a test", async () => {
    await withFake({ verify: decide() }, async (behalf) => {
      await assert.rejects(behalf.check(purchase), VerificationUnavailable);
    });
  });

  it("check maps a refused key to AuthenticationError", async () => {
    const refused = () => ({ status: grpc.status.PERMISSION_DENIED, details: "test-mode key" });
    await withFake({ verify: refused }, async (behalf) => {
      await assert.rejects(behalf.check(purchase), AuthenticationError);
    });
  });
});

describe("client options", () => {
  let fake: Fake;
  before(async () => {
    fake = await startFake({ verify: decide() });
  });
  after(async () => {
    await fake.close();
  });

  it("requires an api key and a target", () => {
    assert.throws(() => new Behalf({ apiKey: "", target: fake.target }), ConfigurationError);
    assert.throws(() => new Behalf({ apiKey: "k", target: "" }), ConfigurationError);
    assert.throws(
      () => new Behalf({ apiKey: "k", target: fake.target, deadlineMs: 0 }),
      ConfigurationError,
    );
  });

  it("uses plaintext only for loopback targets by default", () => {
    for (const target of ["127.0.0.1:50052", "localhost:1", "[::1]:50052", "unix:/tmp/v.sock", "dns:///localhost:50052", "ipv4:127.0.0.2:5"]) {
      assert.equal(isLoopbackTarget(target), true, target);
    }
    for (const target of ["verifier.behalf:50052", "10.0.0.1:50052", "example.com", "127.example.com:1", "dns:///verifier:443", "ipv4:127.0.0.1:1,192.0.2.2:5", "ipv6:[::1]:1,[2001:db8::1]:5"]) {
      assert.equal(isLoopbackTarget(target), false, target);
    }
  });

  it("accepts explicit credentials", async () => {
    const behalf = new Behalf({
      apiKey: "k",
      target: fake.target,
      credentials: grpc.credentials.createInsecure(),
    });
    try {
      assert.equal((await behalf.verify(purchase)).outcome, "ALLOW");
    } finally {
      behalf.close();
    }
  });
});
