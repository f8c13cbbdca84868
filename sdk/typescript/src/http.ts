import { formatMajorUnits } from "./amount";
import {
  AuthenticationError,
  BehalfError,
  ConfigurationError,
  InvalidRequest,
  VerificationUnavailable,
} from "./errors";
import type { VerifyRequest } from "./gen/behalf/v1/verifier";
import type { Decision, Outcome, ReasonCode, Risk } from "./types";

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

/** A decision from the API's JSON (risk upper-cased to the SDK's spelling). */
export function decisionFromJson(json: JsonDecision): Decision {
  if (typeof json.outcome !== "string" || typeof json.reasonCode !== "string") {
    throw new VerificationUnavailable("the verifier answered without a decision");
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
    testMode: json.testMode === true,
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
  return new VerificationUnavailable(`verification unavailable (HTTP ${status}): ${message}`, base);
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
  const timeout = AbortSignal.timeout(deadlineMs);
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
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
    });
    body = await response.json().catch(() => null);
  } catch (error) {
    if (error instanceof BehalfError) {
      throw error;
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new VerificationUnavailable(`verification unavailable: ${message}`, {
      requestId,
      cause: error,
    });
  }
  if (response.status !== 200) {
    throw errorFromHttp(response.status, body, requestId);
  }
  return decisionFromJson((body ?? {}) as JsonDecision);
}
