import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import * as grpc from "@grpc/grpc-js";

import { parseCurrency, parseMajorUnits, parseMinorUnits } from "./amount";
import {
  ActionDenied,
  ApprovalRejected,
  ApprovalRequired,
  ArgumentRejected,
  AuthenticationError,
  BehalfError,
  ConfigurationError,
  InvalidRequest,
  TestModeDecision,
  VerificationUnavailable,
  type WaitOptions,
} from "./errors";
import { RegistryServiceClient, type GetApprovalResponse } from "./gen/behalf/v1/registry";
import {
  VerifierServiceClient,
  type VerifyRequest,
  type VerifyResponse,
} from "./gen/behalf/v1/verifier";
import { httpDecide, httpGetApproval, parseBaseUrl } from "./http";
import { fieldViolation } from "./status-details";
import {
  toApproval,
  toDecision,
  type Approval,
  type CheckParams,
  type Decision,
  type VerifyParams,
} from "./types";

/** Options of {@link Behalf}. */
export interface BehalfOptions {
  /** An API key with role `verify` (or `admin`); sent as `authorization: Bearer <key>`. */
  apiKey: string;
  /**
   * The verifier's gRPC address, for example `"127.0.0.1:50052"` or `"verifier.behalf:50052"`.
   * Give this or `baseUrl`.
   */
  target?: string;
  /**
   * The verifier's HTTP/JSON API instead of gRPC, for example `"https://verify.example.com"`
   * (`http://` only for loopback): `POST /v1/verify`, the same decisions and the same errors.
   */
  baseUrl?: string;
  /** The registry's address; needed only to wait for approvals (GetApproval). */
  registryTarget?: string;
  /** Deadline of every RPC, in milliseconds (default 5000). */
  deadlineMs?: number;
  /**
   * Channel credentials. Default: plaintext for loopback targets (localhost, 127.0.0.0/8, ::1,
   * unix sockets, e.g. a sidecar) and TLS with the system roots for every other target, so the
   * API key never crosses a network in clear text unless you ask for it with
   * `grpc.credentials.createInsecure()`.
   */
  credentials?: grpc.ChannelCredentials;
  /** Extra grpc-js channel options, merged over the SDK's keepalive defaults. */
  channelOptions?: grpc.ChannelOptions;
}

/** Per-call options. */
export interface CallOptions {
  /** Overrides the client's `deadlineMs` for this call. */
  deadlineMs?: number;
  /** Cancels the call; a cancelled call throws {@link VerificationUnavailable}. */
  signal?: AbortSignal;
}

/** Anything that can verify; {@link guard} accepts it (the {@link Behalf} client, or a fake). */
export interface Verifier {
  verify(params: VerifyParams, options?: CallOptions): Promise<Decision>;
}

export const DEFAULT_DEADLINE_MS = 5_000;
const DEFAULT_WAIT_MS = 5 * 60_000;
const DEFAULT_POLL_MS = 1_000;
const SDK_VERSION = "0.1.0";

/** Keepalive within what the Behalf services permit (pings at least 10 s apart). */
export const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.primary_user_agent": `behalf-sdk-typescript/${SDK_VERSION}`,
};

/** Codes worth polling through while waiting for an approval (the read is safe to repeat). */
const TRANSIENT = new Set(["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNKNOWN"]);

/** True for targets that stay on this machine: loopback hosts and unix sockets. */
export function isLoopbackTarget(target: string): boolean {
  if (target.startsWith("unix:")) {
    return true;
  }
  const rest = target.replace(/^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/, "");
  // Every address of a list: plaintext to one that is not loopback would send the key in clear.
  return rest.split(",").every(isLoopbackAddress);
}

function isLoopbackAddress(rest: string): boolean {
  let host: string;
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1] ?? "";
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    host = rest; // a bare IPv6 address
  } else {
    host = rest.replace(/:\d+$/, "");
  }
  host = host.toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

function positiveMs(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) {
    return fallback;
  }
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`${name} must be a positive number of milliseconds`);
  }
  return value;
}

function codeName(code: number): string {
  return grpc.status[code] ?? `CODE_${code}`;
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === "number";
}

/**
 * Maps a failed RPC to the SDK's error types. Everything that is not a credential problem or a
 * malformed request becomes {@link VerificationUnavailable}: no answer is never an allow.
 */
