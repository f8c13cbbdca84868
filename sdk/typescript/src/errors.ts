import type { Approval, Decision, ReasonCode, Risk } from "./types";

/**
 * Base of everything the SDK throws. `verify` resolves only on an explicit ALLOW; every other
 * outcome, and every failure to get an answer, is one of these subclasses, so an agent that
 * awaits `verify` before acting never acts on a deny ("fail closed").
 */
export class BehalfError extends Error {
  /** The request id sent with the Verify (generated when the caller gave none), if any. */
  readonly requestId: string | undefined;
  /** The gRPC status code name (for example `"UNAVAILABLE"`), when the error came from one. */
  readonly grpcCode: string | undefined;

  constructor(message: string, options: { requestId?: string; grpcCode?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.requestId = options.requestId;
    this.grpcCode = options.grpcCode;
  }
}

/** Base of the errors that carry a decision the verifier made (and audited). */
export class DecisionError extends BehalfError {
  readonly decision: Decision;

  constructor(message: string, decision: Decision) {
    super(message, { requestId: decision.requestId });
    this.decision = decision;
  }

  /** Stable machine reason, for example `"AMOUNT_EXCEEDS_LIMIT"`. */
  get reasonCode(): ReasonCode {
    return this.decision.reasonCode;
  }

  /** Human reason; never reveals another tenant's ids. */
  get reason(): string {
    return this.decision.reason;
  }

  get risk(): Risk {
    return this.decision.risk;
  }
}

/** The verifier decided DENY (or an outcome this SDK does not know, which it treats as DENY). */
export class ActionDenied extends DecisionError {
  constructor(decision: Decision, message?: string) {
    super(message ?? `action denied: ${decision.reasonCode}: ${decision.reason}`, decision);
  }
}

/**
 * `verify` got a test-mode decision, whatever its outcome (even `ALLOW`): test mode authorizes
 * nothing, so the agent must not act. A subclass of {@link ActionDenied}, so existing
 * `instanceof ActionDenied` handling still fails closed. To ask "would this be allowed?" use
 * `behalf.check()`, which resolves with the test-mode decision instead.
 */
export class TestModeDecision extends ActionDenied {
  constructor(decision: Decision) {
    super(
      decision,
      `test-mode decision (${decision.outcome} ${decision.reasonCode}) authorizes nothing; use check() for test runs`,
    );
  }
}

/** Options of {@link ApprovalRequired.waitForApproval} and {@link Behalf.waitForApproval}. */
export interface WaitOptions {
  /** Give up after this long (default 5 minutes). */
  deadlineMs?: number;
  /** Time between GetApproval polls (default 1000 ms). */
  pollIntervalMs?: number;
  /** Abort the wait early. */
  signal?: AbortSignal;
}

/** How an {@link ApprovalRequired} waits; bound by the client that raised it. */
export type ApprovalWaiter = (approvalId: string, options?: WaitOptions) => Promise<Approval>;

/**
 * A human must approve first. `approvalId` names the new approval; `waitForApproval` polls the
 * registry until a human resolves it. Once approved, verify again with `approvalId` to get the
 * (single-use) ALLOW.
 */
export class ApprovalRequired extends DecisionError {
  readonly approvalId: string;
  readonly #waiter: ApprovalWaiter | undefined;

  constructor(decision: Decision, waiter?: ApprovalWaiter) {
    super(`approval required (${decision.approvalId}): ${decision.reason}`, decision);
    this.approvalId = decision.approvalId;
    this.#waiter = waiter;
  }

  /**
   * Resolves with the approval once it is APPROVED; throws {@link ApprovalRejected} when it is
   * denied, expired or already used, and {@link VerificationUnavailable} when the deadline passes
   * or the registry cannot be reached. Needs `registryTarget` in the client options.
   */
  waitForApproval(options?: WaitOptions): Promise<Approval> {
    if (this.#waiter === undefined) {
      return Promise.reject(
        new ConfigurationError("waitForApproval needs a client created with registryTarget"),
      );
    }
    return this.#waiter(this.approvalId, options);
  }
}

/** The approval was resolved, but not in a way that allows the action. */
export class ApprovalRejected extends BehalfError {
  readonly approval: Approval;

  constructor(approval: Approval) {
    super(`approval ${approval.approvalId} is ${approval.state}`, { requestId: approval.requestId });
    this.approval = approval;
  }
}

/**
 * No decision could be obtained: deadline exceeded, transport failure, `UNAVAILABLE`, an
 * internal error, or a reply without a decision. The action must not run (fail closed).
 */
export class VerificationUnavailable extends BehalfError {}

/**
 * The request is malformed. `field` is the contract's field path at fault, the same whether the
 * SDK caught it before sending or the server answered `INVALID_ARGUMENT` (read from the status's
 * `google.rpc.BadRequest` details, never from its message text): `agent_id`, `action`,
 * `resource`, `amount.amount_minor`, `amount.currency`, `min_revision`, `approval_id`,
 * `request_id`, `context[<key>]`, and `test_mode` (asked of `verify`, which never runs in test mode).
 */
export class InvalidRequest extends BehalfError {
  readonly field: string;

  constructor(field: string, problem: string, options: { requestId?: string; grpcCode?: string } = {}) {
    super(`${field}: ${problem}`, options);
    this.field = field;
  }
}

/**
 * A {@link guarded} function's call carried an argument it cannot let through: one its mapping
 * neither checks nor lists as unchecked, or a count that is not a non-negative integer. Thrown
 * before any Verify; `argument` (also `field`) names it. The MCP gateway refuses the same calls
 * with `ARGUMENT_REJECTED`.
 */
export class ArgumentRejected extends InvalidRequest {
  readonly argument: string;

  constructor(argument: string, problem: string) {
    super(argument, problem);
    this.argument = argument;
  }
}

/**
 * The API key is missing, unknown or revoked (`grpcCode` `"UNAUTHENTICATED"`), or its role may
 * not call this RPC (`"PERMISSION_DENIED"`).
 */
export class AuthenticationError extends BehalfError {}

/** The client is misconfigured (for example waiting for an approval without a registry target). */
export class ConfigurationError extends BehalfError {}
