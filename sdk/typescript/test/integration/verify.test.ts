/**
 * Against the REAL verifier (and registry), started and seeded by
 * tests/integration/test_typescript_sdk.py, which passes:
 *   BEHALF_TARGET, BEHALF_API_KEY (role verify), BEHALF_AGENT_ID (may purchase on coachella.com
 *   up to 80000 minor USD), BEHALF_MIN_REVISION (the grant's revision), and optionally
 *   BEHALF_REGISTRY_TARGET, BEHALF_ADMIN_KEY, BEHALF_APPROVAL_AGENT_ID (an agent whose purchase
 *   permission requires approval) for the approval flow.
 * Skipped when BEHALF_TARGET is unset.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import * as grpc from "@grpc/grpc-js";

import {
  ActionDenied,
  ApprovalRequired,
  AuthenticationError,
  Behalf,
  InvalidRequest,
  VerificationUnavailable,
  guard,
  v1,
  type VerifyParams,
} from "../../src/index";
import { closedPort } from "../support/fake";

const env = process.env;
const target = env.BEHALF_TARGET;
const skip = target ? false : "BEHALF_TARGET is not set (run tests/integration/test_typescript_sdk.py)";
const approvalSkip =
  skip ||
  (env.BEHALF_REGISTRY_TARGET && env.BEHALF_ADMIN_KEY && env.BEHALF_APPROVAL_AGENT_ID
    ? false
    : "BEHALF_REGISTRY_TARGET, BEHALF_ADMIN_KEY or BEHALF_APPROVAL_AGENT_ID is not set");

function required(name: string): string {
  const value = env[name];
  assert.ok(value, `${name} must be set`);
  return value;
}

describe("the real verifier", { skip }, () => {
  let behalf: Behalf;
  let params: VerifyParams;

  before(() => {
    behalf = new Behalf({
      apiKey: required("BEHALF_API_KEY"),
      target: required("BEHALF_TARGET"),
      ...(env.BEHALF_REGISTRY_TARGET ? { registryTarget: env.BEHALF_REGISTRY_TARGET } : {}),
      deadlineMs: 10_000,
    });
    params = {
      agentId: required("BEHALF_AGENT_ID"),
      action: "purchase",
      resource: "coachella.com",
      currency: "USD",
      minRevision: BigInt(env.BEHALF_MIN_REVISION ?? "0"),
    };
  });
  after(() => behalf?.close());

  it("allows a purchase under the limit", async () => {
    const decision = await behalf.verify({
      ...params,
      amountMinor: 79_999n,
      context: { sdk: "typescript" },
    });
    assert.equal(decision.outcome, "ALLOW");
    assert.equal(decision.reasonCode, "ALLOWED");
    assert.notEqual(decision.permissionId, "");
    assert.ok(decision.policyRevision >= BigInt(env.BEHALF_MIN_REVISION ?? "0"));
    assert.ok(["LOW", "MEDIUM", "HIGH"].includes(decision.risk), decision.risk);
  });

  it("allows exactly the limit, given as a string", async () => {
    const decision = await behalf.verify({ ...params, amountMinor: "80000" });
    assert.equal(decision.outcome, "ALLOW");
  });

  it("denies a purchase over the limit with AMOUNT_EXCEEDS_LIMIT", async () => {
    await assert.rejects(
      behalf.verify({ ...params, amountMinor: 80_001, requestId: "ts-sdk-over-limit" }),
      (error) => {
        assert.ok(error instanceof ActionDenied, String(error));
        assert.equal(error.reasonCode, "AMOUNT_EXCEEDS_LIMIT");
        assert.equal(error.requestId, "ts-sdk-over-limit");
        assert.equal(error.decision.requestId, "ts-sdk-over-limit");
        assert.notEqual(error.reason, "");
        assert.notEqual(error.risk, "UNSPECIFIED");
        return true;
      },
    );
  });

  it("denies another vendor with RESOURCE_NOT_ALLOWED", async () => {
    await assert.rejects(
      behalf.verify({ ...params, resource: "ticketmaster.com", amountMinor: 100 }),
      (error) => error instanceof ActionDenied && error.reasonCode === "RESOURCE_NOT_ALLOWED",
    );
  });

  it("denies an unknown agent with AGENT_NOT_FOUND", async () => {
    await assert.rejects(
      behalf.verify({ ...params, agentId: "agt_doesnotexist0000000000", amountMinor: 100 }),
      (error) =>
        (error instanceof ActionDenied && error.reasonCode === "AGENT_NOT_FOUND") ||
        (error instanceof InvalidRequest && error.field === "agent_id"),
    );
  });

  it("throws AuthenticationError for an unknown key", async () => {
    const stranger = new Behalf({ apiKey: "bhk_not_a_real_key", target: required("BEHALF_TARGET") });
    try {
      await assert.rejects(stranger.verify({ ...params, amountMinor: 100 }), (error) => {
        assert.ok(error instanceof AuthenticationError, String(error));
        assert.equal(error.grpcCode, "UNAUTHENTICATED");
        return true;
      });
    } finally {
      stranger.close();
    }
  });

  it("throws InvalidRequest naming the field the server rejected", async () => {
    // The SDK checks actions itself; an ambiguous resource only the server's parser refuses.
    const ambiguous = "http://evil.com\\@coachella.com/x";
    await assert.rejects(behalf.verify({ ...params, resource: ambiguous, amountMinor: 100 }), (error) => {
      assert.ok(error instanceof InvalidRequest, String(error));
      assert.equal(error.grpcCode, "INVALID_ARGUMENT");
      assert.equal(error.field, "resource");
      return true;
    });
  });

  it("guard runs fn on allow and never on deny", async () => {
    const charged: number[] = [];
    const charge = (amount: number) => () => {
      charged.push(amount);
      return amount;
    };
    assert.equal(await guard(behalf, { ...params, amountMinor: 50_000 }, charge(50_000)), 50_000);
    await assert.rejects(guard(behalf, { ...params, amountMinor: 90_000 }, charge(90_000)), ActionDenied);
    assert.deepEqual(charged, [50_000]);
  });

  it("check answers in test mode whatever the outcome, and authorizes nothing", async () => {
    const under = await behalf.check({ ...params, amountMinor: 100 });
    assert.equal(under.outcome, "ALLOW");
    assert.equal(under.testMode, true);
    const over = await behalf.check({ ...params, amountMinor: 80_001 });
    assert.equal(over.outcome, "DENY");
    assert.equal(over.reasonCode, "AMOUNT_EXCEEDS_LIMIT");
    assert.equal(over.testMode, true);
  });

  it("denies STALE_POLICY when the verifier cannot reach min_revision", async () => {
    await assert.rejects(
      behalf.verify({ ...params, amountMinor: 100, minRevision: 9_000_000_000_000_000_000n }),
      (error) => error instanceof ActionDenied && error.reasonCode === "STALE_POLICY",
    );
  });

  it("fails closed within the deadline when the verifier is down", async () => {
    const down = new Behalf({ apiKey: required("BEHALF_API_KEY"), target: await closedPort(), deadlineMs: 1_000 });
    try {
      let ran = false;
      const started = Date.now();
      await assert.rejects(
        guard(down, { ...params, amountMinor: 100 }, () => {
          ran = true;
        }),
        VerificationUnavailable,
      );
      assert.ok(Date.now() - started < 1_500);
      assert.equal(ran, false);
    } finally {
      down.close();
    }
  });
});

describe("approvals on the real stack", { skip: approvalSkip }, () => {
  let behalf: Behalf;
  let admin: InstanceType<typeof v1.registry.RegistryServiceClient>;
  let params: VerifyParams;

  before(() => {
    behalf = new Behalf({
      apiKey: required("BEHALF_API_KEY"),
      target: required("BEHALF_TARGET"),
      registryTarget: required("BEHALF_REGISTRY_TARGET"),
      deadlineMs: 10_000,
    });
    admin = new v1.registry.RegistryServiceClient(
      required("BEHALF_REGISTRY_TARGET"),
      grpc.credentials.createInsecure(),
    );
    params = {
      agentId: required("BEHALF_APPROVAL_AGENT_ID"),
      action: "purchase",
      resource: "coachella.com",
      amountMinor: 25_000n,
      currency: "USD",
      minRevision: BigInt(env.BEHALF_MIN_REVISION ?? "0"),
    };
  });
  after(() => {
    behalf?.close();
    admin?.close();
  });

  function resolve(approvalId: string, approve: boolean): Promise<void> {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${required("BEHALF_ADMIN_KEY")}`);
    return new Promise((done, fail) =>
      admin.resolveApproval(
        { approvalId, approve, resolvedBy: "ts-sdk-test@example.com", comment: "integration test" },
        metadata,
        { deadline: Date.now() + 10_000 },
        (error) => (error ? fail(error) : done()),
      ),
    );
  }

  it("requires approval, waits for it, then allows exactly once", async () => {
    const first = await behalf.verify(params).catch((error: unknown) => error);
    assert.ok(first instanceof ApprovalRequired, String(first));
    assert.match(first.approvalId, /^apr_/);
    assert.equal(first.reasonCode, "APPROVAL_REQUIRED");

    const waiting = first.waitForApproval({ deadlineMs: 15_000, pollIntervalMs: 100 });
    setTimeout(() => void resolve(first.approvalId, true), 300);
    const approved = await waiting;
    assert.equal(approved.state, "APPROVED");
    assert.equal(approved.amountMinor, 25_000n);

    const allowed = await behalf.verify({ ...params, approvalId: first.approvalId });
    assert.equal(allowed.outcome, "ALLOW");
    assert.equal(allowed.reasonCode, "APPROVAL_CONSUMED");
    assert.equal(allowed.approvalId, first.approvalId);

    await assert.rejects(
      behalf.verify({ ...params, approvalId: first.approvalId }),
      (error) => error instanceof ActionDenied && error.reasonCode === "APPROVAL_INVALID",
    );
  });

  it("a denied approval rejects the wait", async () => {
    const first = await behalf.verify(params).catch((error: unknown) => error);
    assert.ok(first instanceof ApprovalRequired, String(first));
    await resolve(first.approvalId, false);
    await assert.rejects(
      first.waitForApproval({ deadlineMs: 10_000, pollIntervalMs: 100 }),
      (error) => error instanceof Error && error.name === "ApprovalRejected",
    );
  });
});

const httpSkip = skip || (env.BEHALF_HTTP_URL ? false : "BEHALF_HTTP_URL is not set");

describe("the real verifier over HTTP/JSON", { skip: httpSkip }, () => {
  let behalf: Behalf;
  let agentId: string;
  let minRevision: bigint;

  before(() => {
    behalf = new Behalf({ apiKey: required("BEHALF_API_KEY"), baseUrl: required("BEHALF_HTTP_URL") });
    agentId = required("BEHALF_AGENT_ID");
    minRevision = BigInt(env.BEHALF_MIN_REVISION ?? "0");
  });
  after(() => behalf?.close());

  it("the brief's snippet: vendor and a numeric amount", async () => {
    const decision = await behalf.verify({
      agentId,
      action: "purchase",
      vendor: "coachella.com",
      amount: 799.99,
      currency: "USD",
      minRevision,
    });
    assert.equal(decision.outcome, "ALLOW");
    assert.equal(decision.reasonCode, "ALLOWED");
    assert.ok(["LOW", "MEDIUM", "HIGH"].includes(decision.risk), decision.risk);
    assert.notEqual(decision.permissionId, "");
  });

  it("a deny throws exactly as over gRPC", async () => {
    await assert.rejects(
      behalf.verify({
        agentId,
        action: "purchase",
        vendor: "coachella.com",
        amount: "800.01",
        currency: "USD",
        minRevision,
        requestId: "ts-http-over-limit",
      }),
      (error) => {
        assert.ok(error instanceof ActionDenied, String(error));
        assert.equal(error.reasonCode, "AMOUNT_EXCEEDS_LIMIT");
        assert.equal(error.decision.requestId, "ts-http-over-limit");
        return true;
      },
    );
  });

  it("the server's field and an unknown key come back typed", async () => {
    const ambiguous = "http://evil.com\\@coachella.com/x";
    await assert.rejects(
      behalf.verify({ agentId, action: "purchase", resource: ambiguous, amountMinor: 100, currency: "USD" }),
      (error) => error instanceof InvalidRequest && error.field === "resource",
    );
    const stranger = new Behalf({ apiKey: "bhk_not_a_real_key", baseUrl: required("BEHALF_HTTP_URL") });
    await assert.rejects(
      stranger.verify({ agentId, action: "purchase", vendor: "coachella.com" }),
      AuthenticationError,
    );
  });

  it("guard never runs the tool on a deny", async () => {
    let ran = false;
    await assert.rejects(
      guard(
        behalf,
        { agentId, action: "purchase", vendor: "ticketmaster.com", amount: 1, currency: "USD", minRevision },
        () => {
          ran = true;
        },
      ),
      ActionDenied,
    );
    assert.equal(ran, false);
  });
});

describe("approvals over HTTP/JSON, no registry address", { skip: approvalSkip || httpSkip }, () => {
  it("waits for a human through GET /v1/approvals/{id}, then allows once", async () => {
    const behalf = new Behalf({
      apiKey: required("BEHALF_API_KEY"),
      baseUrl: required("BEHALF_HTTP_URL"),
      deadlineMs: 10_000,
    });
    const admin = new v1.registry.RegistryServiceClient(
      required("BEHALF_REGISTRY_TARGET"),
      grpc.credentials.createInsecure(),
    );
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${required("BEHALF_ADMIN_KEY")}`);
    const params: VerifyParams = {
      agentId: required("BEHALF_APPROVAL_AGENT_ID"),
      action: "purchase",
      vendor: "coachella.com",
      amount: "130.00",
      currency: "USD",
      minRevision: BigInt(env.BEHALF_MIN_REVISION ?? "0"),
    };
    try {
      const first = await behalf.verify(params).catch((error: unknown) => error);
      assert.ok(first instanceof ApprovalRequired, String(first));
      const waiting = first.waitForApproval({ deadlineMs: 15_000, pollIntervalMs: 100 });
      setTimeout(
        () =>
          admin.resolveApproval(
            { approvalId: first.approvalId, approve: true, resolvedBy: "ts-http@example.com", comment: "" },
            metadata,
            { deadline: Date.now() + 10_000 },
            () => undefined,
          ),
        300,
      );
      const approved = await waiting;
      assert.equal(approved.state, "APPROVED");
      assert.equal(approved.amountMinor, 13_000n);
      const allowed = await behalf.verify({ ...params, approvalId: first.approvalId });
      assert.equal(allowed.outcome, "ALLOW");
      const consumed = await behalf.getApproval(first.approvalId);
      assert.equal(consumed.state, "CONSUMED");
    } finally {
      behalf.close();
      admin.close();
    }
  });
});