export function errorFromStatus(error: unknown, requestId?: string): BehalfError {
  if (error instanceof BehalfError) {
    return error;
  }
  if (!isServiceError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    return new VerificationUnavailable(`verification unavailable: ${message}`, {
      ...(requestId === undefined ? {} : { requestId }),
      cause: error,
    });
  }
  const grpcCode = codeName(error.code);
  const details = error.details || error.message;
  const base = { ...(requestId === undefined ? {} : { requestId }), grpcCode };
  switch (error.code) {
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return new AuthenticationError(details, base);
    case grpc.status.INVALID_ARGUMENT: {
      // The field comes from the status's google.rpc.BadRequest details, not from its text.
      const violation = fieldViolation(error.metadata);
      if (violation !== undefined) {
        return new InvalidRequest(violation.field, violation.description, base);
      }
      // A server that sends no details: "<field>: <problem>".
      const match = /^(\S+?): ([\s\S]*)$/.exec(details);
      return match
        ? new InvalidRequest(match[1] ?? "", match[2] ?? "", base)
        : new InvalidRequest("", details, base);
    }
    default:
      return new VerificationUnavailable(`verification unavailable (${grpcCode}): ${details}`, {
        ...base,
        cause: error,
      });
  }
}

function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidRequest(field, "must be a non-empty string");
  }
  return value;
}

/**
 * The action grammar, the same as the services' (behalf.common.actions): lower_snake words of
 * a-z and 0-9 starting with a letter, no double, leading or trailing underscore, 1..64
 * characters. tests/cases/grammar_cases.json proves the two agree.
 */
export const ACTION_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
export const MAX_ACTION_LENGTH = 64;

/** Whether `value` is an action name, exactly as given. */
export function isAction(value: string): boolean {
  return value.length <= MAX_ACTION_LENGTH && ACTION_PATTERN.test(value);
}

function parseAction(value: unknown): string {
  const action = nonEmpty(value, "action");
  if (!isAction(action)) {
    throw new InvalidRequest("action", "must be lower_snake_case, 1 to 64 characters");
  }
  return action;
}

/**
 * Builds the wire request; throws {@link InvalidRequest} before anything is sent. Test mode is
 * set only by `testMode` (that is, by `check`): params asking for it are refused, so `verify`
 * can never send a test-mode request.
 */
export function buildVerifyRequest(
  params: VerifyParams,
  requestId: string,
  testMode = false,
): VerifyRequest {
  if (typeof params !== "object" || params === null) {
    throw new InvalidRequest("params", "must be an object");
  }
  const asked = (params as { testMode?: unknown }).testMode;
  if (asked !== undefined && asked !== false) {
    throw new InvalidRequest("test_mode", "verify() never runs in test mode; use check()");
  }
  if (
    params.vendor !== undefined &&
    params.resource !== undefined &&
    params.vendor !== params.resource
  ) {
    throw new InvalidRequest("vendor", "is an alias of resource; pass one of them");
  }
  const request: VerifyRequest = {
    agentId: nonEmpty(params.agentId, "agent_id"),
    action: parseAction(params.action),
    resource: params.resource ?? params.vendor ?? "",
    // No prototype: a key the model wrote as "__proto__" is an entry like any other, not a
    // write to Object.prototype's setter that drops it.
    context: Object.create(null) as Record<string, string>,
    minRevision: "0",
    approvalId: testMode ? "" : (params.approvalId ?? ""),
    requestId,
    testMode,
  };
  if (params.approvalId !== undefined && typeof params.approvalId !== "string") {
    throw new InvalidRequest("approval_id", "must be a string");
  }
  if (typeof request.resource !== "string") {
    throw new InvalidRequest("resource", "must be a string");
  }
  if (params.amount !== undefined && params.amount !== null) {
    if (params.amountMinor !== undefined && params.amountMinor !== null) {
      throw new InvalidRequest("amount", "pass amount (major units) or amountMinor, not both");
    }
    if (params.currency === undefined) {
      throw new InvalidRequest("amount.currency", "is required with amount");
    }
    const currency = parseCurrency(params.currency, "amount.currency");
    const amountMinor = parseMajorUnits(params.amount, currency);
    request.amount = { amountMinor: amountMinor.toString(), currency };
  } else if (params.amountMinor !== undefined && params.amountMinor !== null) {
    const amountMinor = parseMinorUnits(params.amountMinor, "amount.amount_minor");
    if (params.currency === undefined) {
      throw new InvalidRequest("amount.currency", "is required with amountMinor");
    }
    request.amount = { amountMinor: amountMinor.toString(), currency: parseCurrency(params.currency, "amount.currency") };
  } else if (params.currency !== undefined) {
    throw new InvalidRequest("amount.amount_minor", "is required with currency");
  }
  if (params.minRevision !== undefined) {
    request.minRevision = parseMinorUnits(params.minRevision, "min_revision").toString();
  }
  if (params.context !== undefined) {
    for (const [key, value] of Object.entries(params.context)) {
      if (typeof value !== "string") {
        throw new InvalidRequest(`context[${key}]`, "must be a string");
      }
      request.context[key] = value;
    }
  }
  return request;
}

