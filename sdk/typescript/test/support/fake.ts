/** A tiny in-process grpc-js server that plays the verifier and the registry for unit tests. */
import * as grpc from "@grpc/grpc-js";

import {
  Outcome,
  ReasonCode,
  Risk,
  type Decision as PbDecision,
} from "../../src/gen/behalf/v1/common";
import {
  RegistryServiceService,
  type GetApprovalRequest,
  type GetApprovalResponse,
} from "../../src/gen/behalf/v1/registry";
import { ApprovalState, type Approval } from "../../src/gen/behalf/v1/resources";
import {
  VerifierServiceService,
  type VerifyRequest,
  type VerifyResponse,
} from "../../src/gen/behalf/v1/verifier";

/** What a fake handler answers: a response, a gRPC status, or nothing (hang until deadline). */
export type Reply<T> = { response: T } | { status: grpc.status; details: string } | "hang";

export interface Seen<T> {
  request: T;
  metadata: grpc.Metadata;
}

export interface Fake {
  target: string;
  verifies: Seen<VerifyRequest>[];
  approvals: Seen<GetApprovalRequest>[];
  close(): Promise<void>;
}

export interface Handlers {
  verify?: (request: VerifyRequest) => Reply<VerifyResponse>;
  getApproval?: (request: GetApprovalRequest, attempt: number) => Reply<GetApprovalResponse>;
}

function answer<T>(reply: Reply<T>, callback: grpc.sendUnaryData<T>): void {
  if (reply === "hang") {
    return;
  }
  if ("response" in reply) {
    callback(null, reply.response);
  } else {
    callback({ code: reply.status, details: reply.details, metadata: new grpc.Metadata() }, null);
  }
}

function unimplemented(): Reply<never> {
  return { status: grpc.status.UNIMPLEMENTED, details: "not in this fake" };
}

export async function startFake(handlers: Handlers): Promise<Fake> {
  const server = new grpc.Server();
  const verifies: Seen<VerifyRequest>[] = [];
  const approvals: Seen<GetApprovalRequest>[] = [];
  server.addService(VerifierServiceService, {
    verify: (call: grpc.ServerUnaryCall<VerifyRequest, VerifyResponse>, callback: grpc.sendUnaryData<VerifyResponse>) => {
      verifies.push({ request: call.request, metadata: call.metadata });
      answer(handlers.verify ? handlers.verify(call.request) : unimplemented(), callback);
    },
  });
  const registry: Partial<grpc.UntypedServiceImplementation> = {
    getApproval: (
      call: grpc.ServerUnaryCall<GetApprovalRequest, GetApprovalResponse>,
      callback: grpc.sendUnaryData<GetApprovalResponse>,
    ) => {
      approvals.push({ request: call.request, metadata: call.metadata });
      answer(
        handlers.getApproval ? handlers.getApproval(call.request, approvals.length) : unimplemented(),
        callback,
      );
    },
  };
  server.addService(RegistryServiceService, registry as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    target: `127.0.0.1:${port}`,
    verifies,
    approvals,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 500).unref();
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<string> {
  const fake = await startFake({});
  await fake.close();
  return fake.target;
}

export function decision(overrides: Partial<PbDecision> = {}): PbDecision {
  return {
    requestId: "req-1",
    outcome: Outcome.OUTCOME_ALLOW,
    reasonCode: ReasonCode.REASON_CODE_ALLOWED,
    reason: "allowed by permission perm_1",
    risk: Risk.RISK_LOW,
    permissionId: "perm_1",
    policyRevision: "42",
    approvalId: "",
    decideTime: new Date("2026-01-01T00:00:00Z"),
    verifierId: "verifier-1",
    testMode: false,
    ...overrides,
  };
}

/** Echo the caller's request id into the decision, as the real verifier does. */
export function decide(overrides: Partial<PbDecision> = {}) {
  return (request: VerifyRequest): Reply<VerifyResponse> => ({
    response: { decision: decision({ requestId: request.requestId, ...overrides }) },
  });
}

export function approval(state: ApprovalState, overrides: Partial<Approval> = {}): Approval {
  return {
    approvalId: "apr_1",
    tenantId: "ten_1",
    agentId: "agt_1",
    action: "purchase",
    resource: "coachella.com",
    amount: { amountMinor: "90000", currency: "USD" },
    permissionId: "perm_1",
    state,
    requestId: "req-1",
    resolvedBy: "",
    resolutionComment: "",
    resolvedByKeyId: "",
    ...overrides,
  };
}
