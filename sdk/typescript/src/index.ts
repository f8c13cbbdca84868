/**
 * `@behalf/sdk`: ask Behalf before an AI agent acts. `verify` resolves only on ALLOW and throws
 * a typed error otherwise, so code after `await behalf.verify(...)` never runs on a deny. Test
 * runs use `check`, which resolves with a test-mode decision that authorizes nothing.
 */
export {
  Behalf,
  DEFAULT_CHANNEL_OPTIONS,
  DEFAULT_DEADLINE_MS,
  errorFromStatus,
  guard,
  guarded,
  isLoopbackTarget,
  type BehalfOptions,
  type CallOptions,
  type GuardedOptions,
  type Verifier,
} from "./client";
export {
  INT64_MAX,
  formatMajorUnits,
  minorUnitExponent,
  parseCurrency,
  parseMajorUnits,
  parseMinorUnits,
  type AmountInput,
} from "./amount";
export {
  ActionDenied,
  ApprovalRejected,
  ApprovalRequired,
  ArgumentRejected,
  AuthenticationError,
  BehalfError,
  ConfigurationError,
  DecisionError,
  InvalidRequest,
  TestModeDecision,
  VerificationUnavailable,
  type ApprovalWaiter,
  type WaitOptions,
} from "./errors";
export type {
  Approval,
  ApprovalState,
  CheckParams,
  Decision,
  Outcome,
  ReasonCode,
  Risk,
  VerifyParams,
} from "./types";
/** The generated contract (ts-proto), for callers that need the raw messages and clients. */
export * as v1 from "./v1";