/**
 * The Behalf client. One instance holds one long-lived channel (with keepalive) to the
 * verifier, and lazily one to the registry; share it, and `close()` it on shutdown.
 *
 * ```ts
 * const behalf = new Behalf({ apiKey, target: "127.0.0.1:50052" });
 * await behalf.verify({ agentId, action: "purchase", resource: "coachella.com",
 *                       amountMinor: 79_999n, currency: "USD" }); // throws unless ALLOW
 * // or over HTTP/JSON, as the product brief writes it:
 * const overHttp = new Behalf({ apiKey, baseUrl: "https://verify.example.com" });
 * await overHttp.verify({ agentId, action: "purchase", vendor: "coachella.com",
 *                         amount: 799.99, currency: "USD" });
 * ```
 */
export class Behalf implements Verifier {
  readonly target: string | undefined;
  readonly baseUrl: string | undefined;
  readonly registryTarget: string | undefined;
  readonly deadlineMs: number;
  readonly #apiKey: string;
  readonly #http: URL | undefined;
  readonly #metadata: grpc.Metadata;
  readonly #verifier: InstanceType<typeof VerifierServiceClient> | undefined;
  readonly #credentials: (target: string) => grpc.ChannelCredentials;
  readonly #channelOptions: grpc.ChannelOptions;
  #registry: InstanceType<typeof RegistryServiceClient> | undefined;
  #closed = false;

