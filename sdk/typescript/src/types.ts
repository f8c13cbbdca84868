import {
  ApprovalState as PbApprovalState,
  type Approval as PbApproval,
} from "./gen/behalf/v1/resources";
import {
  Outcome as PbOutcome,
  ReasonCode as PbReasonCode,
  Risk as PbRisk,
  type Decision as PbDecision,
  type Money as PbMoney,
} from "./gen/behalf/v1/common";
import type { AmountInput } from "./amount";

type Strip<T, P extends string> = T extends `${P}${infer Rest}` ? Rest : never;

/** Stable machine reason of a decision, for example `"AMOUNT_EXCEEDS_LIMIT"`. */
export type ReasonCode = Strip<keyof typeof PbReasonCode, "REASON_CODE_"> | "UNRECOGNIZED";
/** What a Verify decided. Only `"ALLOW"` lets the agent act. */
export type Outcome = Strip<keyof typeof PbOutcome, "OUTCOME_"> | "UNRECOGNIZED";
/** Deterministic risk estimate: `"LOW"`, `"MEDIUM"`, `"HIGH"` (or `"UNSPECIFIED"`). */
export type Risk = Strip<keyof typeof PbRisk, "RISK_"> | "UNRECOGNIZED";
/** State of an approval. */
export type ApprovalState = Strip<keyof typeof PbApprovalState, "APPROVAL_STATE_"> | "UNRECOGNIZED";

/** What the agent intends to do; the argument of {@link Behalf.verify}. */
export interface VerifyParams {
  /** The acting agent's id, in the caller's tenant. */
  agentId: string;
  /** The action, lower_snake, for example `"purchase"`. */
  action: string;
  /** Host or vendor the action targets, for example `"coachella.com"`. */
  resource?: string;
  /** An alias of `resource`, as the product brief writes it (`vendor: "gmail.com"`). */
  vendor?: string;
  /**
   * The amount in major units, `799.99` or `"799.99"` (USD), converted exactly with the
   * currency's decimals; more decimals than the currency has is an error. Or use `amountMinor`.
   */
  amount?: number | string;
  /** Integer minor units (cents); a bigint, a safe integer or a digit string. Never a float. */
  amountMinor?: AmountInput;
  /** ISO-4217 code, required with `amount` or `amountMinor`, for example `"USD"`. */
  currency?: string;
  /** Free context recorded in the audit trail. */
  context?: Record<string, string>;
  /** The decision must reflect at least this policy revision (e.g. one a DisableAgent returned). */
  minRevision?: bigint | number | string;
  /** An approved approval for exactly this request; consumed by the allow. */
  approvalId?: string;
  /** Idempotency and correlation id (up to 128 characters); a UUID is generated when absent. */
  requestId?: string;
}

/**
 * What {@link Behalf.check} asks about: the same as {@link VerifyParams} without an approval (a
 * test never consumes one). `check` always asks in test mode.
 */
export type CheckParams = Omit<VerifyParams, "approvalId">;

/** The decision of one Verify, as audited. */
export interface Decision {
  requestId: string;
  outcome: Outcome;
  reasonCode: ReasonCode;
  reason: string;
  risk: Risk;
  /** The permission that matched (or came closest), `""` if none. */
  permissionId: string;
  /** The policy revision the verifier decided at. */
  policyRevision: bigint;
  /** Set on REQUIRE_APPROVAL (the new approval) or when an approval was consumed. */
  approvalId: string;
  decideTime: Date | undefined;
  verifierId: string;
  /**
   * A test-mode decision (from `check`): what the policy would decide, which authorizes
   * nothing. `verify` never resolves with one; it throws `TestModeDecision` instead.
   */
  testMode: boolean;
}

/** An approval, as returned by the registry's GetApproval. */
export interface Approval {
  approvalId: string;
  agentId: string;
  action: string;
  resource: string;
  /** Integer minor units, exact. */
  amountMinor: bigint | undefined;
  currency: string | undefined;
  permissionId: string;
  state: ApprovalState;
  requestId: string;
  createTime: Date | undefined;
  expireTime: Date | undefined;
  resolveTime: Date | undefined;
  resolvedBy: string;
  resolutionComment: string;
  consumeTime: Date | undefined;
}

function enumName(table: Record<number, string>, prefix: string, value: number): string {
  const name = table[value];
  return name === undefined || name === "UNRECOGNIZED" ? "UNRECOGNIZED" : name.slice(prefix.length);
}

export function outcomeName(value: PbOutcome): Outcome {
  return enumName(PbOutcome, "OUTCOME_", value) as Outcome;
}

export function reasonCodeName(value: PbReasonCode): ReasonCode {
  return enumName(PbReasonCode, "REASON_CODE_", value) as ReasonCode;
}

export function riskName(value: PbRisk): Risk {
  return enumName(PbRisk, "RISK_", value) as Risk;
}

export function approvalStateName(value: PbApprovalState): ApprovalState {
  return enumName(PbApprovalState, "APPROVAL_STATE_", value) as ApprovalState;
}

/** The int64 fields arrive as decimal strings (ts-proto `forceLong=string`); make them exact bigints. */
function int64(value: string): bigint {
  return BigInt(value || "0");
}

export function toDecision(pb: PbDecision): Decision {
  return {
    requestId: pb.requestId,
    outcome: outcomeName(pb.outcome),
    reasonCode: reasonCodeName(pb.reasonCode),
    reason: pb.reason,
    risk: riskName(pb.risk),
    permissionId: pb.permissionId,
    policyRevision: int64(pb.policyRevision),
    approvalId: pb.approvalId,
    decideTime: pb.decideTime,
    verifierId: pb.verifierId,
    testMode: pb.testMode,
  };
}

function money(pb: PbMoney | undefined): { amountMinor: bigint | undefined; currency: string | undefined } {
  return pb === undefined
    ? { amountMinor: undefined, currency: undefined }
    : { amountMinor: int64(pb.amountMinor), currency: pb.currency };
}

export function toApproval(pb: PbApproval): Approval {
  return {
    approvalId: pb.approvalId,
    agentId: pb.agentId,
    action: pb.action,
    resource: pb.resource,
    ...money(pb.amount),
    permissionId: pb.permissionId,
    state: approvalStateName(pb.state),
    requestId: pb.requestId,
    createTime: pb.createTime,
    expireTime: pb.expireTime,
    resolveTime: pb.resolveTime,
    resolvedBy: pb.resolvedBy,
    resolutionComment: pb.resolutionComment,
    consumeTime: pb.consumeTime,
  };
}
