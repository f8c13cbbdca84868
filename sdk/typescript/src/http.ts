import { formatMajorUnits } from "./amount";
import {
  AuthenticationError,
  BehalfError,
  ConfigurationError,
  InvalidRequest,
  VerificationUnavailable,
} from "./errors";
import type { VerifyRequest } from "./gen/behalf/v1/verifier";
import type { Approval, ApprovalState, Decision, Outcome, ReasonCode, Risk } from "./types";

/**
 * The verifier's HTTP/JSON API (`POST /v1/verify`, described by its `/openapi.json`), for
 * runtimes where gRPC is unwelcome. The request is the one `buildVerifyRequest` validated for
 * gRPC, in the API's camelCase; the amount travels as an exact major-unit decimal string, so no
 * precision is lost to JSON numbers.
 */

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** `baseUrl` checked: http(s) only, and https for every host but loopback (the key is a secret). */
export function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigurationError(`baseUrl is not a URL: ${baseUrl}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigurationError("baseUrl must be an http:// or https:// URL");
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname) || /^127(\.\d{1,3}){3}$/.test(url.hostname);
  if (url.protocol === "http:" && !loopback) {
    throw new ConfigurationError(
      "baseUrl must use https:// beyond loopback: the API key would cross the network in clear",
    );
  }
  if (!url.pathname.endsWith("/")) {
    url.pathname += "/";
  }
  return url;
}

/** The JSON body of `POST /v1/verify` for a validated request. */
export function httpVerifyBody(request: VerifyRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {
    agentId: request.agentId,
    action: request.action,
    requestId: request.requestId,
    testMode: request.testMode,
  };
  if (request.resource) {
    body.resource = request.resource;
  }
  if (request.amount !== undefined) {
    body.amount = formatMajorUnits(BigInt(request.amount.amountMinor), request.amount.currency);
    body.currency = request.amount.currency;
  }
  if (request.approvalId) {
    body.approvalId = request.approvalId;
  }
  const minRevision = BigInt(request.minRevision || "0");
  if (minRevision > 0n) {
    if (minRevision > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InvalidRequest("min_revision", "is beyond what JSON carries exactly");
    }
    body.minRevision = Number(minRevision);
  }
  if (Object.keys(request.context).length > 0) {
    body.context = request.context;
  }
  return body;
}

interface JsonDecision {
  requestId?: unknown;
  allowed?: unknown;
  outcome?: unknown;
  reasonCode?: unknown;
  reason?: unknown;
  risk?: unknown;
  permissionId?: unknown;
  policyRevision?: unknown;
  approvalId?: unknown;
  testMode?: unknown;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/**
 * A decision from the API's JSON (risk upper-cased to the SDK's spelling). `testMode` and
 * `allowed` must be there and agree with the outcome: a body that leaves them out, or that
 * says ALLOW while `allowed` is false, is not an answer to act on.
 */
export function decisionFromJson(json: JsonDecision): Decision {
  if (typeof json.outcome !== "string" || typeof json.reasonCode !== "string") {
    throw new VerificationUnavailable("the verifier answered without a decision");
  }
  if (
    typeof json.testMode !== "boolean" ||
    json.allowed !== (json.outcome === "ALLOW" && !json.testMode)
  ) {
    throw new VerificationUnavailable("the verifier's answer contradicts itself");
  }
  const revision = json.policyRevision;
  return {
    requestId: text(json.requestId),
    outcome: json.outcome as Outcome,
    reasonCode: json.reasonCode as ReasonCode,
    reason: text(json.reason),
    risk: text(json.risk).toUpperCase() as Risk,
    permissionId: text(json.permissionId),
    policyRevision: BigInt(typeof revision === "number" && Number.isInteger(revision) ? revision : 0),
    approvalId: text(json.approvalId),
    decideTime: undefined,
    verifierId: "",
    testMode: json.testMode,
  };
}

/** The SDK's error for an answer that is not a decision (a 4xx or 5xx with its JSON error). */
export function errorFromHttp(status: number, body: unknown, requestId: string): BehalfError {
  const error = (body as { error?: { field?: unknown; message?: unknown } } | null)?.error;
  const message = text(error?.message) || `HTTP ${status}`;
  const base = { requestId };
  if (status === 400) {
    const field = text(error?.field);
    const problem = field && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
    return new InvalidRequest(field, problem, base);
  }
  if (status === 401 || status === 403) {
    return new AuthenticationError(message, base);
  }
  // 503 and gateway errors are worth a retry when waiting for an approval, as gRPC's UNAVAILABLE.
  const grpcCode = status === 503 || status === 502 || status === 504 ? "UNAVAILABLE" : undefined;
  return new VerificationUnavailable(`verification unavailable (HTTP ${status}): ${message}`, {
    ...base,
    ...(grpcCode === undefined ? {} : { grpcCode }),
  });
}

/** A request that got no HTTP answer: unavailable (a timeout as gRPC's DEADLINE_EXCEEDED). */
function unreachable(error: unknown, requestId?: string): VerificationUnavailable {
  const message = error instanceof Error ? error.message : String(error);
  const timedOut = error instanceof Error && error.name === "TimeoutError";
  return new VerificationUnavailable(`verification unavailable: ${message}`, {
    ...(requestId === undefined ? {} : { requestId }),
    grpcCode: timedOut ? "DEADLINE_EXCEEDED" : "UNAVAILABLE",
    cause: error,
  });
}

function signalFor(deadlineMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(deadlineMs);
  return signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
}

function time(value: unknown): Date | undefined {
  return typeof value === "string" && value ? new Date(value) : undefined;
}

/** An approval from `GET /v1/approvals/{id}` (answers 404 and 400 as the gRPC client would). */
export async function httpGetApproval(
  baseUrl: URL,
  apiKey: string,
  approvalId: string,
  deadlineMs: number,
  signal?: AbortSignal,
): Promise<Approval> {
  let response: Response;
  let body: Record<string, unknown> | null;
  try {
    response = await fetch(new URL(`v1/approvals/${encodeURIComponent(approvalId)}`, baseUrl), {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: signalFor(deadlineMs, signal),
    });
    body = (await response.json().catch(() => null)) as Record<string, unknown> | null;
  } catch (error) {
    throw unreachable(error);
  }
  if (response.status !== 200 || body === null) {
    throw errorFromHttp(response.status, body, "");
  }
  const minor = body.amountMinor;
  return {
    approvalId: text(body.approvalId),
    agentId: text(body.agentId),
    action: text(body.action),
    resource: text(body.resource),
    amountMinor: typeof minor === "number" ? BigInt(minor) : undefined,
    currency: typeof body.currency === "string" ? body.currency : undefined,
    permissionId: text(body.permissionId),
    state: (text(body.state) || "UNRECOGNIZED") as ApprovalState,
    requestId: text(body.requestId),
    createTime: time(body.createTime),
    expireTime: time(body.expireTime),
    resolveTime: time(body.resolveTime),
    resolvedBy: "",
    resolutionComment: "",
    consumeTime: time(body.consumeTime),
  };
}

/** One `POST /v1/verify`: the decision whatever it says, or the error for no decision. */
export async function httpDecide(
  baseUrl: URL,
  apiKey: string,
  request: VerifyRequest,
  deadlineMs: number,
  signal?: AbortSignal,
): Promise<Decision> {
  const requestId = request.requestId;
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(new URL("v1/verify", baseUrl), {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/json",
        "x-request-id": requestId,
      },
      body: JSON.stringify(httpVerifyBody(request)),
      signal: signalFor(deadlineMs, signal),
    });
    body = await response.json().catch(() => null);
  } catch (error) {
    if (error instanceof BehalfError) {
      throw error;
    }
    throw unreachable(error, requestId);
  }
  if (response.status !== 200) {
    throw errorFromHttp(response.status, body, requestId);
  }
  return decisionFromJson((body ?? {}) as JsonDecision);
}