  constructor(options: BehalfOptions) {
    if (typeof options?.apiKey !== "string" || options.apiKey.length === 0) {
      throw new ConfigurationError("apiKey is required");
    }
    const hasTarget = typeof options.target === "string" && options.target.length > 0;
    const hasBaseUrl = typeof options.baseUrl === "string" && options.baseUrl.length > 0;
    if (hasTarget === hasBaseUrl) {
      throw new ConfigurationError("give target (gRPC) or baseUrl (HTTP/JSON), exactly one");
    }
    this.target = hasTarget ? options.target : undefined;
    this.baseUrl = hasBaseUrl ? options.baseUrl : undefined;
    this.#apiKey = options.apiKey;
    this.#http = hasBaseUrl ? parseBaseUrl(options.baseUrl as string) : undefined;
    this.registryTarget = options.registryTarget;
    this.deadlineMs = positiveMs(options.deadlineMs, DEFAULT_DEADLINE_MS, "deadlineMs");
    this.#metadata = new grpc.Metadata();
    this.#metadata.set("authorization", `Bearer ${options.apiKey}`);
    const explicit = options.credentials;
    this.#credentials = (target) =>
      explicit ??
      (isLoopbackTarget(target) ? grpc.credentials.createInsecure() : grpc.credentials.createSsl());
    this.#channelOptions = { ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions };
    this.#verifier =
      this.target === undefined
        ? undefined
        : new VerifierServiceClient(this.target, this.#credentials(this.target), this.#channelOptions);
  }

  /**
   * Asks whether the agent may act. Resolves with the decision on ALLOW only; otherwise throws
   * {@link ActionDenied} ({@link TestModeDecision} for a test-mode decision, even an ALLOW),
   * {@link ApprovalRequired}, {@link VerificationUnavailable}, {@link InvalidRequest} or
   * {@link AuthenticationError}. Never retried by the SDK (a Verify may reserve budget); pass
   * your own `requestId` to correlate a retry you make. Test runs use {@link Behalf.check}.
   */
  async verify(params: VerifyParams, options: CallOptions = {}): Promise<Decision> {
    const requestId = params?.requestId || randomUUID();
    const request = buildVerifyRequest(params, requestId);
    const decision = await this.#decide(request, options);
    if (decision.testMode) {
      throw new TestModeDecision(decision);
    }
    if (decision.outcome === "ALLOW") {
      return decision;
    }
    if (decision.outcome === "REQUIRE_APPROVAL") {
      throw new ApprovalRequired(
        decision,
        this.registryTarget === undefined && this.#http === undefined
          ? undefined
          : (approvalId, waitOptions) => this.waitForApproval(approvalId, waitOptions),
      );
    }
    throw new ActionDenied(decision); // DENY, and any outcome this SDK does not know
  }

  /**
   * Would `verify(params)` be allowed? A test-mode Verify: decided and audited as a test, with
   * budgets read but not spent and no approval created or consumed. Resolves with the decision
   * (`testMode: true`) whatever its outcome, for test links and consoles; it authorizes nothing,
   * so never act on it. Throws only when no test-mode answer arrives
   * ({@link VerificationUnavailable}), or for a bad request or a refused key.
   */
  async check(params: CheckParams, options: CallOptions = {}): Promise<Decision> {
    const requestId = params?.requestId || randomUUID();
    const request = buildVerifyRequest(params, requestId, true);
    const decision = await this.#decide(request, options);
    if (!decision.testMode) {
      throw new VerificationUnavailable("the verifier did not answer in test mode", { requestId });
    }
    return decision;
  }

  /** Runs `fn` only if `params` is allowed; see {@link guard}. */
  guard<T>(params: VerifyParams, fn: (decision: Decision) => T | Promise<T>): Promise<T> {
    return guard(this, params, fn);
  }

  /**
   * Reads one approval: from the registry over gRPC (`registryTarget`), or, for a client made
   * with `baseUrl` and no `registryTarget`, from the verifier's `GET /v1/approvals/{id}`.
   */
  async getApproval(approvalId: string, options: CallOptions = {}): Promise<Approval> {
    if (this.#http !== undefined && this.registryTarget === undefined) {
      if (this.#closed) {
        throw new VerificationUnavailable("the client is closed");
      }
      const deadlineMs = positiveMs(options.deadlineMs, this.deadlineMs, "deadlineMs");
      return httpGetApproval(this.#http, this.#apiKey, approvalId, deadlineMs, options.signal);
    }
    const registry = this.#registryClient();
    let response: GetApprovalResponse;
    try {
      response = await this.#unary<GetApprovalResponse>(
        (metadata, callOptions, callback) =>
          registry.getApproval({ approvalId }, metadata, callOptions, callback),
        options,
      );
    } catch (error) {
      throw errorFromStatus(error);
    }
    if (response.approval === undefined) {
      throw new VerificationUnavailable("the registry answered without an approval");
    }
    return toApproval(response.approval);
  }

  /**
   * Polls GetApproval until the approval leaves PENDING. Resolves with it when APPROVED; throws
   * {@link ApprovalRejected} when DENIED, EXPIRED or CONSUMED, and {@link VerificationUnavailable}
   * if it is still pending (or the registry unreachable) when `deadlineMs` passes.
   */
  async waitForApproval(approvalId: string, options: WaitOptions = {}): Promise<Approval> {
    const waitMs = positiveMs(options.deadlineMs, DEFAULT_WAIT_MS, "deadlineMs");
    const pollMs = positiveMs(options.pollIntervalMs, DEFAULT_POLL_MS, "pollIntervalMs");
    const until = Date.now() + waitMs;
    let last: unknown;
    for (;;) {
      const remaining = until - Date.now();
      if (remaining <= 0) {
        break;
      }
      try {
        const approval = await this.getApproval(approvalId, {
          deadlineMs: Math.min(remaining, this.deadlineMs),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (approval.state === "APPROVED") {
          return approval;
        }
        if (approval.state !== "PENDING") {
          throw new ApprovalRejected(approval);
        }
        last = undefined;
      } catch (error) {
        const transient =
          error instanceof VerificationUnavailable &&
          TRANSIENT.has(error.grpcCode ?? "") &&
          !options.signal?.aborted;
        if (!transient) {
          throw error;
        }
        last = error;
      }
      const pause = Math.min(pollMs, until - Date.now());
      if (pause > 0) {
        try {
          await sleep(pause, undefined, options.signal ? { signal: options.signal } : undefined);
        } catch (error) {
          throw new VerificationUnavailable("waiting for the approval was aborted", {
            grpcCode: "CANCELLED",
            cause: error,
          });
        }
      }
    }
    throw new VerificationUnavailable(
      `approval ${approvalId} not approved within ${waitMs} ms` +
        (last instanceof Error ? ` (last error: ${last.message})` : ""),
      { grpcCode: "DEADLINE_EXCEEDED", ...(last === undefined ? {} : { cause: last }) },
    );
  }

  /** Closes the channels. Calls made afterwards throw {@link VerificationUnavailable}. */
  close(): void {
    this.#closed = true;
    this.#verifier?.close();
    this.#registry?.close();
  }

  /**
   * One Verify; the decision whatever it says, if it answers this request (a misrouted, cached
   * or replayed answer to another request id authorizes nothing), or the error for none.
   */
  async #decide(request: VerifyRequest, options: CallOptions): Promise<Decision> {
    const decision = await this.#ask(request, options);
    if (decision.requestId !== request.requestId) {
      throw new VerificationUnavailable("the verifier answered another request than the one asked", {
        requestId: request.requestId,
      });
    }
    return decision;
  }

  async #ask(request: VerifyRequest, options: CallOptions): Promise<Decision> {
    const requestId = request.requestId;
    if (this.#http !== undefined) {
      if (this.#closed) {
        throw new VerificationUnavailable("the client is closed", { requestId });
      }
      const deadlineMs = positiveMs(options.deadlineMs, this.deadlineMs, "deadlineMs");
      return httpDecide(this.#http, this.#apiKey, request, deadlineMs, options.signal);
    }
    const verifier = this.#verifier as InstanceType<typeof VerifierServiceClient>;
    let response: VerifyResponse;
    try {
      response = await this.#unary<VerifyResponse>(
        (metadata, callOptions, callback) =>
          verifier.verify(request, metadata, callOptions, callback),
        options,
      );
    } catch (error) {
      throw errorFromStatus(error, requestId);
    }
    if (response.decision === undefined) {
      throw new VerificationUnavailable("the verifier answered without a decision", { requestId });
    }
    return toDecision(response.decision);
  }

  #registryClient(): InstanceType<typeof RegistryServiceClient> {
    if (this.registryTarget === undefined) {
      throw new ConfigurationError("approvals need a client created with registryTarget");
    }
    if (this.#closed) {
      throw new VerificationUnavailable("the client is closed");
    }
    this.#registry ??= new RegistryServiceClient(
      this.registryTarget,
      this.#credentials(this.registryTarget),
      this.#channelOptions,
    );
    return this.#registry;
  }

  #unary<Res>(
    start: (
      metadata: grpc.Metadata,
      options: Partial<grpc.CallOptions>,
      callback: (error: grpc.ServiceError | null, response: Res) => void,
    ) => grpc.ClientUnaryCall,
    options: CallOptions,
  ): Promise<Res> {
    if (this.#closed) {
      return Promise.reject(new VerificationUnavailable("the client is closed"));
    }
    const deadlineMs = positiveMs(options.deadlineMs, this.deadlineMs, "deadlineMs");
    const signal = options.signal;
    if (signal?.aborted) {
      return Promise.reject(new VerificationUnavailable("the call was aborted", { grpcCode: "CANCELLED" }));
    }
    return new Promise<Res>((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = start(
        this.#metadata.clone(),
        { deadline: Date.now() + deadlineMs },
        (error, response) => {
          signal?.removeEventListener("abort", onAbort);
          if (error) {
            reject(error);
          } else {
            resolve(response);
          }
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * Runs `fn` only after `behalf.verify(params)` resolved, i.e. only on an explicit ALLOW that is
 * not a test and answers the request the guard sent, and returns its result. On any other
 * outcome the error propagates and `fn` never runs.
 *
 * Every call sends a fresh request id: `params.requestId` is refused ({@link InvalidRequest} on
 * `request_id`), since an id derived from the agent's arguments, or a fixed one, would let
 * identical calls share one decision and one budget reservation. Put correlation ids in
 * `context`. (`verify` and `check` still take a `requestId`, for a caller retrying one call.)
 *
 * ```ts
 * await guard(behalf, { agentId, action: "purchase", resource: "coachella.com",
 *                       amountMinor: order.totalMinor, currency: "USD" },
 *             () => charge(order));
 * ```
 */
export async function guard<T>(
  behalf: Verifier,
  params: VerifyParams,
  fn: (decision: Decision) => T | Promise<T>,
): Promise<T> {
  if (params?.requestId !== undefined) {
    throw new InvalidRequest(
      "request_id",
      "a guard sends a fresh request id with every call; put correlation ids in context",
    );
  }
  const requestId = randomUUID();
  const decision = await behalf.verify({ ...params, requestId });
  // The Behalf client throws on all of these first; a defence against a lax Verifier.
  if (decision?.testMode === true) {
    throw new TestModeDecision(decision);
  }
  if (decision?.outcome !== "ALLOW") {
    throw new VerificationUnavailable("verify resolved without an ALLOW decision");
  }
  if (decision.requestId !== requestId) {
    throw new VerificationUnavailable("the verifier answered another request than the one asked", {
      requestId,
    });
  }
  return await fn(decision);
}

/**
 * What {@link guarded} knows of the tool call's arguments, named as the MCP gateway's mapping
 * names them.
 */
export interface GuardedOptions {
  /**
   * The arguments `params` reads to build the question (resource, amount, currency, ...): the
   * ones Verify checks. Name only what `params` really maps.
   */
  checkedArguments: readonly string[];
  /** Arguments passed to `fn` without any check (a note, a subject); nothing else is. */
  uncheckedArguments?: readonly string[];
  /**
   * A count argument (a non-negative integer, e.g. a quantity) that multiplies the amount
   * `params` gives, so Verify is asked about the whole charge. Checked.
   */
  times?: string;
}

/**
 * Wraps a tool function so that every call first verifies the parameters derived from its
 * arguments; the function never runs unless allowed.
 *
 * The first argument is the tool call's arguments, an object (what the model sent). A call
 * carrying an argument that is neither in `options.checkedArguments` (nor `times`) nor in
 * `options.uncheckedArguments` is refused with {@link ArgumentRejected} before any Verify, as
 * the MCP gateway refuses it: the agent must not change what the call does (a quantity, a
 * currency, a recipient) beside what Verify was asked about. Further arguments (a framework's
 * run context) go to `fn` unchecked, so never let the model's input reach `fn` through them.
 *
 * ```ts
 * const buy = guarded(behalf,
 *   (args: { vendor: string; price: string; quantity: number }) => ({ agentId,
 *     action: "purchase", resource: args.vendor, amount: args.price, currency: "USD" }),
 *   async (args) => charge(args),
 *   { checkedArguments: ["vendor", "price"], times: "quantity" });
 * ```
 */
export function guarded<A extends [object, ...unknown[]], T>(
  behalf: Verifier,
  params: (...args: A) => VerifyParams,
  fn: (...args: A) => T | Promise<T>,
  options: GuardedOptions,
): (...args: A) => Promise<T> {
  const allowed = allowedArguments(options);
  const times = options.times;
  return async (...args: A) => {
    const [call] = args;
    if (typeof call !== "object" || call === null || Array.isArray(call)) {
      throw new ArgumentRejected("arguments", "must be an object of named arguments");
    }
    for (const name of Reflect.ownKeys(call)) {
      if (typeof name !== "string" || !allowed.has(name)) {
        throw new ArgumentRejected(String(name), "is not one this guard checks or lets through");
      }
    }
    const question = params(...args);
    const asked = times === undefined ? question : multiplied(question, call, times);
    return guard(behalf, asked, () => fn(...args));
  };
}

function allowedArguments(options: GuardedOptions): ReadonlySet<string> {
  const names = (value: unknown, what: string): string[] => {
    if (!Array.isArray(value) || !value.every((name) => typeof name === "string")) {
      throw new ConfigurationError(`guarded needs ${what} as an array of argument names`);
    }
    return value;
  };
  if (options?.times !== undefined && typeof options.times !== "string") {
    throw new ConfigurationError("guarded's times must name the count argument");
  }
  return new Set([
    ...names(options?.checkedArguments, "options.checkedArguments"),
    ...names(options.uncheckedArguments ?? [], "options.uncheckedArguments"),
    ...(options.times === undefined ? [] : [options.times]),
  ]);
}

/** `params` asked about `count` times its amount, in exact minor units. */
function multiplied(params: VerifyParams, call: object, name: string): VerifyParams {
  const count: unknown = (call as Record<string, unknown>)[name];
  if (!(typeof count === "number" && Number.isSafeInteger(count) && count >= 0)) {
    throw new ArgumentRejected(name, "must be a non-negative integer count");
  }
  const each = buildVerifyRequest(params, "").amount;
  if (each === undefined) {
    throw new ArgumentRejected(name, "counts an amount, and the call has none");
  }
  const { amount: _major, ...rest } = params;
  return { ...rest, amountMinor: BigInt(each.amountMinor) * BigInt(count) };
}
